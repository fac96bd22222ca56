"""Log lines: what one line of a daemon log says once its wrapping is taken off.

Role: the one place a log line is read. A line may come as logrus text, TTY (`FATA[0000] …`), with a
syslog/journald prefix (`Jun  2 19:33:36 host dockerd[1234]: `), from `journalctl -o json` (a record whose
MESSAGE is the text, or a byte array when it is not UTF-8) or from `--log-format=json` (`{"level":…,"msg":…}`).
`parse`/`parse_lines` make `Line`s for the log diagnosis (the message, its number, the program that printed
it); `strip_prefix` and `strip_syslog` take the prefix off for the crash attribution and the goroutine-dump
reader, which read a stack frame by frame.
Must not: read files or talk to a host. Every line is cut before a regex runs on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_LINE = 16 << 10  # catalogue lines are a few hundred characters; the rest of a giant line is noise
UNESCAPE = re.compile(r'\\(["\\])')
# The prefixes a log line can carry: the program that printed it (journald/syslog `proc[pid]: `, the kernel's
# `kernel: `, Docker Desktop's `[time][proc][L] `) ...
PROC = re.compile(r"(?:^|\s)(?:([A-Za-z][\w.@-]{0,40})\[\d+\]|(kernel)):\s|\]\[([\w.-]{1,40})\]\[[A-Z]\] ")
# ... and the whole prefix up to the message: anything up to `proc[pid]:` in a line's first 120 characters, a
# syslog or ISO timestamp with host and program (`Jun  2 19:33:36 host dockerd[1234]: `,
# `2021-03-01 12:55:03+0800 host dockerd: `), or Docker Desktop's `[time][proc][L]`
PREFIX = re.compile(r"^(?:.{0,120}?\s[\w.@-]+\[\d+\]:|(?:[A-Z][a-z]{2} +\d+ [\d:]+|\d{4}-\d\d-\d\dT\S+) \S+ [\w.@/-]+:|"
                    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[\d.,]*(?:Z|[+-]\d\d:?\d\d)? (?:\S+ )?[\w.@/-]+:|"
                    r"\[[\d:TZ.-]{8,40}\]\[[\w.-]{1,40}\]\[[A-Z]\])\s?")


@dataclass(frozen=True)
class Line:
    no: int
    text: str
    proc: str | None = None  # the program that printed it, from a journald/syslog prefix (dockerd, containerd, kernel…)


def decoded(msg: object) -> str | None:
    """A journald MESSAGE as text: a string, or the byte array journald writes for a non-UTF-8 message."""
    if isinstance(msg, str):
        return msg
    if isinstance(msg, list):
        return bytes(b for b in msg if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    return None


def record_message(raw: str) -> str | None:
    """The MESSAGE of a `journalctl -o json` record, or None if the line is not one (or its MESSAGE is no text)."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # garbage, or nested past the parser's depth: not a journal record
        return None
    return decoded(obj.get("MESSAGE")) if isinstance(obj, dict) else None


def unwrap_json(raw: str) -> str | None:
    """The text a JSON line carries: a journald record's MESSAGE, or a `--log-format=json` line in logrus text
    form (`level=fatal msg="…" key=value`); None when the line is neither."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and "MESSAGE" not in obj and isinstance(obj.get("msg"), str):
        fields = " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) or ' ' in v else v}"
                          for k, v in obj.items() if k not in ("level", "msg", "time") and isinstance(v, str | int | float))
        return f'level={obj.get("level", "info")} msg={json.dumps(obj["msg"])} {fields}'.rstrip()
    if not isinstance(obj, dict) or "MESSAGE" not in obj:
        return None
    msg = obj["MESSAGE"]
    text = decoded(msg)
    return str(msg) if text is None else text


def _unescaped(m: re.Match[str]) -> str:
    return m.group(1)


def parse(text: str) -> list[Line]:
    """One Line per non-empty input line; `journalctl -o json` records become their MESSAGE.
    logrus quotes messages (`msg="dial \\"/x\\""`): the escapes are undone so one regex fits all forms."""
    return parse_lines(text.splitlines())


def parse_lines(raws: list[str], first_no: int = 1) -> list[Line]:
    """parse() for lines already split, numbered from first_no (the live monitor numbers across rounds).
    One loop with no call per line on the common path: it reads every line of a log of any size."""
    out = []
    for i, raw in enumerate(raws, first_no):
        text = raw[:4 * MAX_LINE].rstrip()  # cut first: a hostile 50 MB line costs no more than a long one
        if not text:
            continue
        if text.lstrip().startswith("{"):
            msg = unwrap_json(text)
            text = text if msg is None else msg.rstrip()
        if "\\" in text:  # logrus escapes: \" and \\ (a plain replace when there is no \\, the common case)
            text = UNESCAPE.sub(_unescaped, text) if "\\\\" in text else text.replace('\\"', '"')
        text = text[:MAX_LINE]  # a hostile giant line must not stall the regexes
        if "**" in text:  # pasted into a thread with markdown emphasis (`**Data Space Available: 0B**`): the words
            text = text.replace("**", "")
        head = text[:160]  # the program's prefix is at the start
        m = PROC.search(head) if ("[" in head or "kernel:" in head) else None
        out.append(Line(i, text, (m.group(1) or m.group(2) or m.group(3)).lower() if m else None))
    return out


def strip_prefix(raw: str) -> str:
    """A line without its journald/syslog (or Docker Desktop) prefix: the crash attribution reads frames so."""
    return PREFIX.sub("", raw, count=1)

"""Goroutine dumps, read: each goroutine of a Go goroutine dump with its state, minutes and frames.

Role: the reader half of detect/dumps. A dump comes as dockerd writes it on SIGUSR1 (`goroutine-stacks-<ts>.log`,
or its log between `=== BEGIN goroutine stack dump ===` and `=== END goroutine stack dump ===`: plain,
journald/syslog-prefixed, `journalctl -o json`, or one logrus `msg="..."` with `\\n` escapes that journald may
have cut into pieces), containerd's `containerd.<pid>.stacks.log`, or a Go panic / fatal error trace. A line's
prefix and JSON record are taken off by detect/loglines; the escaped message is rejoined here.
Must not: read files or talk to a host; raise on garbage. Work is linear in the input and what is kept
is capped (goroutines, frames per goroutine, characters per line and per function name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from remediator.detect import loglines

MAX_GOROUTINES = 100_000
MAX_FRAMES = 64
MAX_LINE = 4096  # a header or frame line is far shorter; the rest of a giant line is noise
MAX_NAME = 512

_MSG = re.compile(r'(?:^|\s)msg="')
_ESC = "\\n"  # a newline escaped inside a logrus message
_DUMPISH = re.compile(r"\\n\s*(?:goroutine \d|created by |\\t)|\.go:\d+ \+0x")
_UNQUOTED = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*')
_HEADER = re.compile(r"goroutine (\d+)(?: [gm]p?=\S+)* \[([^\]]*)\]:?")
_PANIC = re.compile(r"(?:panic: |fatal error: |http: panic serving \S*: )(.*)")
_MINUTES = re.compile(r"(\d+) minutes?")
_OFFSET = re.compile(r"\+0x[0-9a-f]+")
_NAME = re.compile(r"[^\s\"'=]+")


@dataclass(frozen=True)
class Goroutine:
    id: int
    state: str  # `semacquire`, `chan receive`, `sync.Mutex.Lock`, `running` (no minutes, no `locked to thread`)
    minutes: int  # how long it has been blocked; Go prints it from 1 minute on, else 0
    frames: tuple[str, ...]  # function names, innermost first, vendor and GOPATH prefixes and arguments stripped
    created_by: str | None = None
    panic: str | None = None  # the `panic:` / `fatal error:` message printed just before this goroutine



# --- lines ---------------------------------------------------------------------------------------

def _clean(raw: str) -> str:
    """One raw log line without its journald/syslog prefix (and out of its `journalctl -o json` record)."""
    text = raw.rstrip("\r\n")
    first = text[:1]
    if first in "\t " or first.islower():  # the hot path: a frame or file line as Go wrote it
        return text
    if first == "{" and '"MESSAGE"' in text:
        msg = loglines.record_message(text)
        text = text if msg is None else msg
    if text[:1].isupper() or text[:1].isdigit():  # where a syslog or ISO timestamp can begin
        text = loglines.strip_syslog(text)
    if text[:1] in ("\0", "^", "#"):
        text = text.lstrip("\0").removeprefix("^@")
        if text.startswith("#011"):  # rsyslog writes a tab as #011
            text = "\t" + text[4:]
    return text


def _unescape(s: str) -> str:
    return s.replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")


def _logical(raws: Iterable[str]) -> Iterator[str]:
    """The dump's own lines: prefixes stripped, logrus messages unescaped and their journald pieces rejoined."""
    pending: str | None = None  # the unfinished last line of an escaped message still open
    for raw in raws:
        text = _clean(raw)
        if pending is None and _ESC not in text:  # the common case: a plain line
            yield text
            continue
        msg = _MSG.search(text, 0, 256)
        if msg and _ESC in text:  # a message carrying a multi-line text: the dump itself
            if pending is not None:
                yield _unescape(pending)
            body, pending = text[msg.end():], ""
        elif pending is not None and not msg and (_ESC in text or '"' in text):
            body = text  # journald cut the message: this is its next piece
        elif not msg and _ESC in text and _DUMPISH.search(text, 0, MAX_LINE):
            if pending is not None:
                yield _unescape(pending)
            body, pending = text, ""  # a piece of a message whose beginning is not in the input
        else:
            if pending is not None:
                yield _unescape(pending)
                pending = None
            yield text
            continue
        end = m.end() if (m := _UNQUOTED.match(body)) else 0
        closed = end < len(body) and body[end] == '"'
        parts = (pending + (body[:end] if closed else body)).split(_ESC)
        yield from (_unescape(p) for p in parts[:-1])
        pending = parts[-1][:MAX_LINE]
        if closed:
            yield _unescape(pending)
            pending = None
    if pending is not None:
        yield _unescape(pending)


# --- frames --------------------------------------------------------------------------------------

def package(frame: str) -> str:
    """`github.com/docker/docker/daemon` of `github.com/docker/docker/daemon.(*Daemon).containerInspect`."""
    paren = frame.find("(")
    slash = frame.rfind("/", 0, paren if paren >= 0 else len(frame))
    dot = frame.find(".", slash + 1)
    return frame[:dot] if dot > 0 else frame


def short(frame: str) -> str:
    """A frame without its package's directories: `daemon.(*Daemon).containerInspect`."""
    return frame[package(frame).rfind("/") + 1:]


def plumbing(frame: str) -> bool:
    """Go's standard library (no dot in the first path element) and golang.org/x: how, not what, it waits."""
    pkg = package(frame)
    return ("." not in pkg.split("/", 1)[0] and pkg != "main") or pkg.startswith("golang.org/x/")


def _normal(name: str) -> str:
    name = _OFFSET.sub("", name[:MAX_NAME])
    while (i := name.find("/vendor/")) >= 0:  # github.com/docker/docker/vendor/github.com/boltdb/bolt → github.com/boltdb/bolt
        start = name.rfind("(", 0, i) + 1
        name = name[:start] + name[i + len("/vendor/"):]
    if name.startswith("/") and "/src/" in name:  # a GOPATH path: /go/src/github.com/…
        name = name[name.rfind("/src/") + len("/src/"):]
    return name


def _function(line: str) -> str | None:
    """The function of a frame's first line (`pkg.(*T).M(0xc4201, ...)`), or None if it is not one.
    Go prints no parenthesis inside an argument list, so the list is the last `(` on (possibly truncated)."""
    paren = line.rfind("(")
    name = line[:paren] if paren > 0 and ")" not in line[paren:-1] else line
    if ("." not in name and name != "panic") or not _NAME.fullmatch(name):  # `panic({0x5611da793340?, 0xc000445c40?})`
        return None
    return _normal(name) if "/vendor/" in name or "+0x" in name or name[0] == "/" else name[:MAX_NAME]


def _state(inner: str) -> tuple[str, int]:
    parts = [p.strip() for p in inner.split(",")]
    minutes = next((int(m.group(1)) for p in parts if (m := _MINUTES.fullmatch(p))), 0)
    rest = [p for p in parts if p and not _MINUTES.fullmatch(p) and p != "locked to thread"]
    return ", ".join(rest) or "?", minutes


def parse(lines: Iterable[str]) -> list[Goroutine]:
    """Every goroutine in the input, in order. Tolerates prefixes, interleaved log lines, truncation and garbage."""
    out: list[Goroutine] = []
    head: Goroutine | None = None  # the goroutine being read (its frames gather in `frames`)
    frames: list[str] = []
    created_by: str | None = None
    panic: str | None = None
    since_panic = 0

    def close() -> None:
        nonlocal head
        if head is not None:
            out.append(Goroutine(head.id, head.state, head.minutes, tuple(frames), created_by, head.panic))
            head = None

    for line in _logical(lines):
        s = line[:MAX_LINE].strip()
        since_panic += 1
        if not s or s.startswith("# "):  # a blank line ends a goroutine; `# source:` lines are fixture comments
            close()
        elif s.startswith("goroutine ") and (h := _HEADER.fullmatch(s)):
            close()
            if len(out) >= MAX_GOROUTINES:
                break
            state, minutes = _state(h.group(2))
            if since_panic > 50:
                panic = None  # a `panic:` line far from any goroutine was only a log message
            head, frames, created_by, panic = Goroutine(int(h.group(1)), state, minutes, (), panic=panic), [], None, None
        elif s.startswith(("panic: ", "fatal error: ", "http: panic serving ")) and (p := _PANIC.match(s)):
            close()
            if panic is None or since_panic > 50:  # `panic: X [recovered]` then `panic: Y`: X is what happened first
                panic, since_panic = p.group(1).strip(), 0
        elif head is None or s[0] in "/.<?" or ":" in s:
            continue  # outside a goroutine; the file:line of the frame above (a function line has no colon); `...`
        elif s.startswith("created by "):
            created_by = _normal(s[len("created by "):].split(" in goroutine ")[0])
        elif name := _function(s):
            if len(frames) < MAX_FRAMES:
                frames.append(name)
        else:
            close()  # something else: this goroutine, or the dump, ended
    close()
    return out


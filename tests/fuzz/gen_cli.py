"""Seeded generators for the CLI-side fuzz classes (issue 14 point 9): hostile ids, damaged state files, and
the answers of a broken daemon API. Like gen.py: one random.Random(seed), the same seed gives the same inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
from dataclasses import dataclass
from typing import Any

from tests.fuzz.peer import Answer, http

GOOD_INCIDENT = "20261205T123456-abcdef"
GOOD_APPROVAL = "0123456789ab"
HOSTILE = [" ", "\t", "\n", "\r", "\x00", "\x1b[31m", "\x7f", "\x85", "\u2028", "/", "?", "#", "%2F", "%", "&", "..",
           "\\", "'", '"', ";", "*", "[/]", "[bold]", ":smile:", "é", "\udcff", "\udcfe\udc80", "\ufeff", "$(id)", "`id`"]


def ident(rnd: random.Random, good: str) -> tuple[str, list[str]]:
    """A hostile variant of a well-formed id: hostile characters inserted or substituted, cut, lengthened, or a
    route smuggled after a slash."""
    value, notes = good, []
    for _ in range(rnd.randint(1, 3)):
        op = rnd.choice(["insert", "replace", "append", "prefix", "cut", "long", "route", "case", "surrogate"])
        notes.append(op)
        at = rnd.randrange(len(value) + 1)
        if op == "insert":
            value = value[:at] + rnd.choice(HOSTILE) + value[at:]
        elif op == "replace" and value:
            value = value[:max(0, at - 1)] + rnd.choice(HOSTILE) + value[at:]
        elif op == "append":
            value += rnd.choice(HOSTILE)
        elif op == "prefix":
            value = rnd.choice(HOSTILE + ["-", "--", "--x"]) + value
        elif op == "cut":
            value = value[:at]
        elif op == "long":
            value += rnd.choice("xa0") * rnd.choice([64, 300, 5000])
        elif op == "route":
            value += rnd.choice(["/approve", "/../../hosts/h0/release", "?by=x", "#frag", "/%2F..", " HTTP/1.1\r\nX: y"])
        elif op == "case":
            value = value.upper()
        else:
            value = value[:at] + bytes([rnd.randrange(0x80, 0x100)]).decode("utf-8", "surrogateescape") + value[at:]
    if value == good:  # no mutation stuck (a cut at the end): make sure it is hostile
        value += " "
    return value, notes


FIXED_IDS = ["", " ", "a b", "x\x00y", "\x1b[2J", "id/approve", "id?x=1", "id#x", "id%2Fx", "x" * 5000,
             "\udcff\udcfe", "[/]", "[bold]x[/bold]", "..", "/", "-", GOOD_INCIDENT + " ", " " + GOOD_APPROVAL]


# ---- damaged state files -----------------------------------------------------------------------------------

@dataclass
class StateCase:
    name: str
    target: str  # journal.sqlite3 | daemon.sqlite3
    kind: str  # how it is damaged
    data: bytes | None  # the file's bytes; None for a special file (kind says which)
    refuse: bool  # the commands reading this file must exit 2 and leave it as it is


def _foreign(path: str) -> None:
    _fresh(path)
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE people (name TEXT, age INTEGER); INSERT INTO people VALUES ('x', 1);")
    db.close()


def _fresh(tmp: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp + suffix)


def _sql(valid: bytes, tmp: str, script: str) -> bytes:
    _fresh(tmp)
    with open(tmp, "wb") as fh:
        fh.write(valid)
    db = sqlite3.connect(tmp)
    db.executescript(script)
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    with open(tmp, "rb") as fh:
        return fh.read()


JOURNAL_SQL = {  # kind -> (script applied to a valid journal, refused by every reader)
    "newer-schema": ("PRAGMA user_version = 99;", True),
    "missing-column": ("DROP TABLE events; CREATE TABLE events (seq INTEGER PRIMARY KEY, incident TEXT);", True),
    "missing-table": ("DROP TABLE events;", True),
    "wrong-types": ("UPDATE incidents SET started = 'yesterday', dry_run = 'no';", False),
    "null-id": ("UPDATE incidents SET id = NULL, host = 42;", False),
    "bad-json": ("UPDATE events SET detail = '{not json';", False),
    "json-not-object": ("UPDATE events SET detail = '[1, 2, 3]';", False),
    "deep-json": ("UPDATE events SET detail = '" + "[" * 5000 + "]" * 5000 + "';", False),
    "blob-detail": ("UPDATE events SET detail = x'ff00fe';", False),
    "huge-ts": ("UPDATE events SET ts = 1e308; UPDATE incidents SET started = -1e308;", False),
}
STORE_SQL = {
    "missing-column": ("DROP TABLE status; CREATE TABLE status (host TEXT);", True),
    "extra-columns": ("ALTER TABLE approvals ADD COLUMN extra TEXT;", False),
    "wrong-types": ("UPDATE status SET verdict_at = 'soon', updated = x'00';", False),
    "bad-changes": ("UPDATE approvals SET changes = '{x';", False),
    "changes-not-list": ("UPDATE approvals SET changes = '{\"a\": 1}';", False),
    "flag-blob": ("UPDATE flags SET paused = x'00ff';", False),
}


def state_cases(rnd: random.Random, valid: dict[str, bytes], count: int, tmp: str) -> list[StateCase]:
    """Damaged copies of a valid journal and daemon store: garbage, truncation, flipped bytes, another schema,
    wrong types and JSON in the columns, and a directory, FIFO, socket or symlink in the file's place."""
    cases: list[StateCase] = []
    for target, sqls in (("journal.sqlite3", JOURNAL_SQL), ("daemon.sqlite3", STORE_SQL)):
        good = valid[target]
        for kind in ("directory", "fifo", "socket", "symlink"):
            cases.append(StateCase(f"{target[:1]}-{kind}", target, kind, None, True))
        _foreign(tmp)
        with open(tmp, "rb") as fh:
            cases.append(StateCase(f"{target[:1]}-foreign", target, "foreign", fh.read(), True))
        for kind, (script, refuse) in sqls.items():
            cases.append(StateCase(f"{target[:1]}-{kind}", target, kind, _sql(good, tmp, script), refuse))
        cases.append(StateCase(f"{target[:1]}-header-only", target, "header-only", good[:100], False))
    n = 0
    while len(cases) < count:
        target = rnd.choice(["journal.sqlite3", "daemon.sqlite3"])
        good = valid[target]
        kind = rnd.choice(["garbage", "truncated", "flipped", "flipped", "zeroed-page", "garbage-header"])
        if kind == "garbage":
            data = rnd.randbytes(rnd.choice([1, 99, 100, 4096, 65536]))
        elif kind == "truncated":
            data = good[:rnd.randrange(1, len(good))]
        elif kind == "flipped":
            buf = bytearray(good)
            for _ in range(rnd.choice([1, 4, 64])):
                buf[rnd.randrange(100, len(buf))] ^= 1 << rnd.randrange(8)
            data = bytes(buf)
        elif kind == "zeroed-page":
            page = rnd.randrange(1, max(2, len(good) // 4096))
            data = good[:page * 4096] + b"\0" * 4096 + good[(page + 1) * 4096:]
        else:
            data = b"SQLite format 3\0" + rnd.randbytes(len(good) - 16)
        cases.append(StateCase(f"{target[:1]}-{kind}-{n:03d}", target, kind, data, kind == "garbage"))
        n += 1
    return cases


# ---- the answers of a broken daemon API --------------------------------------------------------------------

VALID = {  # what each command expects (a daemon of this version)
    "approvals": {"approvals": [{"id": GOOD_APPROVAL, "incident": GOOD_INCIDENT, "host": "h0", "step": "stop",
                                 "plan_sha256": "a" * 64, "summary": "stop dockerd", "changes": ["x"],
                                 "requested": 1.0, "expires": 4e9, "decision": None, "by": None, "decided": None,
                                 "note": None}]},
    "decide": {"approval": {"id": GOOD_APPROVAL, "incident": GOOD_INCIDENT, "host": "h0", "step": "stop",
                            "plan_sha256": "a" * 64, "summary": "stop dockerd", "changes": ["x"], "requested": 1.0,
                            "expires": 4e9, "decision": "approved", "by": "me", "decided": 2.0, "note": None},
               "note": "ok"},
    "host": {"host": "h0", "changed": True},
}
WRONG: list[Any] = [None, True, 0, -1, 10 ** 400, 1e308, float("nan"), float("inf"), "", "x" * 10000, [], {}, [1],
                    {"a": 1}, [[[[[]]]]], "\udcff", "[bold]markup", "\x1b[31m"]


def _mutate(value: Any, rnd: random.Random, notes: list[str]) -> Any:
    """value with one node replaced by something of the wrong type, or a key dropped."""
    if isinstance(value, dict) and value and rnd.random() < 0.8:
        key = rnd.choice(list(value))
        out = dict(value)
        if rnd.random() < 0.25:
            del out[key]
            notes.append(f"drop {key}")
        else:
            out[key] = _mutate(value[key], rnd, notes)
        return out
    if isinstance(value, list) and value and rnd.random() < 0.8:
        i = rnd.randrange(len(value))
        return [*value[:i], _mutate(value[i], rnd, notes), *value[i + 1:]]
    wrong = rnd.choice(WRONG)
    notes.append(f"-> {type(wrong).__name__}")
    return wrong


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def fixed_answers(command: str) -> list[Answer]:
    """The broken peers every command meets."""
    good = dumps(VALID[command])
    drip = http(200, good)
    return [
        Answer("close-at-once", []),
        Answer("hold-silent", [], then="hold"),
        Answer("drip-feed", [(0.25, drip[i:i + 1]) for i in range(len(drip))]),
        Answer("drip-headers", [(0.0, b"HTTP/1.1 200 OK\r\n")] + [(0.2, b"X-A: b\r\n")] * 200),
        Answer("garbage", [(0.0, bytes(range(256)) * 4)]),
        Answer("not-http", [(0.0, b"SSH-2.0-OpenSSH_9.2\r\n")]),
        Answer("no-json", [(0.0, http(200, b"<html>hello</html>"))]),
        Answer("empty-200", [(0.0, http(200, b""))]),
        Answer("truncated-body", [(0.0, http(200, good)[:-(len(good) // 2)])]),
        Answer("longer-than-said", [(0.0, http(200, good).replace(f"Content-Length: {len(good)}".encode(),
                                                                   b"Content-Length: 99999"))]),
        Answer("huge-body", [(0.0, b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")]
               + [(0.0, b" " * (1 << 20))] * 12),
        Answer("header-flood", [(0.0, b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 500 + b"\r\n{}")]),
        Answer("long-status-line", [(0.0, b"HTTP/1.1 200 " + b"O" * 100000 + b"\r\n\r\n")]),
        Answer("bad-status", [(0.0, b"HTTP/1.1 abc OK\r\n\r\n")]),
        Answer("bad-chunks", [(0.0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")]),
        Answer("status-500", [(0.0, http(500, b'{"error": "boom"}'))]),
        Answer("status-302", [(0.0, http(302, b"{}", headers="Location: /x\r\n"))]),
        Answer("status-404-list", [(0.0, http(404, b"[1, 2]"))]),
        Answer("status-400-markup", [(0.0, http(400, dumps({"error": "[bold]no[/bold] \x1b[31m\udcff"})))]),
        Answer("status-409-error-not-str", [(0.0, http(409, b'{"error": {"a": [1]}}'))]),
        Answer("deep-json", [(0.0, http(200, b"[" * 100000 + b"]" * 100000))]),
        Answer("json-list", [(0.0, http(200, b"[]"))]),
        Answer("json-null", [(0.0, http(200, b"null"))]),
        Answer("valid", [(0.0, http(200, good))]),
    ]


def mutated_answers(command: str, rnd: random.Random, count: int) -> list[Answer]:
    out = []
    for i in range(count):
        notes: list[str] = []
        value = VALID[command]
        for _ in range(rnd.randint(1, 3)):
            value = _mutate(value, rnd, notes)
        status = rnd.choice([200, 200, 200, 201, 400, 404, 409])
        out.append(Answer(f"{command}-mutated-{i:03d} ({', '.join(notes)[:80]})", [(0.0, http(status, dumps(value)))]))
    return out

"""The CLI's side of the API socket: one request, one deadline for the whole exchange, a strict reading of the
answer.

Role: `exchange(socket_path, method, path, body)` -> (status, JSON object). The deadline covers connect, send
and every byte of the answer (a peer that drip-feeds a byte a second is cut at the deadline, not kept alive by
each byte); at most 8 MiB are read. An answer that is not HTTP with a JSON object body raises Malformed;
a socket that cannot be reached, or a deadline passed, raises Unreachable. Paths are built by the caller from
quoted, grammar-checked segments (`path_for`).
Must not: print or exit (the CLI decides how to say it).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import quote

MAX_ANSWER = 8 << 20
DEADLINE = 30.0


class Unreachable(Exception):
    """The socket could not be reached or the daemon did not answer within the deadline."""


class Malformed(Exception):
    """Something answered, but not the daemon's API (not HTTP, or not a JSON object)."""


def path_for(*segments: str) -> str:
    """/v1/... from segments, each quoted whole (a "/" or "?" inside one stays inside it)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


def _recv_all(sock: socket.socket, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unreachable("no complete answer within the deadline")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise Unreachable("no complete answer within the deadline") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            raise Malformed(f"an answer larger than {MAX_ANSWER >> 20} MiB")


def parse(raw: bytes) -> tuple[int, Any]:
    """(status, JSON object) of a whole HTTP/1.x answer; Malformed when it is anything else."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise Malformed("not an HTTP answer (no end of headers)" if raw else "an empty answer")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
        raise Malformed(f"not an HTTP status line: {lines[0][:60]!r}")
    status = int(parts[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            v = value.strip()
            if not (v.isdigit() and len(v) <= 9) or int(v) != len(body):
                raise Malformed(f"a Content-Length of {v[:20]!r} for a body of {len(body)} bytes")
    try:
        obj = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        raise Malformed(f"a body that is not JSON: {body[:60]!r}") from None
    if not isinstance(obj, dict):
        raise Malformed("a JSON body that is not an object")
    return status, obj


def exchange(sock_path: str, method: str, path: str, body: dict[str, Any] | None = None,
             deadline: float = DEADLINE) -> tuple[int, dict[str, Any]]:
    end = time.monotonic() + deadline
    data = json.dumps(body).encode() if body is not None else b""
    request = (f"{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode("ascii") + data
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(deadline)
        try:
            s.connect(sock_path)
        except PermissionError:
            raise  # the daemon may well run: this user may not talk to it (the caller says so: exit 2, not "no daemon")
        except OSError as exc:
            raise Unreachable(exc.strerror or str(exc)) from None
        sent: OSError | None = None
        try:
            s.settimeout(max(0.01, end - time.monotonic()))
            s.sendall(request)
        except OSError as exc:  # answered and closed before we finished (a 503 "too many"): read that answer
            sent = exc
        try:
            raw = _recv_all(s, end)
        except OSError as exc:
            raise Unreachable((sent or exc).strerror or str(sent or exc)) from None
        if sent is not None and not raw:
            raise Unreachable(sent.strerror or str(sent))
    finally:
        s.close()
    return parse(raw)

"""A fake daemon API for the fuzz suite: unix sockets that answer the CLI's requests with what a broken,
hostile or slow peer sends (garbage, drip-fed bytes, truncated or huge bodies, JSON of the wrong shape).

One accept thread serves every socket; each connection gets a thread that reads the request and plays its
socket's Answer. Paths requested are recorded per socket (an id the CLI must refuse must never arrive).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Answer:
    """What a socket sends once it has read a request: (pause before, bytes) pieces, then close or hold."""

    name: str
    pieces: list[tuple[float, bytes]]
    then: str = "close"  # close | hold (keep the connection open, silent, until the peer stops)
    seen: list[str] = field(default_factory=list)


def http(status: int, body: bytes, headers: str = "", reason: str = "X") -> bytes:
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
            .encode() + body)


class Peer:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.listeners: list[socket.socket] = []
        self.answers: dict[str, Answer] = {}
        self.thread = threading.Thread(target=self._accept, name="fuzz-peer", daemon=True)

    def add(self, answer: Answer) -> str:
        path = str(self.root / f"p{len(self.listeners):03d}.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(16)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, answer)
        self.listeners.append(s)
        self.answers[path] = answer
        return path

    def __enter__(self) -> Peer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        for s in self.listeners:
            s.close()
        self.sel.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.sel.select(0.1):
                with contextlib.suppress(OSError):
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    threading.Thread(target=self._serve, args=(conn, key.data), daemon=True).start()

    def _serve(self, conn: socket.socket, answer: Answer) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 1 << 16:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            answer.seen.append(request.split(b" ", 2)[1].decode(errors="replace") if request.count(b" ") >= 2 else "?")
            head, _, body = request.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                body += chunk
            for pause, data in answer.pieces:
                if self.stop.wait(pause):
                    return
                conn.sendall(data)
            if answer.then == "hold":
                conn.settimeout(0.2)
                while not self.stop.is_set():  # until the CLI goes away (recv returns b"") or the suite ends
                    try:
                        if conn.recv(1) == b"":
                            return
                    except TimeoutError:
                        continue
            else:
                conn.shutdown(socket.SHUT_WR)
                time.sleep(0.05)

"""The API's transport: a bounded number of connections, one deadline for the whole exchange, the peer's
identity, and quiet hang-ups.

Role: a socketserver for the unix socket and for TCP (loopback API, metrics) that
  - holds at most `Limits.connections` connections at once, each in a worker of a pool of that size (never a
    thread per connection without bound); while full it does not accept, so the rest wait in the kernel's
    backlog and cost this process no descriptor;
  - caps what one peer holds (`Limits.per_client`; a uid on the unix socket from SO_PEERCRED and for a local TCP
    peer from sock_diag, daemon.peers; a remote TCP peer's address): a peer over its cap is answered 503 at once
    and closed;
  - gives each connection one deadline from accept to the last byte of the answer (a reaper shuts the socket
    down when it passes: a peer that drip-feeds a byte every few seconds is cut at the deadline, not kept
    alive by each byte), and reads at most `Limits.max_bytes` from it in all;
  - backs off when accept fails for want of descriptors (EMFILE) instead of spinning, and says so once a minute;
  - treats a peer that hangs up or is too slow as nothing worth a traceback.
Must not: know a route (daemon.routes does), or read a token (daemon.api does).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediator import modes
from remediator.daemon.peers import Peer, peer_of

_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
Socket = socket.socket
REJECT = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 45\r\n"
          b"Connection: close\r\n\r\n" + b'{"error": "too many connections from you"}  \n')


@dataclass(frozen=True)
class Limits:
    connections: int = 32  # open at once: each holds one worker thread and one descriptor
    per_client: int = 8  # of which one peer may hold
    deadline: float = 10.0  # seconds for the whole exchange, accept to the last byte of the answer
    max_bytes: int = 256 << 10  # read from one connection in all (request line, headers, body, drain)


class Capped(io.RawIOBase):
    """A socket's receiving side that yields at most `limit` bytes in all, then end of file."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        super().__init__()
        self.sock, self.left = sock, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.left <= 0:
            return 0
        view = memoryview(buf)
        n = self.sock.recv_into(view[:min(len(view), self.left)])
        self.left -= n
        return n


class Bounded(socketserver.BaseServer):
    """The bounded pool, per-client cap, deadline reaper and quiet errors, for either socket family."""

    request_queue_size = 128
    socket: Socket  # the listening socket (socketserver.TCPServer and UnixStreamServer set it)
    limits: Limits
    log: Callable[..., None]

    def _start_bounded(self, limits: Limits, log: Callable[..., None]) -> None:
        self.limits, self.log = limits, log
        self._cond = threading.Condition()
        self._active: dict[Socket, tuple[Peer, float]] = {}
        self._reaped: set[Socket] = set()
        self._closing = False
        self._exhausted_logged = 0.0
        self._pool = ThreadPoolExecutor(max_workers=limits.connections, thread_name_prefix="api")
        threading.Thread(target=self._reaper, name="api-reaper", daemon=True).start()

    def peer(self, request: Socket) -> Peer | None:
        with self._cond:
            entry = self._active.get(request)
        return entry[0] if entry else None

    def get_request(self) -> tuple[Any, Any]:
        with self._cond:  # full: accept nothing; the kernel's backlog holds the rest at no descriptor of ours
            while len(self._active) >= self.limits.connections and not self._closing:
                self._cond.wait(0.5)
        if self._closing:
            raise OSError("the server is closing")
        try:
            return self.socket.accept()
        except OSError as exc:
            if exc.errno in _OUT_OF_FDS:
                now = time.monotonic()
                if now - self._exhausted_logged > 60:
                    self._exhausted_logged = now
                    self.log("api-accept-failed", level="warning", error=os.strerror(exc.errno or 0),
                             note="out of descriptors: accepting paused briefly (no spinning)")
                time.sleep(0.1)  # a back-off, not a synchronisation: nothing to poll for a freed descriptor
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            peer = peer_of(request)
        except OSError:
            self.shutdown_request(request)
            return
        with self._cond:
            mine = sum(1 for p, _ in self._active.values() if p.key == peer.key)
            admitted = mine < self.limits.per_client and not self._closing
            if admitted:
                self._active[request] = (peer, time.monotonic() + self.limits.deadline)
                self._cond.notify_all()  # the reaper learns the new deadline
        if not admitted:
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(REJECT)
                request.recv(65536)  # what already came: closing on unread data would reset our answer
            self.shutdown_request(request)
            return
        try:
            self._pool.submit(self._work, request, client_address)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._done(request)

    def _work(self, request: Socket, client_address: Any) -> None:
        try:
            request.settimeout(self.limits.deadline)
            self.finish_request(request, client_address)  # the handler, as socketserver builds it
        except (OSError, ValueError):
            pass  # the peer hung up, was too slow, or was cut at the deadline: nothing to report
        except Exception as exc:  # noqa: BLE001 - one short line, never a traceback (a peer must not flood the log)
            self.log("api-error", level="error", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            self._done(request)

    def _done(self, request: Socket) -> None:
        with self._cond:
            self._active.pop(request, None)
            self._reaped.discard(request)
            self._cond.notify_all()
        self.shutdown_request(request)

    def _reaper(self) -> None:
        """Cut every connection past its deadline (shutdown wakes its blocked read or write; the worker closes).
        Sleeps until the earliest deadline, or until a connection comes or the server closes: idle, it never wakes."""
        while True:
            with self._cond:
                if self._closing:
                    return
                now = time.monotonic()
                late = [s for s, (_p, dl) in self._active.items() if dl <= now and s not in self._reaped]
                self._reaped.update(late)
                if not late:
                    pending = [dl for s, (_p, dl) in self._active.items() if s not in self._reaped]
                    self._cond.wait(min(pending) - now + 0.01 if pending else None)
                    continue
            for s in late:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # never the stdlib's traceback on stderr: _work logs what matters in one line

    def shutdown(self) -> None:
        with self._cond:  # an accept waiting for a free slot gives up at once
            self._closing = True
            self._cond.notify_all()
        super().shutdown()

    def server_close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            late = list(self._active)
        for s in late:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().server_close()

    def active(self) -> int:
        with self._cond:
            return len(self._active)


class TCPServer(Bounded, socketserver.TCPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler], *,
                 limits: Limits, log: Callable[..., None]) -> None:
        self._start_bounded(limits, log)
        socketserver.TCPServer.__init__(self, address, handler)


class UnixServer(Bounded, socketserver.UnixStreamServer):
    """The API socket (mode 0660: the group may talk to it). Bound only by a daemon that holds the instance lock
    (daemon.instance), so a socket left at the path is a dead daemon's; removed again on a clean stop."""

    def __init__(self, path: str, handler: type[socketserver.BaseRequestHandler], *, limits: Limits,
                 log: Callable[..., None]) -> None:
        self._start_bounded(limits, log)
        self._bound: tuple[int, int] | None = None
        socketserver.UnixStreamServer.__init__(self, path, handler)

    def server_bind(self) -> None:
        path = str(self.server_address)
        modes.makedirs(Path(path).parent, 0o750, modes.PARENT_DIR)  # whatever the umask; an existing one as it is
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise OSError(f"{path} exists and is not a socket: refusing to replace it")
            os.unlink(path)  # a dead daemon's: the instance lock says no live one has it
        old = os.umask(0o117)  # the socket is born 0660 (no window at the umask's mode before the chmod)
        try:
            socketserver.UnixStreamServer.server_bind(self)
        finally:
            os.umask(old)
        os.chmod(path, 0o660)
        st = os.lstat(path)
        self._bound = (st.st_dev, st.st_ino)

    def server_close(self) -> None:
        super().server_close()
        path = str(self.server_address)
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if self._bound == (st.st_dev, st.st_ino):  # ours still: a clean stop leaves no socket behind
                os.unlink(path)

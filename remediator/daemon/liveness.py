"""Liveness at fleet scale: one `GET /_ping` to every host's Docker API socket, all at once, on asyncio.

Role: the daemon's cheap first look. Each round sends `GET /_ping HTTP/1.1` (Host: docker) over each
host's unix socket, with bounded concurrency (a fixed pool of worker coroutines, no thread per host),
every read bounded in bytes and every exchange (connect + the whole answer) under one hard deadline, so a
dockerd that accepts and never answers (SIGSTOPped, wedged) ends as `timeout` instead of holding the
round. The answer per host is the `Ping` of hosts/port.py (outcome ok | slow | timeout | refused |
missing | denied | error, latency, detail), the same vocabulary as LocalHost.ping; only a host that does not
answer `ok` needs the full diagnosis (detect/diagnose.py), which stays expensive and debounced.
Must not: decide anything (a `timeout` is an observation, not a verdict), block the event loop, open
more than `concurrency` sockets at once, or read more than `max_answer` bytes from one host.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from remediator.hosts.port import Ping
from remediator.settings import HostConfig
from remediator.vocab import PingOutcome

PING_REQUEST = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: remediator-liveness\r\nConnection: close\r\n\r\n"
MAX_ANSWER = 8192  # bytes read from one host at most (dockerd's /_ping answer is ~300 bytes of headers + "OK")
CONCURRENCY = 256  # sockets open at once, at most
RECV_CHUNK = 4096
BACKLOG_RETRY = (0.01, 0.2)  # first and longest wait between connects while the listener's backlog is full


@dataclass(frozen=True)
class Target:
    """One host to ping: its configured name and the path of its Docker API unix socket."""

    name: str
    socket_path: str

    @classmethod
    def of(cls, config: HostConfig) -> Target:
        return cls(config.name, config.socket_path)


class _Answer(Exception):
    """How one exchange ended when it is not a socket error: outcome and detail."""

    def __init__(self, outcome: PingOutcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__


def _complete(buf: bytes, max_answer: int, *, eof: bool = False) -> tuple[int, bytes] | None:
    """(status, body) once `buf` holds a whole HTTP answer, None while more is needed; _Answer('error')
    for something that is not HTTP. Whole: the head and Content-Length bytes of body, or a chunked body
    up to its last chunk; an answer with neither ends at EOF (`eof`: the peer closed after `buf`)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if not buf.startswith(b"HTTP/"[: len(buf)]):
            raise _Answer(PingOutcome.ERROR, f"not an HTTP answer: {buf[:60]!r}")
        return None
    head, body = buf[:end].decode("latin-1"), buf[end + 4:]
    lines = head.split("\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
        raise _Answer(PingOutcome.ERROR, f"not an HTTP answer: {buf[:60]!r}")
    status = int(parts[1])
    headers = {k.strip().lower(): v.strip() for k, sep, v in (h.partition(":") for h in lines[1:]) if sep}
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise _Answer(PingOutcome.ERROR, f"HTTP {status} with a bad Content-Length {length[:20]!r}")
        want = int(length)
        if end + 4 + want > max_answer:
            raise _Answer(PingOutcome.ERROR, f"HTTP {status} announces {want} bytes of body, over the {max_answer}-byte limit")
        return (status, body[:want]) if len(body) >= want else None
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return (status, body) if body.startswith(b"0\r\n") or b"\r\n0\r\n" in body else None
    return (status, body) if eof else None


async def _connect(sock: socket.socket, path: str) -> None:
    """Connect a non-blocking unix socket. A listener whose backlog is full (a dockerd that stopped
    accepting) answers EAGAIN at once on Linux instead of blocking: wait a little and try again,
    until the caller's deadline cancels us."""
    pause = BACKLOG_RETRY[0]
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            await asyncio.sleep(pause)
            pause = min(pause * 2, BACKLOG_RETRY[1])


async def _exchange(target: Target, max_answer: int) -> tuple[PingOutcome, str]:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await _connect(sock, target.socket_path)
        await loop.sock_sendall(sock, PING_REQUEST)
        buf = b""
        while True:
            chunk = await loop.sock_recv(sock, min(RECV_CHUNK, max_answer + 1 - len(buf)))
            if not chunk:
                done = _complete(buf, max_answer, eof=True)
                if done is None:
                    raise _Answer(PingOutcome.ERROR, "closed without an answer" if not buf else f"closed mid-answer after {len(buf)} bytes")
                break
            buf += chunk
            if len(buf) > max_answer:
                raise _Answer(PingOutcome.ERROR, f"answer over the {max_answer}-byte limit")
            done = _complete(buf, max_answer)
            if done is not None:
                break
    status, body = done
    if status == 200:
        return PingOutcome.OK, "HTTP 200"
    return PingOutcome.ERROR, f"HTTP {status}: {body[:120]!r}"


async def ping(target: Target, *, timeout: float = 5.0, slow: float = 1.0, max_answer: int = MAX_ANSWER) -> Ping:
    """One `GET /_ping` under one hard deadline (connect + whole answer); never raises for socket
    trouble. An `ok` answer later than `slow` seconds is `slow`."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            outcome, detail = await _exchange(target, max_answer)
    except TimeoutError:
        outcome, detail = PingOutcome.TIMEOUT, f"no answer within {timeout:g}s"
    except FileNotFoundError:
        outcome, detail = PingOutcome.MISSING, f"no socket {target.socket_path}"
    except ConnectionRefusedError:
        outcome, detail = PingOutcome.REFUSED, "nothing listening (ECONNREFUSED)"
    except _Answer as ans:
        outcome, detail = ans.outcome, ans.detail
    except PermissionError as exc:  # the operator's own access, not the daemon's health (remediator.access)
        outcome, detail = PingOutcome.DENIED, f"{_errno_name(exc)}: permission denied on {target.socket_path}"
    except OSError as exc:
        outcome, detail = PingOutcome.ERROR, f"{_errno_name(exc)}: {exc.strerror or exc}"
    latency = time.monotonic() - started
    if outcome == PingOutcome.OK and latency > slow:
        outcome = PingOutcome.SLOW
    return Ping(outcome, latency, detail)


def ensure_nofile(need: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE toward `need` (never past the hard limit); the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


class LivenessProber:
    """Pings a fixed set of targets, one round at a time, `concurrency` sockets at most.

    A round is a pool of `concurrency` worker coroutines draining one iterator of targets, so a round
    over 10,000 hosts holds at most `concurrency` sockets and as many coroutines, and a host that hangs
    costs one worker for one deadline, not the round."""

    def __init__(self, targets: Iterable[Target], *, timeout: float = 5.0, slow: float = 1.0,
                 concurrency: int = CONCURRENCY, max_answer: int = MAX_ANSWER) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.targets: tuple[Target, ...] = tuple(targets)
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError("two targets share a name")
        self.timeout, self.slow, self.concurrency, self.max_answer = timeout, slow, concurrency, max_answer
        ensure_nofile(concurrency + 64)  # our sockets + whatever else the process holds (journal, API, logs)

    @classmethod
    def of(cls, hosts: Sequence[HostConfig], *, timeout: float = 5.0, slow: float = 1.0,
           concurrency: int = CONCURRENCY) -> LivenessProber:
        """The prober for configured hosts (their `docker_host` socket paths)."""
        return cls((Target.of(h) for h in hosts), timeout=timeout, slow=slow, concurrency=concurrency)

    async def round(self) -> dict[str, Ping]:
        """Every target's Ping, keyed by host name in target order."""
        results: dict[str, Ping] = {}
        todo: Iterator[Target] = iter(self.targets)

        async def worker() -> None:
            for target in todo:  # the shared iterator hands each target to exactly one worker
                results[target.name] = await ping(target, timeout=self.timeout, slow=self.slow, max_answer=self.max_answer)

        workers = min(self.concurrency, len(self.targets))
        if workers:
            async with asyncio.TaskGroup() as tg:
                for _ in range(workers):
                    tg.create_task(worker())
        return {t.name: results[t.name] for t in self.targets}

"""The asyncio liveness prober and the round scheduler, against real unix-socket servers in a temp dir.

Correctness only (speed is bench/probe_scale.py's business): every outcome of daemon/liveness.py from a
real socket, the byte bound, that hanging hosts are waited for side by side (ordering, not timing), that
no more than `concurrency` sockets are ever open, and the scheduler's grid, skips and stop.
"""

from __future__ import annotations

import asyncio
import math
import resource
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from remediator.daemon.liveness import MAX_ANSWER, LivenessProber, Target, ensure_nofile, ping
from remediator.daemon.schedule import RoundStats, percentile, run_rounds, summarize
from remediator.hosts.port import Ping
from remediator.settings import HostConfig
from tests.fakes.dockerapi import DOCKER_18_09, FakeDockerAPI

OK = b"HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK"
Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir



@dataclass
class Log:
    """What the servers saw, in order: ("accept", name) and ("eof", name) events, and open connections."""

    events: list[tuple[str, str]] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0


def answer(raw: bytes, *, delay: float = 0.0, close: bool = False) -> Reply:
    """Read the request head, wait `delay`, write `raw`; keep the connection open (as dockerd does with
    HTTP/1.1) unless `close`, until the client goes."""
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if delay:
            await asyncio.sleep(delay)
        writer.write(raw)
        await writer.drain()
        if not close:
            await reader.read()
    return reply


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read, never answer (a SIGSTOPped dockerd's listener, as far as a client can tell)."""
    await reader.read()


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An answer that never ends: header lines forever."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:
        writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
        await writer.drain()


@asynccontextmanager
async def servers(tmp: Path, replies: dict[str, Reply], log: Log | None = None) -> AsyncIterator[dict[str, Target]]:
    """One listening unix socket per name, serving its reply; everything closed and cancelled on exit."""
    log = log or Log()
    started: list[asyncio.base_events.Server] = []
    handlers: set[asyncio.Task[None]] = set()

    def serve(name: str, reply: Reply) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            log.events.append(("accept", name))
            log.open_now += 1
            log.open_max = max(log.open_max, log.open_now)
            try:
                await reply(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                log.events.append(("eof", name))
                log.open_now -= 1
                writer.close()
                handlers.discard(task)
        return handle

    try:
        for name, reply in replies.items():
            started.append(await asyncio.start_unix_server(serve(name, reply), str(tmp / f"{name}.sock")))
        yield {name: Target(name, str(tmp / f"{name}.sock")) for name in replies}
    finally:
        for srv in started:
            srv.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        for srv in started:
            await srv.wait_closed()


def probe(tmp: Path, reply: Reply, *, timeout: float, slow: float = 1.0, max_answer: int = MAX_ANSWER) -> Ping:
    async def go() -> Ping:
        async with servers(tmp, {"h": reply}) as t:
            return await ping(t["h"], timeout=timeout, slow=slow, max_answer=max_answer)
    return asyncio.run(go())


# ---- outcomes -------------------------------------------------------------------------------------

def test_a_200_with_a_length_is_ok_without_waiting_for_the_server_to_close(tmp_path: Path) -> None:
    p = probe(tmp_path, answer(OK), timeout=30.0)  # the server keeps the connection open: the length ends it
    assert (p.outcome, p.detail) == ("ok", "HTTP 200")
    assert p.ok and p.latency < 30.0


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
])
def test_a_chunked_200_is_ok_at_its_last_chunk(tmp_path: Path, raw: bytes) -> None:
    assert probe(tmp_path, answer(raw), timeout=30.0).outcome == "ok"


def test_an_answer_without_length_ends_when_the_server_closes(tmp_path: Path) -> None:
    assert probe(tmp_path, answer(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nOK", close=True), timeout=30.0).outcome == "ok"


def test_the_stand_in_docker_api_is_ok(tmp_path: Path) -> None:
    """Python's http.server answering as dockerd 18.09 (HTTP/1.1, keep-alive) reads as ok."""
    sock = str(tmp_path / "docker.sock")
    api = FakeDockerAPI(sock, DOCKER_18_09).start()
    try:
        p = asyncio.run(ping(Target("h", sock), timeout=30.0))
    finally:
        api.stop()
    assert (p.outcome, p.detail) == ("ok", "HTTP 200")
    assert api.requests.paths() == ["/_ping"]


def test_an_answer_later_than_slow_is_slow(tmp_path: Path) -> None:
    p = probe(tmp_path, answer(OK, delay=0.3), timeout=30.0, slow=0.1)
    assert p.outcome == "slow" and p.latency >= 0.3 and p.detail == "HTTP 200"
    assert not p.ok


def test_a_server_that_accepts_and_never_answers_times_out(tmp_path: Path) -> None:
    p = probe(tmp_path, hang, timeout=0.3)
    assert p.outcome == "timeout" and p.latency >= 0.3
    assert "0.3s" in p.detail


def test_an_answer_that_stops_midway_times_out(tmp_path: Path) -> None:
    p = probe(tmp_path, answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nO"), timeout=0.3)
    assert p.outcome == "timeout"


def test_a_socket_file_with_no_listener_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "dead.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)  # the file stays, nobody listens: a dockerd that died without removing its socket
    p = asyncio.run(ping(Target("h", path), timeout=30.0))
    assert p.outcome == "refused" and "ECONNREFUSED" in p.detail


def test_no_socket_file_is_missing(tmp_path: Path) -> None:
    p = asyncio.run(ping(Target("h", str(tmp_path / "none.sock")), timeout=30.0))
    assert p.outcome == "missing" and "none.sock" in p.detail


def test_a_regular_file_in_place_of_the_socket_is_not_ok(tmp_path: Path) -> None:
    (tmp_path / "file.sock").write_text("x")
    p = asyncio.run(ping(Target("h", str(tmp_path / "file.sock")), timeout=30.0))
    assert p.outcome in ("refused", "error")


def test_a_full_backlog_that_nobody_accepts_times_out(tmp_path: Path) -> None:
    """A listener that stopped accepting: once its backlog is full Linux answers EAGAIN at once; the
    prober keeps trying until its deadline and reports a timeout, not an error."""
    path = str(tmp_path / "stuck.sock")
    filled: list[socket.socket] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(0)
        try:
            for _ in range(64):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                filled.append(c)
                c.setblocking(False)
                try:
                    c.connect(path)
                except BlockingIOError:
                    break
            else:
                pytest.skip("the backlog never filled")
            p = asyncio.run(ping(Target("h", path), timeout=0.3))
        finally:
            for c in filled:
                c.close()
    assert p.outcome == "timeout"


@pytest.mark.parametrize(("raw", "why"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP answer"),
    (b"hello there\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 abc OK\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\nOK", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", "over the 8192-byte limit"),
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom", "HTTP 500: b'boom'"),
    (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", "HTTP 503"),
])
def test_garbage_and_errors_are_errors(tmp_path: Path, raw: bytes, why: str) -> None:
    p = probe(tmp_path, answer(raw), timeout=30.0)
    assert p.outcome == "error" and why in p.detail, p


@pytest.mark.parametrize(("raw", "why"), [(b"", "closed without an answer"), (b"HTTP/1.1 200 OK\r\n", "closed mid-answer")])
def test_a_server_that_closes_early_is_an_error(tmp_path: Path, raw: bytes, why: str) -> None:
    p = probe(tmp_path, answer(raw, close=True), timeout=30.0)
    assert p.outcome == "error" and why in p.detail, p


def test_an_endless_answer_is_cut_at_the_byte_limit(tmp_path: Path) -> None:
    p = probe(tmp_path, flood, timeout=30.0, max_answer=4096)
    assert p.outcome == "error" and "4096-byte limit" in p.detail


# ---- rounds ---------------------------------------------------------------------------------------

def test_a_round_answers_every_host_in_target_order(tmp_path: Path) -> None:
    async def go() -> dict[str, Ping]:
        async with servers(tmp_path, {"b": answer(OK), "a": hang}) as t:
            targets = [t["b"], Target("c", str(tmp_path / "c.sock")), t["a"]]
            return await LivenessProber(targets, timeout=0.3, concurrency=2).round()
    got = asyncio.run(go())
    assert list(got) == ["b", "c", "a"]
    assert [p.outcome for p in got.values()] == ["ok", "missing", "timeout"]


def test_targets_come_from_host_configs() -> None:
    cfg = HostConfig(name="edge-1", docker_host="unix:///run/edge/docker.sock")
    prober = LivenessProber.of([cfg], timeout=2.0)
    assert prober.targets == (Target("edge-1", "/run/edge/docker.sock"),)
    assert asyncio.run(LivenessProber([]).round()) == {}


def test_two_targets_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share a name"):
        LivenessProber([Target("a", "/x"), Target("a", "/y")])


def test_hanging_hosts_are_waited_for_side_by_side_not_one_after_another(tmp_path: Path) -> None:
    """200 hosts, 20 of which accept and never answer: every hanging host was connected before the
    first one's deadline ran out (so the round costs one deadline, not twenty)."""
    hanging = {f"h{i:03d}" for i in range(0, 200, 10)}
    log = Log()

    async def go() -> dict[str, Ping]:
        replies = {f"h{i:03d}": (hang if f"h{i:03d}" in hanging else answer(OK)) for i in range(200)}
        async with servers(tmp_path, replies, log) as t:
            return await LivenessProber(list(t.values()), timeout=5.0, concurrency=256).round()
    got = asyncio.run(go())
    assert {n for n, p in got.items() if p.outcome == "timeout"} == hanging
    assert all(p.outcome == "ok" for n, p in got.items() if n not in hanging)
    first_timeout = next(i for i, (ev, name) in enumerate(log.events) if ev == "eof" and name in hanging)
    accepted_before = {name for ev, name in log.events[:first_timeout] if ev == "accept"}
    assert hanging <= accepted_before


def test_never_more_sockets_open_than_the_concurrency(tmp_path: Path) -> None:
    log = Log()

    async def go() -> dict[str, Ping]:
        replies = {f"h{i}": (hang if i < 6 else answer(OK, delay=0.01)) for i in range(40)}
        async with servers(tmp_path, replies, log) as t:
            return await LivenessProber(list(t.values()), timeout=0.2, concurrency=4).round()
    got = asyncio.run(go())
    assert sum(p.outcome == "timeout" for p in got.values()) == 6
    assert sum(p.outcome == "ok" for p in got.values()) == 34
    assert log.open_max == 4  # bounded, and the bound was reached


def test_ensure_nofile_raises_the_soft_limit_up_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        assert ensure_nofile(300) == (300 if hard == resource.RLIM_INFINITY else min(300, hard))
        assert ensure_nofile(10) == resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # never lowered
        if hard != resource.RLIM_INFINITY:
            assert ensure_nofile(hard + 1000) == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---- the scheduler --------------------------------------------------------------------------------

def test_rounds_keep_to_the_grid_and_an_overrun_skips_instead_of_bunching() -> None:
    """interval 0.3: round 1 overruns to ~1.05 s, so slot 2 (0.6 s) runs late at once, slot 3 (0.9 s) is
    skipped and counted, and the next round is slot 4 (1.2 s) - on the grid of the first round."""
    interval, running = 0.3, [0]
    seen: list[RoundStats[int]] = []

    async def go() -> int:
        stop = asyncio.Event()

        async def probe_round() -> int:
            running[0] += 1
            assert running[0] == 1, "two rounds at once"
            await asyncio.sleep(0.75 if len(seen) == 1 else 0.0)
            running[0] -= 1
            return len(seen)

        def on_round(s: RoundStats[int]) -> None:
            seen.append(s)
            if len(seen) == 4:
                stop.set()
        return await run_rounds(probe_round, interval, stop, on_round)
    assert asyncio.run(go()) == 4
    assert [s.number for s in seen] == [0, 1, 2, 3]
    assert [s.result for s in seen] == [0, 1, 2, 3]
    assert [s.slot for s in seen] == [0, 1, 2, 4]
    assert [s.skipped for s in seen] == [0, 0, 1, 0]
    t0 = seen[0].due
    assert all(math.isclose(s.due, t0 + s.slot * interval, abs_tol=1e-9) for s in seen)
    assert seen[2].lateness >= seen[1].duration - interval - 0.01  # late by the overrun
    assert all(s.lateness >= 0 and s.duration >= 0 and s.cpu >= 0 for s in seen)


def test_a_stop_while_waiting_ends_the_run_at_once() -> None:
    async def go() -> tuple[int, float]:
        stop = asyncio.Event()

        async def probe_round() -> None:
            asyncio.get_running_loop().call_soon(stop.set)
        t = time.monotonic()
        n = await run_rounds(probe_round, 3600.0, stop, lambda s: None)
        return n, time.monotonic() - t
    n, took = asyncio.run(go())
    assert n == 1 and took < 60  # not the hour of the next slot


def test_max_rounds_and_a_bad_interval() -> None:
    async def nothing() -> None:
        return None
    assert asyncio.run(run_rounds(nothing, 0.001, asyncio.Event(), lambda s: None, max_rounds=3)) == 3
    with pytest.raises(ValueError):
        asyncio.run(run_rounds(nothing, 0, asyncio.Event(), lambda s: None))


def test_percentiles_by_nearest_rank() -> None:
    xs = [float(i) for i in range(100, 0, -1)]
    assert (percentile(xs, 50), percentile(xs, 99), percentile(xs, 100)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(xs, 0)
    stats = [RoundStats(i, i, 0.0, 0.0, float(i), 1.0, 0.5, 0, None) for i in range(10)]
    s = summarize(stats)
    assert (s.rounds, s.lateness_p50, s.lateness_p99, s.cpu_per_round, s.skipped) == (10, 4.0, 9.0, 0.5, 0)

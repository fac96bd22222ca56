"""collectors._wait_dump (SIGUSR1, then wait for a goroutine dump) on a fake clock: what the daemon does "while
the capture sleeps" happens in the clock's on_sleep, so waits of seconds run instantly and always alike."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from remediator.actions import StepContext
from remediator.actions.collectors import _wait_dump
from remediator.detect.facts import Facts
from remediator.hosts.fake import FakeHost, FakeService
from remediator.structs import Proc
from tests.fakes.clock import FakeClock

DOCKERD = Proc(pid=4242, ppid=1, state="S", comm="dockerd", exe="/usr/bin/dockerd", cmdline=("dockerd",), start=1)
DUMP = "=== BEGIN goroutine stack dump ===\ngoroutine 1 [running]:\n=== END goroutine stack dump ==="


def _ctx(tmp_path: Path, clock: FakeClock, service: FakeService, host: FakeHost | None = None) -> StepContext:
    facts = Facts(host="h", docker_host="unix:///x", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    return StepContext(host=host or FakeHost(), service=service, facts=facts, incident_id="i", incident_dir=tmp_path,
                       evidence_budget=30, clock=clock)


def _files(tmp_path: Path) -> set[str]:
    return {str(p) for p in tmp_path.glob("goroutine-stacks-*.log")}


def test_a_dump_file_that_appears_seconds_later_is_read_whole(tmp_path: Path) -> None:
    def daemon(now: float) -> None:
        if now >= 1003.0 and not _files(tmp_path):
            (tmp_path / "goroutine-stacks-1.log").write_text(DUMP)

    clock = FakeClock(on_sleep=daemon)
    host = FakeHost()
    ctx = _ctx(tmp_path, clock, FakeService(), host)
    t0 = time.monotonic()
    got = _wait_dump(ctx, DOCKERD, lambda: _files(tmp_path), clock.monotonic() + 30, "dockerd", False)
    assert got.decode() == f"# {tmp_path / 'goroutine-stacks-1.log'}\n{DUMP}"
    assert host.signals == [(4242, int(signal.SIGUSR1))]
    assert 1003.0 <= clock.monotonic() < 1003.3, "read within a poll (and the writer's 0.1 s) of its appearing"
    assert time.monotonic() - t0 < 5


def test_a_dump_in_the_log_is_taken_after_a_second_of_grace_for_a_file(tmp_path: Path) -> None:
    service = FakeService(log="before\n")
    clock = FakeClock(on_sleep=lambda now: setattr(service, "log", service.log + DUMP + "\n") if
                      now >= 1002.0 and DUMP not in service.log else None)
    got = _wait_dump(_ctx(tmp_path, clock, service), DOCKERD, lambda: _files(tmp_path), clock.monotonic() + 30,
                     "dockerd", True)
    assert got.decode() == "# from the daemon log\n" + DUMP
    assert 1003.0 < clock.monotonic() < 1003.2, "a file was waited for one second after the log showed the dump"


def test_a_daemon_that_never_dumps_is_a_timeout_at_the_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError, match="SIGUSR1 sent to dockerd 4242 .*no dump appeared"):
        _wait_dump(_ctx(tmp_path, clock, FakeService()), DOCKERD, lambda: _files(tmp_path), clock.monotonic() + 45,
                   "dockerd", True)
    assert clock.monotonic() == pytest.approx(1045.0), "it waited until the deadline, and no longer"

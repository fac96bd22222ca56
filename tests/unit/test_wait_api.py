"""hosts.service.wait_api (poll /_ping after a start) on a fake clock: a dockerd that answers late, one that
exits during start-up, and one that never answers, each without waiting in real time."""

from __future__ import annotations

import pytest

from remediator.errors import TemporaryStepError
from remediator.hosts.fake import FakeHost
from remediator.hosts.port import Ping
from remediator.hosts.service import wait_api
from tests.fakes.clock import FakeClock


def _refusing() -> FakeHost:
    host = FakeHost()
    host.pings["/_ping"] = Ping("refused", 0.0, "connection refused")
    return host


def test_the_seconds_until_dockerd_answers_are_returned() -> None:
    host = _refusing()
    clock = FakeClock(on_sleep=lambda now: host.pings.pop("/_ping", None) if now >= 1012.0 else None)
    assert wait_api(host, 60, clock=clock) == pytest.approx(12.0)


def test_a_dockerd_that_exits_during_start_up_is_said_at_once_with_its_log_but_not_grpc_noise() -> None:
    clock = FakeClock()
    log = "level=info msg=starting\nlevel=info msg=x module=grpc\nlevel=fatal msg=\"meta.db: invalid database\"\n"
    with pytest.raises(TemporaryStepError, match="exited during start-up:\nlevel=info msg=starting\nlevel=fatal") as exc:
        wait_api(_refusing(), 60, alive=lambda: False, log_tail=lambda n: log, clock=clock)
    assert "module=grpc" not in str(exc.value)
    assert clock.slept == [], "no wait once the process is gone"


def test_a_dockerd_that_never_answers_fails_at_the_timeout_with_the_last_ping() -> None:
    clock = FakeClock()
    with pytest.raises(TemporaryStepError, match=r"did not answer /_ping within 90s \(connection refused\)"):
        wait_api(_refusing(), 90, alive=lambda: True, clock=clock)
    assert clock.monotonic() == pytest.approx(1090.0)

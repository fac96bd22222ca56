"""A stop asked (SIGINT/SIGTERM sets the incident's stop event) while a step waits out its retry backoff cuts the backoff short:
the step's next attempt runs at once, and the incident stops before the following step (in flight, resumable)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from remediator import engine
from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.detect.facts import Facts
from remediator.errors import TemporaryStepError
from remediator.hosts.fake import FakeHost
from remediator.journal import Journal
from remediator.runbook import load_runbook
from remediator.settings import HostConfig
from remediator.structs import StepResult
from tests.fakes.incidents import run_incident

ATTEMPTS: list[float] = []
STOP = threading.Event()  # the incident's stop: what stop_on_signals' handler sets


class P(Params):
    pass


def _flaky(ctx: StepContext, p: P) -> StepResult:
    ATTEMPTS.append(time.monotonic())
    if len(ATTEMPTS) == 1:
        STOP.set()  # what stop_on_signals' handler does on SIGTERM, while this attempt runs
        raise TemporaryStepError("not yet")
    return StepResult("done on the second attempt")


action(ActionSpec("test.flaky_once", P, run=_flaky, plan=lambda c, p: StepResult("would"), mutates=False, risky=False))

RB = """schema: 1
name: flaky
steps:
  - {id: a, action: test.flaky_once, timeout: 600, retry: {attempts: 3, backoff: 300}}
  - {id: b, action: test.flaky_once}
"""


def test_a_stop_during_a_retry_backoff_wakes_it_and_the_incident_stops_before_the_next_step(tmp_path: Path) -> None:
    ATTEMPTS.clear()
    (tmp_path / "rb.yaml").write_text(RB)
    journal = Journal(tmp_path / "state")
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp_path / "d"),
                  exec_root=str(tmp_path / "e"), version="x", layout="managed", state_dirs=[], dockerd_pid=None)
    t0 = time.monotonic()
    try:
        with pytest.raises(engine.Interrupted, match="before step b"):
            run_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(tmp_path / "rb.yaml"),
                                journal=journal, approver=lambda req: (True, "t"), report=lambda *a, **k: None,
                         dry_run=False, evidence_budget=5, facts=facts, stop=STOP)
    finally:
        STOP.clear()
    assert len(ATTEMPTS) == 2, "the second attempt ran, step b never started"
    assert ATTEMPTS[1] - ATTEMPTS[0] < 10, "the 30 s backoff (300 s capped at 30) was cut short by the stop"
    assert time.monotonic() - t0 < 20
    row = journal.in_flight("h")
    assert row is not None, "the incident stays in flight, to be resumed"
    kinds = [k for _, k, _, _ in journal.events(row.id)]
    assert "retry" in kinds and "interrupted" in kinds

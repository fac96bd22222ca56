"""probe.confirm acts on the verdict that selected the runbook while it is fresh (FRESH seconds by the incident's
clock), and diagnoses the host again once it is stale: on a fake clock, a minute passes without waiting."""

from __future__ import annotations

from pathlib import Path

from remediator.actions import StepContext
from remediator.actions.probe import FRESH, ConfirmParams, confirm
from remediator.detect.facts import Facts
from remediator.detect.verdict import Verdict
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.procs import Family
from remediator.settings import HostConfig
from remediator.structs import Outcome, Proc
from tests.fakes.clock import FakeClock


def test_a_selection_verdict_is_used_while_fresh_then_the_host_is_diagnosed_again(tmp_path: Path) -> None:
    clock = FakeClock()
    host = FakeHost(config=HostConfig(name="h", docker_host="unix:///s"),
                    processes=[Proc(10, 1, "S", "dockerd", "/usr/bin/dockerd", ("dockerd",), start=1)],
                    family_of=lambda procs: Family(dockerd=[p for p in procs if p.comm == "dockerd"]))
    facts = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    selected = Verdict("dockerd-wedged", "high", "dockerd-restart", 3, 3, ["scripted"], at=clock.wall())
    ctx = StepContext(host=host, service=FakeService(), facts=facts, incident_id="i", incident_dir=tmp_path,
                      evidence_budget=1, verdict=selected, clock=clock)
    clock.advance(FRESH - 1)
    res = confirm(ctx, ConfirmParams())
    assert res.data["diagnosis"] == "dockerd-wedged" and res.changes == ["scripted"], "the selecting verdict, as is"
    clock.advance(2)
    res = confirm(ctx, ConfirmParams())
    assert res.data["diagnosis"] == "healthy" and res.stop is Outcome.HEALTHY, "stale: the (healthy) host looked at again"

"""The engine and machine with fake actions: write-ahead journal, approvals, rollback order, dry-run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from remediator.actions import ACTIONS, ActionSpec, Params, StepContext, action
from remediator.actions.probe import ConfirmParams, confirm
from remediator.detect.facts import Facts
from remediator.errors import PermanentStepError
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.local import LocalHost
from remediator.journal import Journal
from remediator.machine import mermaid
from remediator.runbook import load_runbook
from remediator.settings import HostConfig, ProbeConfig
from remediator.structs import ApprovalRequest, Outcome, StepResult
from tests.fakes.incidents import run_incident

TRACE: list[str] = []


class P(Params):
    fail: bool = False
    tag: str = ""


def _fake(ctx: StepContext, p: P) -> StepResult:
    # observable write-ahead: the journal already holds this step's intent when it runs
    kinds = [k for _, k, _, _ in JOURNAL[0].events(ctx.incident_id) if k != "state"]
    assert kinds[-1] == "intent", kinds[-3:]
    TRACE.append(p.tag)
    if p.fail:
        raise PermanentStepError(f"{p.tag} broke")
    return StepResult(f"did {p.tag}")


JOURNAL: list[Journal] = []
action(ActionSpec("test.do", P, run=_fake, plan=lambda c, p: StepResult(f"would {p.tag}"), mutates=True, risky=False))
action(ActionSpec("test.risky", P, run=_fake, plan=lambda c, p: StepResult(f"would {p.tag}"), mutates=True, risky=True))

RB = """schema: 1
name: fake
steps:
  - {id: a, action: test.do, params: {tag: a}, rollback: [{action: test.do, params: {tag: undo_a}}]}
  - {id: b, action: test.risky, params: {tag: b}, rollback: [{action: test.do, params: {tag: undo_b}}]}
  - {id: c, action: test.do, params: {tag: c, fail: FAIL_C}, rollback: [{action: test.do, params: {tag: undo_c}}]}
"""


def _run(tmp_path: Path, *, fail_c: bool = False, approve: bool = True, dry_run: bool = False) -> Any:
    TRACE.clear()
    path = tmp_path / "rb.yaml"
    path.write_text(RB.replace("FAIL_C", "true" if fail_c else "false"))
    journal = Journal(tmp_path / "state")
    JOURNAL[:] = [journal]
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp_path / "d"), exec_root=str(tmp_path / "e"),
                  version="x", layout="managed", state_dirs=[], dockerd_pid=None)
    report = run_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(path), journal=journal,
                          approver=lambda r: (approve, "test"), report=lambda *a, **k: None,
                          dry_run=dry_run, evidence_budget=5, facts=facts, service=FakeService())
    return report, journal


def test_all_steps_ok_recovers_with_intents_first(tmp_path: Path) -> None:
    report, journal = _run(tmp_path)
    assert report.outcome is Outcome.RECOVERED and TRACE == ["a", "b", "c"]
    row = journal.incident(report.incident)
    assert row is not None and row.state == "recovered"


def test_failure_rolls_back_completed_steps_in_reverse(tmp_path: Path) -> None:
    report, _ = _run(tmp_path, fail_c=True)
    assert report.outcome is Outcome.ROLLED_BACK
    assert TRACE == ["a", "b", "c", "undo_c", "undo_b", "undo_a"]


def test_denied_risky_step_never_runs(tmp_path: Path) -> None:
    report, journal = _run(tmp_path, approve=False)
    assert "b" not in TRACE and "c" not in TRACE
    assert TRACE == ["a", "undo_a"] and report.outcome is Outcome.ROLLED_BACK
    approvals = [d for _, k, _, d in journal.events(report.incident) if k == "approval"]
    assert [{k: a[k] for k in ("approved", "by")} for a in approvals] == [{"approved": False, "by": "test"}]
    assert len(approvals[0]["plan_sha256"]) == 64, "an approval records what was approved: step, params, facts"


def test_dry_run_runs_nothing(tmp_path: Path) -> None:
    report, _ = _run(tmp_path, dry_run=True)
    assert report.outcome is Outcome.PLANNED and TRACE == []


def test_graph_shows_the_approval_gates() -> None:
    text = mermaid(load_runbook(Path(__file__).parents[2] / "runbooks" / "docker-libcontainerd.yaml"))
    assert "step_reset_failed --> approve_quarantine: ask_quarantine [guards_ok]" in text
    assert "approve_quarantine --> step_quarantine: run_quarantine [approved]" in text
    assert "stateDiagram-v2" in text


LINES = {
    "S10": 'level=warning msg="failed to load plugin io.containerd.grpc.v1.leases" error="invalid database"',
    "S20": "failed to start daemon: pid file found, ensure docker is not running or delete /var/run/docker.pid",
    "S09": 'failed to start daemon: failed to dial "/run/docker/containerd/containerd.sock": unknown service',
}


def test_fix_fits_the_diagnosis_stale_pidfile_refuses(tmp_path: Path) -> None:
    """Invariant 9: dockerd down with a stale-pidfile error is never treated as corrupt containerd state."""
    log = "\n".join(['level=info msg="Starting up"', LINES["S10"], LINES["S20"]])
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp_path), exec_root=str(tmp_path / "e"),
                  version="x", layout="managed", state_dirs=[], dockerd_pid=None)
    ctx = StepContext(host=LocalHost(HostConfig(name="h", docker_host=f"unix://{tmp_path}/none.sock")),
                      service=FakeService(log), facts=facts, incident_id="i", incident_dir=tmp_path, evidence_budget=1,
                      probe=ProbeConfig(timeout=0.5, interval=0))
    seed = ConfirmParams(expect=["containerd-state", "dockerd-wedged"])
    res = confirm(ctx, seed)
    assert res.stop is Outcome.REFUSED and res.data["diagnosis"] == "stale-pidfile"
    assert "use runbook dockerd-restart" in res.summary
    ctx.service = FakeService("\n".join(['level=info msg="Starting up"', LINES["S10"], LINES["S09"]]))
    res = confirm(ctx, seed)
    assert res.stop is None and res.data["diagnosis"] == "containerd-state"


def test_fake_actions_registered() -> None:
    assert "test.do" in ACTIONS


def _drain_only(tmp_path: Path, hcfg: HostConfig, answer: bool) -> tuple[Any, FakeHost, list[str]]:
    tmp_path.mkdir()
    path = tmp_path / "drain.yaml"
    path.write_text("schema: 1\nname: drain\nsteps:\n  - {id: drain, action: hooks.drain, risk: risky, "
                    "rollback: [{action: hooks.undrain}]}\n")
    host, asked = FakeHost(hcfg), []
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp_path / "d"), exec_root=str(tmp_path / "e"),
                  version="x", layout="managed", state_dirs=[], dockerd_pid=None)

    def approver(request: ApprovalRequest) -> tuple[bool, str]:
        asked.append(request.step)
        return answer, "test"

    report = run_incident(host=host, runbook=load_runbook(path), journal=Journal(tmp_path / "state"), approver=approver,
                          report=lambda *a, **k: None, dry_run=False, evidence_budget=5, facts=facts,
                          service=FakeService())
    return report, host, asked


def test_a_risky_step_is_asked_unless_its_plan_changes_nothing(tmp_path: Path) -> None:
    """The approval invariant, with its one exception: a risky step whose plan changes nothing (a drain step on a
    host without a drain hook) runs unasked; with a hook it is asked, and a no runs nothing."""
    report, host, asked = _drain_only(tmp_path / "a", HostConfig(name="h"), answer=False)
    assert report.outcome is Outcome.RECOVERED and asked == [] and host.ran == []
    hooked = HostConfig(name="h", drain=["kubectl", "drain", "h"], undrain=["kubectl", "uncordon", "h"])
    report, host, asked = _drain_only(tmp_path / "b", hooked, answer=False)
    assert report.outcome is Outcome.REFUSED and asked == ["drain"] and host.ran == []
    report, host, asked = _drain_only(tmp_path / "c", hooked, answer=True)
    assert report.outcome is Outcome.RECOVERED and asked == ["drain"] and host.ran == [("kubectl", "drain", "h")]

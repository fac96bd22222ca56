"""The incident lifecycle's hand-offs (fake actions, FakeHost): heal_host connects its host once, resolves its facts
once and always returns a Report; approvers get an ApprovalRequest; the Reporter carries StepEvents (the daemon's
step metric comes from them); a resume's course is a typed Course; the incident directory describes itself."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from remediator import app, resume
from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.detect import facts as factsmod
from remediator.detect.facts import Facts
from remediator.detect.verdict import Verdict
from remediator.engine import Interrupted
from remediator.hosts.fake import FakeHost, FakeService
from remediator.incident import IncidentSettings, open_incident
from remediator.journal import Journal
from remediator.ladder import heal
from remediator.machine import mermaid
from remediator.runbook import load_runbook
from remediator.settings import HostConfig, load_settings
from remediator.structs import ApprovalRequest, Outcome, StepEvent, StepResult
from remediator.vocab import StepStatus
from tests.fakes.incidents import run_incident

RAN: list[str] = []


class Tag(Params):
    tag: str = ""


def _do(ctx: StepContext, p: Tag) -> StepResult:
    RAN.append(p.tag)
    return StepResult(f"did {p.tag}")


action(ActionSpec("lifecycle.do", Tag, run=_do, plan=lambda c, p: StepResult(f"would {p.tag}"), mutates=True,
                  risky=False))
action(ActionSpec("lifecycle.risky", Tag, run=_do, plan=lambda c, p: StepResult(f"would {p.tag}", [f"change {p.tag}"]),
                  mutates=True, risky=True))

RB = """schema: 1
name: life
steps:
  - {id: a, action: lifecycle.do, params: {tag: a}, rollback: [{action: lifecycle.do, params: {tag: undo_a}}]}
  - {id: b, action: lifecycle.risky, params: {tag: b}, rollback: [{action: lifecycle.do, params: {tag: undo_b}}]}
  - {id: v, action: docker.verify, params: {snapshot_step: a}}
"""


def _facts(tmp: Path) -> Facts:
    return Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp / "d"), exec_root=str(tmp / "e"),
                 version="x", layout="managed", state_dirs=[], dockerd_pid=None)


def _runbook(tmp: Path, text: str = RB) -> Path:
    path = tmp / "life.yaml"
    path.write_text(text)
    return path


def _two_steps(tmp: Path) -> Path:
    return _runbook(tmp, RB.replace("  - {id: v, action: docker.verify, params: {snapshot_step: a}}\n", ""))


def test_the_approver_gets_a_typed_request_bound_to_the_journaled_plan(tmp_path: Path) -> None:
    asked: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> tuple[bool, str]:
        asked.append(request)
        return False, "said no"
    journal = Journal(tmp_path / "state")
    report = run_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(_two_steps(tmp_path)),
                          journal=journal, approver=approver, report=lambda *a, **k: None, dry_run=False,
                          evidence_budget=5, facts=_facts(tmp_path), service=FakeService())
    (req,) = asked
    approval = next(d for _, k, s, d in journal.events(str(report.incident)) if k == "approval")
    assert (req.incident, req.step, req.action) == (report.incident, "b", "lifecycle.risky")
    assert req.summary == "would b" and req.changes == ["change b"] and req.plan_sha256 == approval["plan_sha256"]
    assert report.outcome is Outcome.ROLLED_BACK and RAN[-2:] == ["a", "undo_a"]
    refused = [row for row in report.steps if row.status is StepStatus.REFUSED]
    assert [(r.step, r.text) for r in refused] == [("b", "said no")]


def test_the_reporter_carries_a_step_event_for_each_action_that_ended(tmp_path: Path) -> None:
    events: list[StepEvent] = []

    def report(kind: str, step: str | None, text: str, lines: list[str] | None = None, *,
               event: StepEvent | None = None) -> None:
        if event is not None:
            events.append(event)
    run_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(_two_steps(tmp_path)),
                 journal=Journal(tmp_path / "state"), approver=lambda r: (True, "t"), report=report, dry_run=False,
                 evidence_budget=5, facts=_facts(tmp_path), service=FakeService())
    assert [(e.step, e.action, e.ok) for e in events] == [("a", "lifecycle.do", True), ("b", "lifecycle.risky", True)]
    assert all(0 <= e.seconds < 30 for e in events)


def test_the_daemons_step_metric_comes_from_the_event(tmp_path: Path) -> None:
    from remediator.daemon.core import Daemon

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'api.sock'}}}\n"
                   "hosts:\n  - name: h\n    policy: auto\n")
    d = Daemon(cfg, load_settings(cfg), log=lambda e, **f: None)
    try:
        faces = d.workers.faces(d.settings.hosts[0])
        faces.report("ok", "a", "did a (0.2s)", event=StepEvent("a", "lifecycle.do", 0.2, True))
        faces.report("start", "b", "lifecycle.do")  # no event: no observation
        metrics = d.metrics.render().decode()
        assert 'remediator_step_duration_seconds_count{action="lifecycle.do"} 1.0' in metrics, metrics
        assert faces.stop is d.stop, "SIGTERM's event is the incidents' stop"
    finally:
        d.close()


def test_a_stop_set_before_a_step_leaves_the_incident_in_flight(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    ctx = open_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(_two_steps(tmp_path)),
                            journal=journal, report=lambda *a, **k: None, dry_run=False,
                            config=IncidentSettings(evidence_budget=5), facts=_facts(tmp_path),
                            service=FakeService())
    stop = threading.Event()
    stop.set()
    RAN.clear()
    with pytest.raises(Interrupted):
        heal(ctx, load_runbook(_two_steps(tmp_path)), journal=journal, approver=lambda r: (True, "t"),
                 report=lambda *a, **k: None, dry_run=False, stop=stop)
    assert RAN == [] and journal.in_flight("h") is not None
    assert [k for _, k, _, _ in journal.events(ctx.incident_id)][-1] == "interrupted"


def test_the_incident_directory_describes_itself(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    report = run_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(_two_steps(tmp_path)),
                          journal=journal, approver=lambda r: (True, "t"), report=lambda *a, **k: None, dry_run=False,
                          evidence_budget=5, facts=_facts(tmp_path), service=FakeService())
    d = Path(report.dir)
    record = json.loads((d / "incident.json").read_text())
    assert record["incident"] == report.incident and record["outcome"] == "recovered"
    assert [(s["step"], s["status"]) for s in record["steps"]] == [("a", "ok"), ("b", "ok")]
    assert record["facts"]["host"] == "h" and record["ended"] >= record["started"]
    lines = [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["step"]) for e in lines] == [(k, s) for _, k, s, _ in journal.events(str(report.incident))]
    for name in ("incident.json", "events.jsonl"):
        assert stat.S_IMODE(os.stat(d / name).st_mode) == 0o600


def test_facts_survive_the_journal_round_trip(tmp_path: Path) -> None:
    facts = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="24.0.7", layout="managed",
                  state_dirs=["/e/containerd"], dockerd_pid=42, notes=["n"], containerd_sock="/e/c.sock",
                  containerd_pidfile="/e/c.pid")
    back = Facts.from_record(json.loads(json.dumps(facts.to_record())))
    assert back.as_vars() == facts.as_vars() and back.dockerd_pid == 42
    assert (back.containerd_sock, back.containerd_pidfile) == ("/e/c.sock", "/e/c.pid")
    assert back.notes == ["n", "facts read back from the journal"]


def _point(tmp: Path, done: list[tuple[str, dict[str, Any], bool]], pending: str | None = None) -> resume.ResumePoint:
    journal = Journal(tmp / "state")
    row = journal.open_incident(host="h", runbook="life", sha256="", dry_run=False)
    return resume.ResumePoint(row, _facts(tmp), [], "life", "", 1, resume.Progress(done=done, pending=pending))


HEALTHY = Verdict("healthy", "high", None, 0, 1, ["scripted"])
SICK = Verdict("containerd-state", "high", "life", 1, 1, ["scripted"])


def test_the_course_of_a_resume_is_a_typed_value(tmp_path: Path) -> None:
    rb = load_runbook(_runbook(tmp_path))
    nothing = resume.course(rb, _point(tmp_path / "1", []), HEALTHY)
    assert nothing.kind is resume.CourseKind.CLOSE_HEALTHY and nothing.skip_to is None
    assert nothing.why.startswith(resume.HEALED_ALONE)
    changed = resume.course(rb, _point(tmp_path / "2", [("a", {}, True)]), HEALTHY)
    assert (changed.kind, changed.skip_to) == (resume.CourseKind.SKIP_TO_VERIFY, "v")
    assert "changed so far: a" in changed.skipped
    sick = resume.course(rb, _point(tmp_path / "3", [("a", {}, True)], pending="b"), SICK)
    assert sick.kind is resume.CourseKind.GO_ON and sick.skip_to is None
    assert sick.why == "going on with life in the middle of step b (None)"


def test_heal_host_connects_once_resolves_facts_once_and_returns_a_report(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One run: one Host built and one facts resolution, whether the verdict selects nothing (a Report with no
    incident, the verdict attached) or a runbook given by file runs."""
    built: list[FakeHost] = []
    resolved: list[str] = []
    real_resolve = factsmod.resolve

    def connect(hcfg: HostConfig) -> FakeHost:
        built.append(FakeHost(hcfg))
        return built[-1]

    def resolve(host: Any) -> Facts:
        resolved.append(host.name)
        return real_resolve(host)
    monkeypatch.setattr(app, "connect", connect)
    monkeypatch.setattr(factsmod, "resolve", resolve)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nprobe: {{timeout: 0.5, interval: 0, debounce: 1}}\n"
                   f"hosts:\n  - name: h\n    docker_host: unix://{tmp_path / 'no.sock'}\n"
                   f"    data_root: {tmp_path / 'd'}\n    exec_root: {tmp_path / 'e'}\n")
    settings = load_settings(cfg)
    faces = app.Faces(approver=lambda r: (True, "t"), report=lambda *a, **k: None)
    report = app.heal_host(settings, "h", str(_two_steps(tmp_path)), dry_run=False, faces=faces)
    assert report.outcome is Outcome.RECOVERED and report.incident is not None
    assert (len(built), resolved) == (1, ["h"])
    built.clear()
    resolved.clear()
    nothing = app.heal_host(settings, "h", "auto", dry_run=False,
                            faces=faces, diagnosed=(_facts(tmp_path), HEALTHY))
    assert (nothing.incident, nothing.outcome, nothing.verdict) == (None, Outcome.HEALTHY, HEALTHY)
    assert nothing.summary == "nothing to do: healthy"
    assert (len(built), resolved) == (1, [])


def test_the_machine_has_no_state_it_never_enters(tmp_path: Path) -> None:
    assert "quarantined" not in mermaid(load_runbook(_runbook(tmp_path)))

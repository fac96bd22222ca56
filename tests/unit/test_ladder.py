"""The ladder with fake actions and a scripted re-diagnosis: when it climbs, when it stops, and what it
journals. The real-dockerd side (meta.db, local-kv.db, containerd pidfile) is tests/e2e/test_ladder.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.detect.facts import Facts
from remediator.detect.verdict import Verdict
from remediator.errors import PermanentStepError
from remediator.hosts.fake import FakeHost, FakeService
from remediator.incident import IncidentSettings, Report, open_incident
from remediator.journal import Journal
from remediator.ladder import heal, next_step
from remediator.runbook import Runbook, load_runbook
from remediator.settings import HostConfig
from remediator.structs import EXIT_CODES, Outcome, StepResult

RAN: list[str] = []


class Do(Params):
    tag: str
    fail: bool = False
    noop: bool = False


def _do(ctx: StepContext, p: Do) -> StepResult:
    RAN.append(p.tag)
    if p.fail:
        raise PermanentStepError(f"{p.tag} broke")
    return StepResult(f"did {p.tag}", changed=not p.noop)


action(ActionSpec("ladder.do", Do, run=_do, plan=lambda c, p: StepResult(f"would {p.tag}"), mutates=True, risky=False))
action(ActionSpec("ladder.risky", Do, run=_do, plan=lambda c, p: StepResult(f"would {p.tag}"), mutates=True, risky=True))


def _runbook(tmp: Path, name: str, *, fail: bool, undo_fails: bool = False, risky: bool = False, noop: bool = False) -> Runbook:
    kind = "ladder.risky" if risky else "ladder.do"
    path = tmp / f"{name}.yaml"
    path.write_text(f"""schema: 1
name: {name}
steps:
  - {{id: change, action: {kind}, params: {{tag: {name}, noop: {str(noop).lower()}}},
      rollback: [{{action: ladder.do, params: {{tag: undo_{name}, fail: {str(undo_fails).lower()}}}}}]}}
  - {{id: check, action: ladder.do, params: {{tag: check_{name}, fail: {str(fail).lower()}}}}}
""")
    return load_runbook(path)


def _verdict(runbook: str | None, diagnosis: str = "containerd-state") -> Verdict:
    return Verdict(diagnosis, "high", runbook, streak=1, rounds=1, trace=[f"scripted {diagnosis}"])


def _heal(tmp: Path, books: dict[str, Runbook], first: str, verdicts: list[Verdict], *, max_steps: int = 2,
          approve: bool = True, dry_run: bool = False) -> tuple[Report, Journal, list[Verdict]]:
    RAN.clear()
    journal = Journal(tmp / "state")
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp / "d"), exec_root=str(tmp / "e"),
                  version="x", layout="managed", state_dirs=[], dockerd_pid=None)
    ctx = open_incident(host=FakeHost(HostConfig(name="h")), runbook=books[first], journal=journal,
                        report=lambda *a, **k: None, dry_run=dry_run, config=IncidentSettings(evidence_budget=5), facts=facts,
                        service=FakeService())
    asked: list[Verdict] = []

    def rediagnose(_ctx: StepContext) -> Verdict:
        asked.append(verdicts[len(asked)])
        return asked[-1]

    report = heal(ctx, books[first], journal=journal, approver=lambda r: (approve, "test"),
                  report=lambda *a, **k: None, dry_run=dry_run, max_steps=max_steps, rediagnose=rediagnose,
                  load=books.__getitem__)
    return report, journal, asked


def _events(journal: Journal, report: Report, kind: str) -> list[dict[str, object]]:
    return [d for _, k, _, d in journal.events(report.incident) if k == kind]


def test_a_rolled_back_rung_climbs_to_the_runbook_the_new_verdict_selects(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True), "two": _runbook(tmp_path, "two", fail=False)}
    report, journal, asked = _heal(tmp_path, books, "one", [_verdict("two")])
    assert report.outcome is Outcome.RECOVERED and report.chain == ["one", "two"]
    assert RAN == ["one", "check_one", "undo_one", "two", "check_two"]
    assert [e["runbook"] for e in _events(journal, report, "rung")] == ["one", "two"]
    assert "chain: one → two" in report.summary and len(journal.incidents()) == 1


def test_a_second_rung_that_would_repeat_a_runbook_escalates(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True)}
    report, _, _ = _heal(tmp_path, books, "one", [_verdict("one")])
    assert report.outcome is Outcome.ESCALATED and EXIT_CODES[report.outcome] == 6
    assert "already ran" in report.summary and RAN.count("one") == 1


def test_a_third_rung_escalates_instead(tmp_path: Path) -> None:
    books = {n: _runbook(tmp_path, n, fail=True) for n in ("one", "two", "three")}
    report, _, asked = _heal(tmp_path, books, "one", [_verdict("two"), _verdict("three")], max_steps=2)
    assert report.outcome is Outcome.ESCALATED and report.chain == ["one", "two"]
    assert "three" not in RAN and "ladder.max_steps" in report.summary and len(asked) == 2


def test_a_host_left_changed_is_failed_and_never_climbs(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True, undo_fails=True), "two": _runbook(tmp_path, "two", fail=False)}
    report, _, asked = _heal(tmp_path, books, "one", [_verdict("two")])
    assert report.outcome is Outcome.FAILED and EXIT_CODES[report.outcome] == 1
    assert asked == [] and "two" not in RAN


def test_a_failure_that_changed_nothing_is_not_needs_a_person_now(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True, noop=True)}
    report, _, _ = _heal(tmp_path, books, "one", [_verdict(None, "healthy")])
    assert report.outcome is Outcome.NOT_HEALED and EXIT_CODES[report.outcome] == 3
    assert "undo_one" not in RAN, "nothing changed, so nothing to undo"


def test_a_refused_approval_never_climbs(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True, risky=True), "two": _runbook(tmp_path, "two", fail=False)}
    report, _, asked = _heal(tmp_path, books, "one", [_verdict("two")], approve=False)
    assert report.outcome is Outcome.REFUSED and asked == [] and RAN == []


def test_every_rung_asks_for_its_own_risky_steps(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True), "two": _runbook(tmp_path, "two", fail=False, risky=True)}
    report, journal, _ = _heal(tmp_path, books, "one", [_verdict("two")], approve=False)
    assert report.outcome is Outcome.REFUSED and report.chain == ["one", "two"] and "two" not in RAN
    assert [d["approved"] for d in _events(journal, report, "approval")] == [False]


def test_dry_run_plans_the_first_rung_only_and_says_what_would_follow(tmp_path: Path) -> None:
    books = {"one": _runbook(tmp_path, "one", fail=True)}
    lines: list[str] = []
    journal = Journal(tmp_path / "state")
    facts = Facts(host="h", docker_host="unix:///x", data_root=str(tmp_path / "d"), exec_root=str(tmp_path / "e"),
                  version="x", layout="managed", state_dirs=[], dockerd_pid=None)
    ctx = open_incident(host=FakeHost(HostConfig(name="h")), runbook=books["one"], journal=journal,
                        report=lambda *a, **k: None, dry_run=True, config=IncidentSettings(evidence_budget=5), facts=facts,
                        service=FakeService())
    RAN.clear()
    report = heal(ctx, books["one"], journal=journal, approver=lambda r: (True, "t"),
                  report=lambda kind, step, text, more=None, **_: lines.append(text), dry_run=True)
    assert report.outcome is Outcome.PLANNED and RAN == []
    assert any("diagnoses again" in t and "never the same one twice" in t for t in lines)


@pytest.mark.parametrize(("diagnosis", "runbook", "want"), [
    ("suspect", None, None), ("healthy", None, None), ("kernel-hang", "escalate", Outcome.ESCALATED)])
def test_next_step_stops_on_an_unsettled_healthy_or_escalating_verdict(diagnosis: str, runbook: str | None,
                                                                        want: Outcome | None) -> None:
    step = next_step(["dockerd-restart"], _verdict(runbook, diagnosis), 2)
    assert step.runbook is None and step.outcome is want

"""Resume from the journal alone (fake actions; the real-dockerd kill tests are tests/e2e/test_resume.py):
a killed operator's completed steps are not run again, an idempotent step that was running runs again,
and a non-idempotent one is rolled back from there, never repeated."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from remediator import resume
from remediator.detect.verdict import Verdict
from remediator.hosts.fake import FakeHost
from remediator.hosts.local import LocalHost
from remediator.incident import IncidentSettings, incident_context
from remediator.journal import Journal
from remediator.ladder import heal
from remediator.runbook import load_runbook
from remediator.settings import HostConfig
from remediator.structs import EXIT_INTERRUPTED, ApprovalRequest, Outcome
from tests.fakes import resume_actions as fake

REPO = Path(__file__).resolve().parents[2]


def _killed_at(tmp: Path, point: str, code: int = -9) -> Journal:
    res = subprocess.run([sys.executable, "-m", "tests.fakes.resume_actions", str(tmp), point], cwd=REPO,
                         capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert res.returncode == code, res.stderr
    return Journal(tmp / "state")


def _resume(tmp: Path, journal: Journal) -> Outcome:
    row = journal.in_flight("h")
    assert row is not None
    was = resume.read(journal, row)
    ctx = incident_context(row.id, row.dir, host=LocalHost(HostConfig(name="h")), facts=was.facts,
                           report=lambda *a, **k: None, config=IncidentSettings(evidence_budget=5))
    rb = load_runbook(fake.runbook(tmp))
    report = heal(ctx, rb, journal=journal, approver=lambda r: (True, "t"), report=lambda *a, **k: None,
                  dry_run=False, point=was,
                  rediagnose=lambda _ctx: Verdict("healthy", "high", None, 0, 1, ["scripted"]))  # no second rung
    assert journal.in_flight("h") is None, "a resumed incident always ends"
    return report.outcome


def test_completed_steps_are_not_run_again(tmp_path: Path) -> None:
    journal = _killed_at(tmp_path, "after:b")
    assert (tmp_path / "log").read_text().split() == ["a", "b"]
    assert _resume(tmp_path, journal) is Outcome.RECOVERED
    assert (tmp_path / "log").read_text().split() == ["a", "b", "c"]


def test_an_idempotent_step_that_was_running_runs_again(tmp_path: Path) -> None:
    journal = _killed_at(tmp_path, "during:a")
    row = journal.in_flight("h")
    assert row is not None and resume.read(journal, row).progress.pending == "a"
    assert _resume(tmp_path, journal) is Outcome.RECOVERED
    assert (tmp_path / "log").read_text().split() == ["a", "a", "b", "c"]


def test_a_non_idempotent_step_that_was_running_is_rolled_back_not_repeated(tmp_path: Path) -> None:
    journal = _killed_at(tmp_path, "during:b")
    assert _resume(tmp_path, journal) is Outcome.ROLLED_BACK
    assert (tmp_path / "log").read_text().split() == ["a", "b", "undo_b", "undo_a"]


def test_the_journal_has_a_schema_version(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    assert journal.db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_rollback_under_way_goes_on_without_repeating_what_was_undone(tmp_path: Path) -> None:
    (tmp_path / "c-breaks").touch()
    journal = _killed_at(tmp_path, "undone:b")
    assert (tmp_path / "log").read_text().split() == ["a", "b", "undo_b"]
    assert _resume(tmp_path, journal) is Outcome.ROLLED_BACK
    assert (tmp_path / "log").read_text().split() == ["a", "b", "undo_b", "undo_a"]


def test_sigterm_finishes_the_step_journals_interrupted_and_exits_7(tmp_path: Path) -> None:
    (tmp_path / "b-terms").touch()
    journal = _killed_at(tmp_path, "", code=EXIT_INTERRUPTED)
    assert (tmp_path / "log").read_text().split() == ["a", "b"], "b finished although SIGTERM came while it ran"
    row = journal.in_flight("h")
    assert row is not None and any(k == "interrupted" for _, k, _, _ in journal.events(row.id))
    assert _resume(tmp_path, journal) is Outcome.RECOVERED
    assert (tmp_path / "log").read_text().split() == ["a", "b", "c"]


def _resume_counting_asks(tmp: Path, journal: Journal, exec_root: str | None = None) -> list[str]:
    row = journal.in_flight("h")
    assert row is not None
    was = resume.read(journal, row)
    facts = was.facts if exec_root is None else replace(was.facts, exec_root=exec_root)
    ctx = incident_context(row.id, row.dir, host=FakeHost(), facts=facts, report=lambda *a, **k: None, config=IncidentSettings(evidence_budget=5))
    asked: list[str] = []

    def approver(request: ApprovalRequest) -> tuple[bool, str]:
        asked.append(request.step)
        return True, "asked again"
    heal(ctx, load_runbook(fake.runbook(tmp)), journal=journal, approver=approver, report=lambda *a, **k: None,
         dry_run=False, point=was,
         rediagnose=lambda _ctx: Verdict("healthy", "high", None, 0, 1, ["scripted"]))
    return asked


def test_an_approval_holds_for_the_same_plan_and_is_asked_again_when_the_facts_changed(tmp_path: Path) -> None:
    same, changed = tmp_path / "same", tmp_path / "changed"
    for d in (same, changed):
        d.mkdir()
        (d / "b-risky").touch()
    assert _resume_counting_asks(same, _killed_at(same, "during:b")) == [], "approved before the restart, same plan"
    assert _resume_counting_asks(changed, _killed_at(changed, "during:b"), exec_root="/elsewhere") == ["b"]

"""Faults inside steps: an OSError half-way through an action is a failed step, rolled back, the
incident closed with an outcome — never a traceback, never left open (the shipped FakeHost: real files in
a temp dir, an EIO injected into the state surgery's Nth removal or rename)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.detect.facts import Facts
from remediator.hosts.fake import FakeHost, FakeService, Faults
from remediator.journal import Journal
from remediator.runbook import load_runbook
from remediator.settings import HostConfig
from remediator.structs import EXIT_CODES, Outcome, StepResult
from tests.conftest import digest
from tests.fakes.incidents import run_incident

RB = """schema: 1
name: clear-with-fault
steps:
  - id: backup
    action: files.backup
    params: {paths: ["{exec_root}/containerd"]}
  - id: clear
    action: files.clear
    risk: risky
    params: {paths: ["{exec_root}/containerd"], backup_step: backup}
    guards: [{check: backup.verified, params: {step: backup}}]
    rollback: [{action: files.restore, params: {paths: ["{exec_root}/containerd"], backup_step: backup}}]
"""


def _tree(root: Path) -> Path:
    state = root / "exec" / "containerd"
    for i in range(12):
        d = state / f"c{i:02d}"
        d.mkdir(parents=True)
        (d / "state.json").write_text(f'{{"id": {i}}}')
        (d / "config.json").write_bytes(os.urandom(512))
    os.symlink("c00/state.json", state / "link")
    return state


def _incident(tmp: Path, runbook: str, faults: Faults | None = None) -> tuple[Any, Journal]:
    path = tmp / "rb.yaml"
    path.write_text(runbook)
    journal = Journal(tmp / "state")
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp / "data"), exec_root=str(tmp / "exec"),
                  version="20.10", layout="managed", state_dirs=[str(tmp / "exec" / "containerd")], dockerd_pid=None)
    host = FakeHost(HostConfig(name="h"), faults=faults or Faults())
    report = run_incident(host=host, runbook=load_runbook(path), journal=journal,
                          approver=lambda r: (True, "test"), report=lambda *a, **k: None, dry_run=False,
                          evidence_budget=5, facts=facts, service=FakeService())
    return report, journal


def test_eio_half_way_through_clear_is_rolled_back_byte_identical(tmp_path: Path) -> None:
    state = _tree(tmp_path)
    before = digest(str(state))
    faults = Faults(fail_removal=5)  # five entries in: the disk fails
    report, journal = _incident(tmp_path, RB, faults)
    assert report.outcome is Outcome.ROLLED_BACK and EXIT_CODES[report.outcome] == 3
    assert faults.removals == 5, "the clear really failed half-way (the restore moves, it removes nothing)"
    assert digest(str(state)) == before, "the half-cleared directory is restored byte for byte"
    row = journal.incident(report.incident)
    assert row is not None and row.outcome == "rolled_back" and row.ended is not None
    errors = [d for _, k, _, d in journal.events(report.incident) if k == "result" and d.get("ok") is False]
    assert any("Input/output error" in str(d.get("error")) for d in errors)


class Boom(Params):
    pass


def _boom(ctx: StepContext, p: Boom) -> StepResult:
    raise KeyError("a bug in an action")


action(ActionSpec("test.boom", Boom, run=_boom, plan=_boom, mutates=True, risky=False))


def test_a_bug_in_an_action_fails_the_step_and_closes_the_incident(tmp_path: Path) -> None:
    _tree(tmp_path)
    report, journal = _incident(tmp_path, "schema: 1\nname: boom\nsteps:\n  - {id: b, action: test.boom}\n")
    assert report.outcome is Outcome.NOT_HEALED
    row = journal.incident(report.incident)
    assert row is not None and row.outcome == "not_healed" and "KeyError" in (row.summary or "")


def test_a_guard_that_raises_refuses_its_step(tmp_path: Path) -> None:
    """paths.confined on a path through a regular file: lstat raises NotADirectoryError inside the guard."""
    state = _tree(tmp_path)
    before = digest(str(state))
    rb = RB.replace("guards: [{check: backup.verified, params: {step: backup}}]",
                    'guards: [{check: paths.confined, params: {paths: ["{exec_root}/containerd/c00/state.json/x"]}}]')
    report, _ = _incident(tmp_path, rb)
    assert report.outcome is Outcome.NOT_HEALED, report.summary
    assert digest(str(state)) == before
    assert any(status == "failed" and "guard refused" in text for _, status, text in report.steps), report.steps


QRB = """schema: 1
name: quarantine-with-fault
steps:
  - id: aside
    action: files.quarantine
    risk: risky
    params: {paths: ["{exec_root}/containerd"]}
    rollback: [{action: files.unquarantine, params: {paths: ["{exec_root}/containerd"], quarantine_step: aside}}]
  - {id: b, action: test.boom}
"""


def test_eio_on_the_rename_back_fails_loud_and_loses_nothing(tmp_path: Path) -> None:
    """The quarantine's rename works, the step after fails, and the rollback's first rename hits EIO: the
    incident ends with an outcome (never open), and the quarantined tree is still there, byte-identical."""
    state = _tree(tmp_path)
    before = digest(str(state))
    faults = Faults(fail_rename=3)  # 1: the record, 2: the tree aside; 3: the new empty dir aside, on the way back
    report, journal = _incident(tmp_path, QRB, faults)
    assert report.outcome is not Outcome.RECOVERED and faults.renames == 3
    row = journal.incident(report.incident)
    assert row is not None and row.ended is not None
    kept = tmp_path / "exec" / ".remediator-quarantine" / report.incident
    assert digest(str(next(p for p in kept.iterdir() if p.is_dir()))) == before

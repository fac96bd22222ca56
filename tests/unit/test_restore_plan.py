"""files.restore's plan lists only what a run would restore (issue 9, item 11): the paths the backup step
covers, inside the roots; every other path is named with the reason it is not restored."""

from __future__ import annotations

import os
from pathlib import Path

from remediator.actions import StepContext
from remediator.actions.files import BackupParams, ClearParams, backup, plan_backup, plan_restore, restore
from remediator.detect.facts import Facts
from remediator.hosts.fake import FakeHost, FakeService
from tests.conftest import digest


def _ctx(tmp: Path) -> StepContext:
    state = tmp / "exec" / "containerd"
    (state / "daemon").mkdir(parents=True)
    (state / "daemon" / "meta.db").write_bytes(os.urandom(256))
    (tmp / "data").mkdir()
    facts = Facts(host="h", docker_host="unix:///x", data_root=str(tmp / "data"), exec_root=str(tmp / "exec"),
                  version="20.10", layout="managed", state_dirs=[str(state)], dockerd_pid=None)
    return StepContext(host=FakeHost(), service=FakeService(), facts=facts, incident_id="i",
                       incident_dir=tmp / "incident", evidence_budget=1)


def test_the_restore_plan_names_only_what_the_backup_covers_inside_the_roots(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    state, absent = str(tmp_path / "exec" / "containerd"), str(tmp_path / "exec" / "libcontainerd")
    outside = str(tmp_path / "elsewhere")
    ref = ClearParams(paths=[state, absent, outside], backup_step="backup")
    # a dry-run: the backup step was only planned; its plan says what it would copy (the absent dir: nothing)
    ctx.outputs["backup"] = plan_backup(ctx, BackupParams(paths=[state, absent])).data
    plan = plan_restore(ctx, ref)
    assert plan.summary == f"would restore {state} from the backup of step backup", plan.summary
    assert plan.changes[0].startswith(f"{state} <- {ctx.incident_dir / 'backup'}/")
    assert f"not restored: {absent}: step backup has no backup of it" in plan.changes[1]
    assert f"not restored: {outside}: step backup has no backup of it" in plan.changes[2]
    # a run: the backup ran; the plan reads its manifests, and a run restores exactly what the plan named
    ctx.outputs["backup"] = backup(ctx, BackupParams(paths=[state, absent])).data
    before = digest(state)
    assert plan_restore(ctx, ref).summary == f"would restore {state} from the backup of step backup"
    (Path(state) / "daemon" / "meta.db").write_bytes(b"corrupt")
    done = restore(ctx, ref)
    assert [c.split(":")[0] for c in done.changes] == [state] and digest(state) == before


def test_a_covered_path_outside_the_roots_is_named_as_refused(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    outside = str(tmp_path / "elsewhere")
    ctx.outputs["backup"] = {"manifests": {outside: str(tmp_path / "m.manifest.json")}}
    plan = plan_restore(ctx, ClearParams(paths=[outside], backup_step="backup"))
    assert plan.summary == "would restore nothing from the backup of step backup"
    assert plan.changes[0].startswith(f"not restored: {outside}: a run refuses it (refusing")


def test_no_backup_step_output_restores_nothing(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    plan = plan_restore(ctx, ClearParams(paths=[str(tmp_path / "exec" / "containerd")], backup_step="nope"))
    assert plan.summary.startswith("would restore nothing: step nope recorded no backup")
    assert plan.changes == [f"not restored: {tmp_path / 'exec' / 'containerd'}: no backup of step nope"]

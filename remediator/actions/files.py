"""files.backup / files.clear / files.restore: the containerd state surgery.

Invariants enforced here, not only in runbooks: nothing is cleared without a verified backup of
exactly that path; a clear stays inside the effective data-root/exec-root, never a root itself,
never through a symlink, never into a mount; a restore is verified byte for byte.
Every host-side file operation goes through the Host port (`ctx.host.fs`); the incident directory
(backups, manifests, displaced trees) is operator-side.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.actions.handoffs import AsideOutput, BackupOutput, BackupPlanOutput
from remediator.errors import BackupError, QuarantineImpossible, RemediatorError, UnsafeOperation
from remediator.roots import overlaps
from remediator.structs import StepResult

HEADROOM = 64 << 20


class BackupParams(Params):
    paths: list[str] = Field(min_length=1)


class ClearParams(Params):
    paths: list[str] = Field(min_length=1)
    backup_step: str = Field(description="id of the files.backup step whose manifests cover these paths")


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.strip("/"))


def _dest(ctx: StepContext, path: str) -> Path:
    return ctx.rung_path("backup") / _slug(path)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _apart(paths: list[str]) -> None:
    """State paths of one step must not contain one another (runbook validation refuses it; the real facts are
    checked here): moving /a aside and then /a/b, then putting both back, leaves /a/b's state in the quarantine."""
    for i, j in overlaps(paths):
        raise UnsafeOperation(f"refusing {paths[i]!r}: it is {paths[j]!r} or lies inside it; a step's state paths "
                              "must not overlap")


def _sizes(ctx: StepContext, paths: list[str]) -> dict[str, int]:
    """Bytes under each path (confined first: a hostile path fails here, before anything is copied)."""
    _apart(paths)
    fs = ctx.host.fs
    return {p: fs.tree_size(fs.confine(p, ctx.roots)) for p in paths}


def backup(ctx: StepContext, p: BackupParams) -> StepResult:
    size, free = sum(_sizes(ctx, p.paths).values()), ctx.host.free_bytes(str(ctx.incident_dir))
    if free < size * 2 + HEADROOM:
        raise BackupError(f"not enough room for the backup in {ctx.incident_dir}: need {_human(size * 2 + HEADROOM)}, "
                          f"have {_human(free)}")
    manifests, lines, fs = {}, [], ctx.host.fs
    for path in p.paths:
        real = fs.confine(path, ctx.roots)
        dest = str(_dest(ctx, path))
        if not ctx.host.exists(real):
            lines.append(f"{path}: absent, nothing to back up")
            continue
        if os.path.exists(dest + ".manifest.json"):  # a resumed incident: reuse a verified copy
            manifest = json.loads(Path(dest + ".manifest.json").read_text())
            fs.verify_backup(dest, manifest)
        else:
            if partial := fs.set_aside_partial(dest):  # a copy cut short (the operator died in it): never trusted
                lines.append(f"{path}: an unfinished copy from before the restart moved to {partial}")
            manifest = fs.backup_tree(real, dest)
        manifests[path] = dest + ".manifest.json"
        lines.append(f"{path} -> {dest} ({manifest['files']} files, {_human(int(manifest['bytes']))}, verified)")
    return StepResult(f"backed up {len(manifests)} state dir(s), manifests verified", changes=lines,
                      data=BackupOutput(manifests).record())


def plan_backup(ctx: StepContext, p: BackupParams) -> StepResult:
    sizes = _sizes(ctx, p.paths)
    size, free = sum(sizes.values()), ctx.host.free_bytes(str(ctx.incident_dir))
    lines = [f"{path} -> {_dest(ctx, path)} ({_human(n)})" for path, n in sizes.items()]
    lines.append(f"needs {_human(size * 2 + HEADROOM)} free in {ctx.incident_dir}; {_human(free)} available")
    planned = {path: str(_dest(ctx, path)) + ".manifest.json" for path in p.paths if ctx.host.exists(path)}
    return StepResult(f"would copy {len(p.paths)} dir(s), {_human(size)}, with a sha256 manifest", changes=lines,
                      data=BackupPlanOutput(planned).record())  # a dry-run's later plans (files.restore) read it


def _manifests(ctx: StepContext, step: str) -> dict[str, dict[str, Any]]:
    out = ctx.output(step, BackupOutput)
    if out is None:
        raise UnsafeOperation(f"no backup recorded by step {step!r}: refusing to clear or restore")
    return {path: json.loads(Path(m).read_text()) for path, m in out.manifests.items()}


def clear(ctx: StepContext, p: ClearParams) -> StepResult:
    _apart(p.paths)
    manifests = _manifests(ctx, p.backup_step)
    lines = []
    for path in p.paths:
        if not ctx.host.exists(path):
            lines.append(f"{path}: absent")
            continue
        removed = ctx.host.fs.clear_tree(path, ctx.roots, manifests.get(path))
        lines.append(f"{path}: removed {removed} entries (backup verified first)")
    return StepResult(f"cleared {len(p.paths)} state dir(s)", changes=lines)


def plan_clear(ctx: StepContext, p: ClearParams) -> StepResult:
    lines = []
    for path in p.paths:
        n, size = ctx.host.fs.tree_stats(ctx.host.fs.confine(path, ctx.roots))  # a hostile path fails the dry-run too
        lines.append(f"remove the {n} entries inside {path} ({_human(size)})")
    return StepResult(f"would clear {len(p.paths)} dir(s) after verifying the backup of step {p.backup_step}",
                      changes=lines)


def restore(ctx: StepContext, p: ClearParams) -> StepResult:
    manifests = _manifests(ctx, p.backup_step)
    lines = []
    for path in p.paths:
        if path not in manifests:
            continue
        displaced = ctx.host.fs.restore_tree(path, ctx.roots, manifests[path], _displaced(ctx, path))
        lines.append(f"{path}: restored from backup, verified byte for byte (what was there: {displaced})")
    return StepResult(f"restored {len(lines)} state dir(s) from backup", changes=lines)


def _covered(ctx: StepContext, step: str) -> Mapping[str, str] | None:
    """The paths a backup step covers -> their manifests: after a run its backup, in a dry-run what it would copy."""
    if (done := ctx.output(step, BackupOutput)) is not None:
        return done.manifests
    planned = ctx.output(step, BackupPlanOutput)
    return planned.planned if planned is not None else None


def plan_restore(ctx: StepContext, p: ClearParams) -> StepResult:
    """What a run would restore: the paths the backup step covers (its manifests after a run; in a dry-run, what
    its plan would copy), each confined to the roots. The rest is listed with the reason it is not restored."""
    covered = _covered(ctx, p.backup_step)
    if covered is None:
        return StepResult(f"would restore nothing: step {p.backup_step} recorded no backup (a run refuses)",
                          changes=[f"not restored: {path}: no backup of step {p.backup_step}" for path in p.paths])
    would, lines, skipped = [], [], []
    for path in p.paths:
        if path not in covered:
            skipped.append(f"not restored: {path}: step {p.backup_step} has no backup of it (absent, or not among its paths)")
            continue
        try:
            ctx.host.fs.confine(path, ctx.roots)
        except (RemediatorError, OSError) as exc:
            skipped.append(f"not restored: {path}: a run refuses it ({exc})")
            continue
        would.append(path)
        lines.append(f"{path} <- {covered[path].removesuffix('.manifest.json')} (verified before and after; what is "
                     f"there then is kept in {_displaced(ctx, path)}.N)")
    if not would:
        return StepResult(f"would restore nothing from the backup of step {p.backup_step}", changes=skipped)
    return StepResult(f"would restore {', '.join(would)} from the backup of step {p.backup_step}",
                      changes=lines + skipped)


class QuarantineParams(Params):
    paths: list[str] = Field(min_length=1)


class QuarantineRef(Params):
    paths: list[str] = Field(min_length=1)
    quarantine_step: str


def _displaced(ctx: StepContext, path: str) -> str:
    """The operator-side base name for what a restore finds at path (kept, never deleted)."""
    return str(ctx.incident_dir / "displaced" / _slug(path))


def _root_of(ctx: StepContext, path: str) -> str:
    norm = os.path.normpath(path)
    return next((r for r in sorted(ctx.roots, key=len, reverse=True) if (norm + "/").startswith(os.path.normpath(r) + "/")),
                ctx.roots[0])


def quarantine(ctx: StepContext, p: QuarantineParams) -> StepResult:
    """Move each state directory aside by one rename (O(1), nothing deleted); where a rename cannot work (another
    filesystem, a mount point), copy it with a verified manifest and clear it instead, and say so."""
    _apart(p.paths)
    records, lines, fs = {}, [], ctx.host.fs
    for path in p.paths:
        qdir = fs.quarantine_dir(_root_of(ctx, path), ctx.incident_id)
        try:
            rec = fs.quarantine_tree(path, ctx.roots, qdir)
            how = "moved aside by rename" if rec.get("quarantine") else "absent"
        except QuarantineImpossible as exc:
            dest = _dest(ctx, path)
            manifest = fs.copy_once(fs.confine(path, ctx.roots), str(dest))  # run again after a kill: reused
            manifest["source"] = path
            fs.clear_tree(path, ctx.roots, manifest)
            rec = {"source": path, "quarantine": None, "copied": str(dest) + ".manifest.json"}
            how = f"copied with a verified manifest, then cleared ({exc})"
        records[path] = rec
        lines.append(f"{path}: {how}" + (f" -> {rec['quarantine']}" if rec.get("quarantine") else ""))
    return StepResult(f"moved {sum(1 for r in records.values() if r.get('quarantine'))} state dir(s) aside",
                      changes=lines, data=AsideOutput(records).record())


def plan_quarantine(ctx: StepContext, p: QuarantineParams) -> StepResult:
    _apart(p.paths)
    lines, fs = [], ctx.host.fs
    for path in p.paths:
        n, size = fs.tree_stats(fs.confine(path, ctx.roots))
        lines.append(f"move {path} ({n} entries, {_human(size)}) aside to "
                     f"{fs.quarantine_dir(_root_of(ctx, path), ctx.incident_id)} by rename; an empty one takes its place")
    return StepResult(f"would move {len(p.paths)} state dir(s) aside (nothing deleted; copied to the incident "
                      "after verify)", changes=lines)


def _records(ctx: StepContext, step: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    """What the quarantine step moved or copied: its output, or (it failed or was cut short, so it never
    reported) what it left on disk - a rename record, or a copy whose manifest was written."""
    out = ctx.output(step, AsideOutput)
    if out is not None:
        return {path: dict(rec) for path, rec in out.records.items()}
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        rec = ctx.host.fs.quarantine_record(path, ctx.host.fs.quarantine_dir(_root_of(ctx, path), ctx.incident_id))
        copied = str(_dest(ctx, path)) + ".manifest.json"
        if rec is not None:
            found[path] = rec
        elif os.path.exists(copied):
            found[path] = {"source": path, "quarantine": None, "copied": copied}
    return found


def unquarantine(ctx: StepContext, p: QuarantineRef) -> StepResult:
    lines, fs = [], ctx.host.fs
    for path, rec in reversed(list(_records(ctx, p.quarantine_step, p.paths).items())):  # last moved, first back
        if rec.get("copied"):  # the copy-then-clear fallback: restore from the verified copy
            manifest = json.loads(Path(str(rec["copied"])).read_text())
            displaced = fs.restore_tree(path, ctx.roots, manifest, _displaced(ctx, path))
            lines.append(f"{path}: restored from the verified copy (what was there: {displaced})")
            continue
        qdir = fs.quarantine_dir(_root_of(ctx, path), ctx.incident_id)
        lines.append(fs.unquarantine_tree(rec, ctx.roots, fs.free_name(os.path.join(qdir, "displaced-" + _slug(path)))))
    return StepResult(f"put {len(lines)} state dir(s) back", changes=lines)


def quarantine_not_undone(ctx: StepContext, p: QuarantineParams, data: dict[str, Any]) -> list[str]:
    """After the rollback: every tree the step moved aside is back at its source - the quarantine is empty of it
    and the directory there is the very one moved (its rename record's device and inode). A copy-then-clear
    fallback was verified byte for byte by its restore."""
    out = AsideOutput.from_record(data)
    records = {k: dict(v) for k, v in out.records.items()} if out is not None else _records(ctx, "", p.paths)
    return [why for rec in records.values() if not rec.get("copied") and (why := ctx.host.fs.not_back(rec))]


def plan_unquarantine(ctx: StepContext, p: QuarantineRef) -> StepResult:
    return StepResult(f"would put {', '.join(p.paths)} back by rename (what is there then is kept aside)")


def archive(ctx: StepContext, p: QuarantineRef) -> StepResult:
    """Off the critical path (after verify): copy each quarantine into the incident with a verified sha256
    manifest, then remove the quarantine."""
    lines = []
    for path, rec in _records(ctx, p.quarantine_step, p.paths).items():
        if rec.get("copied"):
            lines.append(f"{path}: already copied ({rec['copied']})")
            continue
        manifest = ctx.host.fs.archive_tree(rec, str(_dest(ctx, path)))
        if manifest.get("backup"):
            lines.append(f"{path} -> {manifest['backup']} ({manifest['files']} files, {_human(int(str(manifest['bytes'])))}, "
                         "verified; quarantine removed)")
    for root in ctx.roots:
        ctx.host.fs.remove_quarantine_dir(root, ctx.incident_id)
    return StepResult(f"archived {len(lines)} state dir(s) into the incident", changes=lines)


def plan_archive(ctx: StepContext, p: QuarantineRef) -> StepResult:
    return StepResult("would copy the quarantined state into the incident with a sha256 manifest, verify it, "
                      "then remove the quarantine")


action(ActionSpec("files.quarantine", QuarantineParams, run=quarantine, plan=plan_quarantine, mutates=True, risky=True,
                  summary="move state directories aside by rename (nothing deleted); copy-then-clear where it cannot",
                  not_undone=quarantine_not_undone))
action(ActionSpec("files.unquarantine", QuarantineRef, run=unquarantine, plan=plan_unquarantine, mutates=True,
                  risky=True, summary="put quarantined state directories back by rename"))
action(ActionSpec("files.archive", QuarantineRef, run=archive, plan=plan_archive, mutates=True, risky=False,
                  summary="copy the quarantine into the incident with a verified manifest, then remove it"))
action(ActionSpec("files.backup", BackupParams, run=backup, plan=plan_backup, mutates=True, risky=False,
                  summary="copy directories with a sha256 manifest, then verify the copy"))
action(ActionSpec("files.clear", ClearParams, run=clear, plan=plan_clear, mutates=True, risky=True,
                  summary="empty directories that a verified backup covers, inside the host's roots only"))
action(ActionSpec("files.restore", ClearParams, run=restore, plan=plan_restore, mutates=True, risky=True,
                  summary="put a backup back, byte-identical; what was there is kept aside"))

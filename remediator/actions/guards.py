"""Guards: read-only preconditions named in runbooks, evaluated right before their step."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from remediator.actions import GuardSpec, NoParams, Params, StepContext, guard
from remediator.actions.handoffs import BackupOutput
from remediator.detect.facts import SAFE_LAYOUTS
from remediator.errors import RemediatorError
from remediator.structs import GuardResult


class StepRef(Params):
    step: str


class PathsParams(Params):
    paths: list[str] = Field(min_length=1)


def layout_safe(ctx: StepContext, p: NoParams) -> GuardResult:
    ok = ctx.facts.layout in SAFE_LAYOUTS
    return GuardResult(ok, f"containerd layout is {ctx.facts.layout}" +
                       ("" if ok else ": clearing would lose images or other clients' state; escalate"))


def none_alive(ctx: StepContext, p: NoParams) -> GuardResult:
    fam = ctx.family()
    return GuardResult(not fam.all(), fam.describe() + " alive")


def backup_verified(ctx: StepContext, p: StepRef) -> GuardResult:
    out = ctx.output(p.step, BackupOutput)
    manifests = out.manifests if out is not None else {}
    if not manifests:
        return GuardResult(False, f"step {p.step} recorded no backup")
    try:
        for m in manifests.values():
            manifest = json.loads(Path(m).read_text())
            ctx.host.fs.verify_backup(manifest["backup"], manifest)
    except (OSError, ValueError, RemediatorError) as exc:
        return GuardResult(False, f"backup does not verify: {exc}")
    return GuardResult(True, f"{len(manifests)} backup(s) verify against their manifests")


def confined(ctx: StepContext, p: PathsParams) -> GuardResult:
    try:
        for path in p.paths:
            ctx.host.fs.confine(path, ctx.roots)
    except RemediatorError as exc:
        return GuardResult(False, str(exc))
    return GuardResult(True, f"{len(p.paths)} path(s) inside {', '.join(ctx.roots)}, no symlinks on the way")


guard(GuardSpec("containerd.layout_safe", NoParams, layout_safe, "the daemon-managed containerd layout is in use"))
guard(GuardSpec("processes.none_alive", NoParams, none_alive, "no dockerd/containerd/shim/container process is left"))
guard(GuardSpec("backup.verified", StepRef, backup_verified, "the backup of a step verifies against its manifest"))
guard(GuardSpec("paths.confined", PathsParams, confined, "paths lie inside data-root/exec-root, no symlink out"))

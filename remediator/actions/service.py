"""service.stop / service.start: dockerd, and every process of its generation.

service.stop ends with no dockerd, managed containerd, shim or container process of this daemon
alive: clearing the state under live shims creates orphans and duplicate containers.
"""

from __future__ import annotations

import signal

from pydantic import Field

from remediator.actions import ActionSpec, NoParams, Params, StepContext, action
from remediator.errors import TemporaryStepError
from remediator.settings import SystemdService
from remediator.structs import StepResult


class StopParams(Params):
    grace: float = Field(default=15.0, ge=0, le=600, description="seconds between SIGTERM and SIGKILL")
    reap: bool = Field(default=True, description="also kill leftover containerd, shims and container processes")


class StartParams(Params):
    timeout: float = Field(default=60.0, gt=0, le=1800)


def _reap(ctx: StepContext) -> list[str]:
    fam = ctx.family()
    notes = []
    for group, procs in (("container process", fam.containers), ("shim", fam.shims), ("containerd", fam.containerd)):
        for p in procs:
            ctx.host.signal(p, signal.SIGKILL, same_program=group != "container process")
        if procs:
            notes.append(f"killed {len(procs)} leftover {group}(es): {' '.join(str(p.pid) for p in procs[:8])}")
        if ctx.host.wait_gone(procs, 10):
            raise TemporaryStepError(f"{group} processes survived SIGKILL")
    return notes


def stop(ctx: StepContext, p: StopParams) -> StepResult:
    before = ctx.family()
    socket = getattr(ctx.host.config.service, "socket", None)  # systemd: stopping docker.socket is a change too
    running = bool(ctx.service.find() or before.dockerd or (p.reap and before.all()) or socket)
    notes = ctx.service.stop(p.grace)
    if p.reap:
        notes += _reap(ctx)
    fam = ctx.family()
    if not p.reap:
        if fam.dockerd:
            raise TemporaryStepError(f"dockerd still alive after stop: pid {fam.dockerd[0].pid}")
        if not running:  # nothing was stopped, so there is nothing to undo (no start as rollback)
            return StepResult(f"dockerd was not running; nothing stopped; left alone: {fam.describe()}", changes=notes,
                              changed=False)
        return StepResult(f"dockerd stopped; left alone: {fam.describe()}", changes=notes)
    if fam.all():
        raise TemporaryStepError(f"still alive after stop: {fam.describe()}")
    if not running:
        return StepResult("dockerd was not running and no process of it was left; nothing stopped", changes=notes,
                          changed=False)
    return StepResult("dockerd stopped; no containerd, shim or container process of it is left", changes=notes)


def plan_stop(ctx: StepContext, p: StopParams) -> StepResult:
    fam = ctx.family()
    lines = [ctx.service.plan_stop(p.grace)]
    if p.reap:
        lines.append(f"then SIGKILL what is left of this daemon: {fam.describe()}")
    return StepResult("would stop dockerd and every process of its generation", changes=lines)


def start(ctx: StepContext, p: StartParams) -> StepResult:
    return StepResult("dockerd answers", changes=ctx.service.start(p.timeout))


def plan_start(ctx: StepContext, p: StartParams) -> StepResult:
    return StepResult("would start dockerd", changes=[ctx.service.plan_start() + f" (up to {p.timeout:g}s)"])


def reset_failed(ctx: StepContext, p: NoParams) -> StepResult:
    """systemd's failed state and start-limit counter of the unit, cleared on purpose as a step of its own (never
    hidden inside a start); nothing for a host whose dockerd is not a systemd unit."""
    spec = ctx.host.config.service
    if not isinstance(spec, SystemdService):
        return StepResult(f"dockerd is not a systemd unit on {ctx.host.name} ({spec.kind}): nothing to reset",
                          changed=False)
    ctx.host.run((spec.systemctl, "reset-failed", spec.unit), timeout=10, ok_codes=(0, 1, 5))
    return StepResult(f"systemctl reset-failed {spec.unit}: its failed state and start-limit counter are cleared")


def plan_reset_failed(ctx: StepContext, p: NoParams) -> StepResult:
    spec = ctx.host.config.service
    if not isinstance(spec, SystemdService):
        return StepResult(f"dockerd is not a systemd unit ({spec.kind}): nothing to reset", changed=False)
    return StepResult(f"would run systemctl reset-failed {spec.unit} (so a start-limit hit does not block the start)")


action(ActionSpec("service.stop", StopParams, run=stop, plan=plan_stop, mutates=True, risky=True,
                  summary="stop dockerd (graceful, then kill); with reap, also its containerd, shims and containers"))
action(ActionSpec("service.start", StartParams, run=start, plan=plan_start, mutates=True, risky=False,
                  summary="start dockerd and wait until the API answers"))
action(ActionSpec("service.reset_failed", NoParams, run=reset_failed, plan=plan_reset_failed, mutates=True,
                  risky=False, summary="systemctl reset-failed the dockerd unit (systemd hosts only)"))

"""probe.confirm: is the host really sick, and is it the sickness this runbook treats?

Read-only. Ends the incident as `healthy` when dockerd answers, and as `refused` when the
evidence points outside containerd's state (stale pidfile, full disk, kernel hang, unknown):
the fix must fit the diagnosis (invariant 9).
"""

from __future__ import annotations

import time

from pydantic import Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.detect import signatures
from remediator.structs import Outcome, StepResult


class ConfirmParams(Params):
    attempts: int = Field(default=3, ge=1, le=20)
    timeout: float = Field(default=2.0, gt=0, le=60)
    interval: float = Field(default=0.5, ge=0, le=60)
    min_free_percent: float = Field(default=1.0, ge=0, le=50)


def confirm(ctx: StepContext, p: ConfirmParams) -> StepResult:
    pings = []
    for i in range(p.attempts):
        ping = ctx.host.ping(timeout=p.timeout)
        pings.append(ping)
        if ping.ok:
            return StepResult(f"dockerd answers /_ping in {ping.latency * 1000:.0f} ms: nothing to do",
                              stop=Outcome.HEALTHY, data={"diagnosis": "healthy"})
        ctx.progress(f"/_ping {i + 1}/{p.attempts}: {ping.outcome} ({ping.detail})")
        if i + 1 < p.attempts:
            time.sleep(p.interval)
    trace = [f"/_ping ×{len(pings)}: {', '.join(sorted({x.outcome for x in pings}))}"]
    for root in (ctx.facts.data_root, ctx.facts.exec_root):
        free = ctx.host.disk_usage(root).free_percent
        if free < p.min_free_percent:
            return StepResult(f"{root} has {free:.2f}% free: disk-full, a restart would make it worse",
                              stop=Outcome.REFUSED, data={"diagnosis": "disk-full", "trace": trace})
    dockerd = ctx.service.find()
    log_failed, matches = signatures.start_failure(ctx.service.log_tail())
    diagnosis = signatures.diagnose(matches)
    sig_lines = [f"line {m.line_no}: {m.signature.id}: {m.line[:160]}" for m in matches[:6]]
    data = {"diagnosis": diagnosis, "signatures": sorted({m.signature.id for m in matches}), "trace": trace + sig_lines}
    if dockerd is not None and all(x.outcome == "timeout" for x in pings):
        trace.append(f"dockerd pid {dockerd.pid} is alive (state {dockerd.state}) but the API does not answer")
        if diagnosis not in ("containerd-state", "unknown"):
            return StepResult(f"dockerd hung, but the log points at {diagnosis}: not this runbook's fix",
                              stop=Outcome.REFUSED, data=data)
        data["diagnosis"] = "dockerd-hung"
        return StepResult(f"dockerd pid {dockerd.pid} is hung (state {dockerd.state}): {trace[0]}", data=data)
    if dockerd is None and log_failed and diagnosis == "containerd-state":
        return StepResult(f"dockerd is down and its last start failed on containerd state: {', '.join(data['signatures'])}",
                          changes=sig_lines, data=data)
    if dockerd is None and diagnosis != "unknown":
        return StepResult(f"dockerd is down; the log says {diagnosis}, which clearing containerd state does not fix",
                          changes=sig_lines, stop=Outcome.REFUSED, data=data)
    state = "running" if dockerd else "down"
    return StepResult(f"dockerd is {state} and unhealthy but no known containerd-state signature matches: escalate",
                      changes=sig_lines, stop=Outcome.REFUSED, data={**data, "diagnosis": "unknown"})


action(ActionSpec("probe.confirm", ConfirmParams, run=confirm, plan=confirm, mutates=False, risky=False,
                  summary="probe the API and read the daemon log; stop unless the runbook's diagnosis fits"))

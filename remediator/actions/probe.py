"""probe.confirm: is the host really sick, and is it the sickness this runbook treats?

Read-only. Uses the verdict that selected the runbook when there is one (taken moments ago),
otherwise probes until the debounced verdict settles. Ends the incident as `healthy` when the
host is healthy or merely degraded, and as `refused` when the diagnosis is not one this runbook
treats: the fix must fit the diagnosis (invariant 9).
"""

from __future__ import annotations

from pydantic import Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.actions.handoffs import ConfirmOutput
from remediator.detect.diagnose import diagnose_host
from remediator.detect.signatures import DIAGNOSES
from remediator.detect.verdict import Verdict
from remediator.structs import Outcome, StepResult

FRESH = 60.0  # seconds a selection verdict stays usable


class ConfirmParams(Params):
    expect: list[str] = Field(default_factory=lambda: ["any"], description="diagnoses this runbook treats; any = every sick one")
    max_rounds: int | None = Field(default=None, ge=1, le=50)


def _verdict(ctx: StepContext, p: ConfirmParams) -> Verdict:
    v = ctx.verdict
    if v is not None and ctx.clock.wall() - v.at < FRESH:
        return v
    return diagnose_host(ctx.host, ctx.service, ctx.facts, ctx.probe, max_rounds=p.max_rounds, clock=ctx.clock,
                         on_round=lambda r, x: ctx.progress(f"round {r.number}: {x.diagnosis} ({r.wall:.1f}s)"))


def confirm(ctx: StepContext, p: ConfirmParams) -> StepResult:
    unknown = [e for e in p.expect if e != "any" and e not in DIAGNOSES]
    if unknown:
        return StepResult(f"runbook expects unknown diagnoses {unknown}", stop=Outcome.REFUSED)
    v = _verdict(ctx, p)
    data = ConfirmOutput(diagnosis=v.diagnosis, confidence=v.confidence, signatures=tuple(v.signatures),
                         trace=tuple(v.trace), verdict=v.as_json()).record()
    head = f"{v.diagnosis} ({v.confidence} confidence, {v.rounds} round(s))"
    if v.diagnosis == "no-access":  # access is not health: neither "healthy" nor a reason to act
        return StepResult(f"{head}: this user may not look at the host; nothing is done", changes=v.trace,
                          stop=Outcome.REFUSED, data=data)
    if v.diagnosis == "suspect":
        return StepResult(f"{head}: the verdict did not settle; not acting on it", changes=v.trace, stop=Outcome.REFUSED,
                          data=data)
    if not v.sick:
        return StepResult(f"{head}: {DIAGNOSES[v.diagnosis].meaning}; nothing to do", changes=v.trace[:6],
                          stop=Outcome.HEALTHY, data=data)
    if "any" not in p.expect and v.diagnosis not in p.expect:
        better = DIAGNOSES[v.diagnosis].runbook
        return StepResult(f"{head}: this runbook treats {', '.join(p.expect)}; "
                          f"{'use runbook ' + better if better else 'nothing to run'}", changes=v.trace,
                          stop=Outcome.REFUSED, data=data)
    return StepResult(head, changes=v.trace, data=data)


action(ActionSpec("probe.confirm", ConfirmParams, run=confirm, plan=confirm, mutates=False, risky=False,
                  summary="debounced multi-probe diagnosis; stop unless it is one this runbook treats"))

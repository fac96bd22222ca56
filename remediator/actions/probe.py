"""probe.confirm: is the host really sick, and is it the sickness this runbook treats?

Read-only. Uses the verdict that selected the runbook when there is one (taken moments ago),
otherwise probes until the debounced verdict settles. Ends the incident as `healthy` when the
host is healthy or merely degraded, and as `refused` when the diagnosis is not one this runbook
treats: the fix must fit the diagnosis (invariant 9).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BeforeValidator, Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.actions.handoffs import ConfirmOutput
from remediator.detect.diagnose import diagnose_host
from remediator.detect.signatures import DIAGNOSES
from remediator.detect.verdict import Verdict
from remediator.structs import Outcome, StepResult
from remediator.vocab import Diagnosis

FRESH = 60.0  # seconds a selection verdict stays usable
ANY: Final = "any"


def _known(word: object) -> object:
    """An `expect:` item names a diagnosis, or is `any`: a typo is refused when the runbook loads (file:line:field)."""
    if not isinstance(word, str) or (word != ANY and word not in DIAGNOSES):
        raise ValueError(f"not a diagnosis; expected {ANY} or one of {', '.join(Diagnosis)}")
    return word


Expected = Annotated[Diagnosis | Literal["any"], BeforeValidator(_known)]


def _every() -> list[Expected]:
    return [ANY]


class ConfirmParams(Params):
    expect: list[Expected] = Field(default_factory=_every, description="diagnoses this runbook treats; any = every sick one")
    max_rounds: int | None = Field(default=None, ge=1, le=50)


def _verdict(ctx: StepContext, p: ConfirmParams) -> Verdict:
    v = ctx.verdict
    if v is not None and ctx.clock.wall() - v.at < FRESH:
        return v
    return diagnose_host(ctx.host, ctx.service, ctx.facts, ctx.probe, max_rounds=p.max_rounds, clock=ctx.clock,
                         on_round=lambda r, x: ctx.progress(f"round {r.number}: {x.diagnosis} ({r.wall:.1f}s)"))


def confirm(ctx: StepContext, p: ConfirmParams) -> StepResult:
    v = _verdict(ctx, p)
    data = ConfirmOutput(diagnosis=v.diagnosis, confidence=v.confidence, signatures=tuple(v.signatures),
                         trace=tuple(v.trace), verdict=v.as_json()).record()
    head = f"{v.diagnosis} ({v.confidence} confidence, {v.rounds} round(s))"
    if v.diagnosis == Diagnosis.NO_ACCESS:  # access is not health: neither "healthy" nor a reason to act
        return StepResult(f"{head}: this user may not look at the host; nothing is done", changes=v.trace,
                          stop=Outcome.REFUSED, data=data)
    if v.diagnosis == Diagnosis.SUSPECT:
        return StepResult(f"{head}: the verdict did not settle; not acting on it", changes=v.trace, stop=Outcome.REFUSED,
                          data=data)
    if not v.sick:
        return StepResult(f"{head}: {DIAGNOSES[v.diagnosis].meaning}; nothing to do", changes=v.trace[:6],
                          stop=Outcome.HEALTHY, data=data)
    if ANY not in p.expect and v.diagnosis not in p.expect:
        better = DIAGNOSES[v.diagnosis].runbook
        return StepResult(f"{head}: this runbook treats {', '.join(p.expect)}; "
                          f"{'use runbook ' + better if better else 'nothing to run'}", changes=v.trace,
                          stop=Outcome.REFUSED, data=data)
    return StepResult(head, changes=v.trace, data=data)


action(ActionSpec("probe.confirm", ConfirmParams, run=confirm, plan=confirm, mutates=False, risky=False,
                  summary="debounced multi-probe diagnosis; stop unless it is one this runbook treats"))

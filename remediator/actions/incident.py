"""incident.end: finish an incident on purpose — escalate to a person, or close an evidence-only run.

Read-only. The escalate runbook ends here after capturing evidence: disk full, kernel hang, a
corrupt persistent database or an unknown sickness have no safe automatic fix (docs/state-layout.md, docs/stop-start-verify.md).
"""

from __future__ import annotations

from typing import Literal

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.actions.handoffs import ConfirmOutput, EvidenceOutput
from remediator.detect.signatures import DIAGNOSES
from remediator.structs import Outcome, StepResult


class EndParams(Params):
    outcome: Literal["escalated", "collected"] = "escalated"
    reason: str = ""


def end(ctx: StepContext, p: EndParams) -> StepResult:
    v = ctx.verdict.diagnosis if ctx.verdict else next((o.diagnosis for o in ctx.outputs_of(ConfirmOutput)), None)
    why = p.reason or (f"{v}: {DIAGNOSES[v].meaning}" if v in DIAGNOSES else "no diagnosis")
    evidence = next((o.tar for o in ctx.outputs_of(EvidenceOutput)), None)
    tail = f"; evidence {evidence}" if evidence else ""
    return StepResult(f"{why}{tail}", stop=Outcome(p.outcome))


def plan_end(ctx: StepContext, p: EndParams) -> StepResult:
    return StepResult(f"would end the incident as {p.outcome}: {end(ctx, p).summary}")


action(ActionSpec("incident.end", EndParams, run=end, plan=plan_end, mutates=False, risky=False,
                  summary="end the incident on purpose: escalated to a person, or evidence collected"))

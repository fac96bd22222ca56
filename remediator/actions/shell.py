"""shell.run: an argv (never a shell string) with a deadline, for drain/undrain hooks."""

from __future__ import annotations

from pydantic import Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.redact import redact_argv, redact_text
from remediator.structs import StepResult


class ShellParams(Params):
    argv: list[str] = Field(min_length=1)
    timeout: float = Field(default=60.0, gt=0, le=3600)


def run(ctx: StepContext, p: ShellParams) -> StepResult:
    res = ctx.host.run(p.argv, timeout=p.timeout)
    tail = [redact_text(line) for line in res.stdout.strip().splitlines()[-3:]]
    return StepResult(f"{p.argv[0]} exited 0 in {res.duration:.2f}s", changes=tail)


def plan(ctx: StepContext, p: ShellParams) -> StepResult:
    return StepResult(f"would run {redact_argv(p.argv)} (timeout {p.timeout:g}s)")


action(ActionSpec("shell.run", ShellParams, run=run, plan=plan, mutates=True, risky=True, idempotent=False,
                  summary="run a command (argv list) with a deadline"))

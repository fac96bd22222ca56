"""hooks.drain / hooks.undrain: the host's own drain and undrain commands from the config (argv lists, no
shell): `kubectl drain NODE --ignore-daemonsets --timeout=…` / `kubectl uncordon NODE`, a load-balancer
deregistration, a Swarm availability change run against a manager. The runbooks run drain just before the
stop (with undrain as its rollback) and undrain after verify. A host without hooks skips them, and says so.
The commands come from the operator's config (not from a runbook), so they are not `risky` by themselves:
the stop that follows is.
"""

from __future__ import annotations

from pydantic import Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.redact import redact_argv, redact_text
from remediator.structs import StepResult


class HookParams(Params):
    timeout: float = Field(default=600.0, gt=0, le=7200, description="deadline of the command (kubectl drain waits)")


def _argv(ctx: StepContext, which: str) -> list[str]:
    return list(getattr(ctx.host.config, which, None) or [])


def _run(ctx: StepContext, which: str, p: HookParams) -> StepResult:
    argv = _argv(ctx, which)
    if not argv:
        return StepResult(f"no {which} hook configured for host {ctx.host.name}: skipped", changed=False)
    res = ctx.host.run(argv, timeout=p.timeout)
    tail = [redact_text(line) for line in res.stdout.strip().splitlines()[-3:]]
    return StepResult(f"{which}: {argv[0]} exited 0 in {res.duration:.1f}s", changes=[redact_argv(argv), *tail])


def _plan(ctx: StepContext, which: str, p: HookParams) -> StepResult:
    argv = _argv(ctx, which)
    if not argv:
        return StepResult(f"no {which} hook configured for host {ctx.host.name}: would skip", changed=False)
    return StepResult(f"would run the {which} hook (deadline {p.timeout:g}s)", changes=[redact_argv(argv)])


action(ActionSpec("hooks.drain", HookParams, run=lambda c, p: _run(c, "drain", p), plan=lambda c, p: _plan(c, "drain", p),
                  mutates=True, risky=False, summary="run the host's drain command (config), if it has one"))
action(ActionSpec("hooks.undrain", HookParams, run=lambda c, p: _run(c, "undrain", p),
                  plan=lambda c, p: _plan(c, "undrain", p), mutates=True, risky=False,
                  summary="run the host's undrain command (config), if it has one"))

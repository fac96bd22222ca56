"""Runs one incident: guards, approvals, actions with deadlines and retries, rollback, journal.

Role: drive the machine through the runbook. Every mutating step's intent is journaled before it
starts and its outcome after. A risky step runs only when the approver says yes (the CLI's
approver says no without a TTY or --yes); approving a step approves its declared rollback.
Dry-run walks the same path, evaluating guards for real and asking actions for plans only.
Exceptions become outcomes here: nothing escapes run_rung (the ladder's unit; ladder.heal runs the rungs) but
bugs. run_incident (one rung, opened and closed) is what the tests drive.
Must not: print or prompt (the Reporter and Approver do), or import click/rich.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)
from tenacity.nap import sleep_using_event

from remediator import crashpoints, machine
from remediator.actions import ACTIONS, GUARDS, StepContext
from remediator.detect import facts as factsmod
from remediator.detect.verdict import Verdict
from remediator.errors import HostError, JournalError, RemediatorError, TemporaryStepError
from remediator.hosts.port import Host
from remediator.hosts.service import Controller, controller
from remediator.journal import Journal
from remediator.runbook import Runbook, Step, resolve, variables
from remediator.settings import ProbeConfig
from remediator.structs import GuardResult, Outcome, StepResult
from remediator.undo import Proof

STOP = threading.Event()  # set by SIGINT/SIGTERM: finish the step under way, then leave the incident in flight


class Interrupted(RemediatorError):
    """The operator was asked to stop: the step under way finished, the incident stays in flight (exit 7)."""


def stop_on_signals() -> None:
    """SIGINT and SIGTERM ask for a clean stop between steps instead of killing a step half-way."""
    def ask(signum: int, _frame: object) -> None:
        STOP.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, ask)


class StepCrashed(RemediatorError):
    """An action raised something that is not one of ours (an OSError half-way, a bug): the step failed."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" on {exc.filename}" if exc.filename else ""
        return f"{type(exc).__name__}: {exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


class Approver(Protocol):
    def __call__(self, step: Step, plan: StepResult) -> tuple[bool, str]: ...


class Reporter(Protocol):
    def __call__(self, kind: str, step: str | None, text: str, lines: list[str] | None = None) -> None: ...


@dataclass
class Report:
    incident: str
    outcome: Outcome
    summary: str
    dir: str
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (step, status, summary)
    chain: list[str] = field(default_factory=list)  # the runbooks run, in order (the ladder's rungs)


class _Run(Proof):
    def __init__(self, *, runbook: Runbook, ctx: StepContext, journal: Journal, incident: str,
                 approver: Approver, report: Reporter, dry_run: bool, names: dict[str, Any]) -> None:
        self.rb, self.ctx, self.journal, self.iid = runbook, ctx, journal, incident
        self.approver, self.report, self.dry_run, self.names = approver, report, dry_run, names
        self.model = machine.Incident(on_change=self._changed)
        self.machine = machine.build(runbook, self.model)
        self.done: list[Step] = []  # completed mutating steps, in order
        self.rows: list[tuple[str, str, str]] = []
        self.approved_before: dict[str, str] = {}  # resumed: step -> plan hash approved before the restart
        self.undone_before: set[tuple[str, str]] = set()  # resumed mid-rollback: (step, rollback action) done
        self.rerun: str | None = None  # resumed: the step that was running when the operator died
        self.rolling_back = False
        self.journal_lost = ""  # why the journal could not be written during the rollback ("" while it can)

    def _changed(self, source: str, dest: str) -> None:
        self.rolling_back = self.rolling_back or dest == "rolling_back"
        self._journal(self.journal.set_state, self.iid, dest)
        self._journal(self.journal.event, self.iid, "state", None, source=source, dest=dest)

    def _unjournaled(self, step: Step, why: str, lost: JournalError) -> Outcome:
        """A step failed and its result cannot be journaled: nothing more runs forward (no intent could be
        journaled); what was changed, this step included (it may have half-happened), is rolled back."""
        self.rows.append((step.id, "failed", why))
        self.report("fail", step.id, why)
        if step.rollback and step not in self.done:
            self.done.append(step)
            self.model.mutated = True
        if not self.model.mutated:
            raise lost
        self.rolling_back = True
        self._lost(lost)
        self._trigger("fail")
        return self._rollback(f"step {step.id} failed: {why}")

    # ---- one step ---------------------------------------------------------------------------
    def _guards(self, step: Step) -> list[tuple[str, GuardResult]]:
        out = []
        for g in step.guards:
            spec = GUARDS[g.check]
            try:
                res = spec.check(self.ctx, resolve(spec.params, g.params, self.names))
            except Exception as exc:  # noqa: BLE001 - a guard that cannot be evaluated refuses, whatever broke
                res = GuardResult(False, f"could not evaluate: {_describe(exc)}")
            out.append((g.check, res))
            self.journal.event(self.iid, "guard", step.id, check=g.check, ok=res.ok, reason=res.reason)
        return out

    def _attempt(self, action: str, step: Step, params: Any, deadline: float) -> StepResult:
        spec = ACTIONS[action]
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"step-{step.id}")
        fut = pool.submit(spec.run, self.ctx, params)
        try:
            return fut.result(timeout=max(0.1, deadline - time.monotonic()))
        except cf.TimeoutError:
            # never abandon a step mid-mutation: wait for it to end before anything else happens
            self.report("warn", step.id, f"{action} exceeded its timeout of {step.timeout:g}s; waiting for it to end")
            fut.result()
            raise TemporaryStepError(f"step {step.id} ({action}) exceeded its timeout of {step.timeout:g}s") from None
        except RemediatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - an OSError half-way through is a failed step, never an escape
            raise StepCrashed(f"{action} raised {_describe(exc)}") from exc
        finally:
            pool.shutdown(wait=False)

    def _execute(self, step: Step, params: Any, action: str | None = None) -> StepResult:
        """Run the step's action (or, for a rollback, `action`) under the step's deadline and retry policy."""
        deadline = time.monotonic() + step.timeout
        name = action or step.action

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.journal.event(self.iid, "retry", step.id, action=name, attempt=state.attempt_number, error=str(exc))
            self.report("retry", step.id, f"{name} attempt {state.attempt_number} failed ({exc}); retrying")

        retrying = Retrying(stop=stop_after_attempt(step.retry.attempts) | stop_before_delay(step.timeout),
                            wait=wait_exponential(multiplier=step.retry.backoff, max=30),
                            retry=retry_if_exception_type((TemporaryStepError, HostError)),
                            before_sleep=before_sleep, reraise=True,
                            sleep=sleep_using_event(STOP))  # SIGINT/SIGTERM cuts a backoff short
        return retrying(self._attempt, name, step, params, deadline)

    def _plan_hash(self, step: Step, params: Any) -> str:
        """What an approval approved: the rendered step (action, params, rollback) and the facts it was rendered from."""
        body = {"step": step.id, "action": step.action, "params": params.model_dump(), "facts": self.ctx.facts.as_vars(),
                "rollback": [r.model_dump() for r in step.rollback], "runbook": self.rb.sha256}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def _trigger(self, name: str) -> None:
        if not self.model.trigger(name):  # type: ignore[attr-defined]
            raise RemediatorError(f"machine refused {name} in state {self.model.state}")  # a bug, not an outcome

    def step(self, step: Step) -> Outcome | None:
        """Run one step; return an Outcome to end the incident, or None to go on."""
        spec = ACTIONS[step.action]
        params = resolve(spec.params, step.params, self.names)
        guards = self._guards(step)
        failed = [f"{name}: {res.reason}" for name, res in guards if not res.ok]
        for name, res in guards:
            self.report("guard", step.id, f"{'ok ' if res.ok else 'NO '} {name}: {res.reason}")
        if self.dry_run:
            return self._plan(step, spec, params, failed)
        if failed:
            return self._failure(step, f"guard refused: {'; '.join(failed)}")
        self.model.guards_ok = True
        if step.risky:
            self._trigger(f"ask_{step.id}")
            plan = spec.plan(self.ctx, params)
            rollbacks = [f"rollback if later steps fail: {r.action}" for r in step.rollback]
            self.report("plan", step.id, plan.summary, plan.changes + rollbacks)
            digest = self._plan_hash(step, params)
            if self.approved_before.get(step.id) == digest:  # resumed: approved before the restart, same plan and facts
                ok, who = True, "the approval journaled before the restart (same step, params and facts)"
            elif not plan.changed:  # e.g. a drain step on a host without a drain hook: nothing to approve
                ok, who = True, "nothing to approve: its plan changes nothing"
            else:  # an approver outside this process (the daemon's API) binds its approval to this plan
                ok, who = self.approver(step, replace(plan, data={**plan.data, "incident": self.iid, "plan_sha256": digest}))
            self.journal.event(self.iid, "approval", step.id, approved=ok, by=who, plan_sha256=digest)
            self.model.approved = ok
            if not ok:
                self.rows.append((step.id, "refused", who))
                self.report("refused", step.id, f"not approved ({who})")
                self._trigger("deny")
                return self._rollback(f"step {step.id} was not approved ({who})") if self.model.mutated \
                    else Outcome.REFUSED
        self.journal.event(self.iid, "intent", step.id, action=step.action, params=params.model_dump(), mutates=spec.mutates)
        self._trigger(f"run_{step.id}")
        self.report("start", step.id, spec.summary or step.action)
        t0 = time.monotonic()
        try:
            result = self._execute(step, params)
        except RemediatorError as exc:
            try:
                self.journal.event(self.iid, "result", step.id, ok=False, error=str(exc), seconds=time.monotonic() - t0)
            except JournalError as lost:  # the step failed and the journal is full: undo what this process knows
                return self._unjournaled(step, str(exc), lost)
            return self._failure(step, str(exc), include_self=True)
        crashpoints.reached(f"during:{step.id}")
        took = time.monotonic() - t0
        if step.id == self.rerun and not result.changed:
            result = replace(result, changed=True)  # it ran before the restart too: what it changed then is unknown
        self.ctx.outputs[step.id] = result.data
        if spec.mutates and result.changed:  # before its result is journaled: a journal that fails now (full)
            self.done.append(step)  # still has this step undone by the rollback it causes
            self.model.mutated = self.model.mutated or bool(step.rollback)  # something to undo
        self.journal.event(self.iid, "result", step.id, ok=True, summary=result.summary, changes=result.changes,
                           data=result.data, seconds=took, changed=result.changed, action=step.action)
        crashpoints.reached(f"after:{step.id}")
        self.rows.append((step.id, "ok", f"{result.summary} ({took:.1f}s)"))
        self.report("ok", step.id, f"{result.summary} ({took:.1f}s)", result.changes)
        if result.stop is Outcome.HEALTHY:
            self._trigger("nothing_to_do")
            return Outcome.HEALTHY
        if result.stop in (Outcome.ESCALATED, Outcome.COLLECTED) and not self.model.mutated:
            self._trigger("escalate" if result.stop is Outcome.ESCALATED else "collect")
            return result.stop
        if result.stop is not None:
            self._trigger("refuse" if not self.model.mutated else "fail")
            return Outcome.REFUSED if not self.model.mutated else self._rollback(result.summary)
        return None

    def _plan(self, step: Step, spec: Any, params: Any, failed: list[str]) -> Outcome | None:
        try:
            plan: StepResult = spec.plan(self.ctx, params)
        except Exception as exc:  # noqa: BLE001 - a plan that cannot be made refuses; never a traceback
            self.rows.append((step.id, "plan-error", str(exc)))
            self.report("fail", step.id, f"cannot plan: {exc}")
            return Outcome.REFUSED
        note = f" [guards now: {'; '.join(failed)} — re-checked after the earlier steps run]" if failed else ""
        mark = "would ask approval, then " if step.risky else ""
        self.rows.append((step.id, "plan", plan.summary + note))
        self.report("plan", step.id, mark + plan.summary + note, plan.changes)
        self.journal.event(self.iid, "plan", step.id, summary=mark + plan.summary + note, changes=plan.changes[:50],
                           action=step.action)  # a dry run (the daemon's observe policy) keeps what it would do
        self.ctx.outputs[step.id] = plan.data
        if plan.stop is not None:
            return plan.stop
        return None

    # ---- failure and rollback ---------------------------------------------------------------
    def _failure(self, step: Step, why: str, include_self: bool = False) -> Outcome | None:
        self.rows.append((step.id, "failed", why))
        self.report("fail", step.id, why)
        if step.on_failure == "continue":
            self.report("warn", step.id, "on_failure: continue — going on without it")
            self.model.guards_ok = True
            return None
        if step.on_failure == "abort":
            self._trigger("abort")
            return Outcome.FAILED if self.model.mutated else Outcome.NOT_HEALED
        if include_self and step.rollback and step not in self.done:
            self.done.append(step)  # a failed step may have half-happened: undo it too
            self.model.mutated = True
        self._trigger("fail")
        return self._rollback(f"step {step.id} failed: {why}") if self.model.state == "rolling_back" else Outcome.NOT_HEALED

    def _rollback(self, why: str) -> Outcome:
        self.rolling_back = True
        self.report("rollback", None, f"ROLLING BACK: {why}")
        self._journal(self.journal.event, self.iid, "rollback", None, reason=why)
        broken = []
        for step in reversed(self.done):
            for ref in step.rollback:
                if (step.id, ref.action) in self.undone_before:
                    continue  # resumed mid-rollback: this one finished before the restart
                spec = ACTIONS[ref.action]
                try:
                    params = resolve(spec.params, ref.params, self.names)
                    self._journal(self.journal.event, self.iid, "intent", step.id, rollback=ref.action,
                                  params=params.model_dump())
                    res = self._execute(step, params, action=ref.action)  # the forward step's deadline and retry
                except RemediatorError as exc:
                    broken.append(f"{step.id}/{ref.action}: {exc}")
                    self._journal(self.journal.event, self.iid, "result", step.id, rollback=ref.action, ok=False,
                                  error=str(exc))
                    self.report("fail", step.id, f"rollback {ref.action} failed: {exc}")
                    continue
                self._journal(self.journal.event, self.iid, "result", step.id, rollback=ref.action, ok=True,
                              summary=res.summary)
                crashpoints.reached(f"undone:{step.id}")
                self.rows.append((step.id, "undone", f"{ref.action}: {res.summary}"))
                self.report("undone", step.id, f"{ref.action}: {res.summary}", res.changes)
        broken = broken or self._not_undone()
        if broken:
            self._trigger("rollback_failed")
            return Outcome.FAILED
        self._trigger("rolled")
        return Outcome.ROLLED_BACK


SUMMARY = {Outcome.RECOVERED: "recovered: dockerd answers and the containers run",
           Outcome.HEALTHY: "healthy: nothing to do", Outcome.PLANNED: "dry-run: nothing was changed",
           Outcome.REFUSED: "refused: nothing destructive was done",
           Outcome.ROLLED_BACK: "ROLLED BACK: the host is back on its original state; it still needs a person",
           Outcome.NOT_HEALED: "NOT HEALED: a step failed before anything was changed; the host is as it was",
           Outcome.FAILED: "FAILED: the host was changed and could not be restored; it needs a person now",
           Outcome.ESCALATED: "ESCALATED: evidence kept; nothing safe to do automatically, a person decides",
           Outcome.COLLECTED: "evidence collected; nothing was changed"}


@dataclass
class Rung:
    """One runbook run inside an incident: how it ended, and its rows."""

    runbook: str
    outcome: Outcome
    rows: list[tuple[str, str, str]]
    journal_lost: str = ""  # the journal failed under this rung: the ladder never climbs on from it

    @property
    def detail(self) -> str:
        """The row that best explains the outcome, as '(step: text)'."""
        last = next((r for r in reversed(self.rows) if r[1] in ("failed", "refused")), None)
        stopper = next((r for r in reversed(self.rows) if r[1] == "ok"), None)
        if self.outcome in (Outcome.ESCALATED, Outcome.COLLECTED) and stopper:
            return f" ({stopper[0]}: {stopper[2]})"
        if last and self.outcome not in (Outcome.RECOVERED, Outcome.HEALTHY):
            return f" ({last[0]}: {last[2]})"
        if self.outcome is Outcome.HEALTHY and self.rows:
            return f" ({self.rows[-1][2]})"
        return ""


def open_incident(*, host: Host, runbook: Runbook, journal: Journal, report: Reporter, dry_run: bool,
                  evidence_budget: float, facts: factsmod.Facts | None = None, service: Controller | None = None,
                  verdict: Verdict | None = None, probe: ProbeConfig | None = None,
                  evidence_max_mb: float = 64.0) -> StepContext:
    """Open the incident in the journal and build the context its rungs share."""
    row = journal.open_incident(host=host.name, runbook=runbook.name, sha256=runbook.sha256, dry_run=dry_run)
    facts = facts or factsmod.resolve(host)
    journal.event(row.id, "facts", None, **facts.as_vars(), notes=facts.notes, dockerd_pid=facts.dockerd_pid,
                  containerd_sock=facts.containerd_sock, containerd_pidfile=facts.containerd_pidfile)
    report("facts", None, f"Docker {facts.version or '?'}; layout {facts.layout}; state dirs {facts.state_dirs}",
           facts.notes)
    return incident_context(row.id, row.dir, host=host, facts=facts, report=report, evidence_budget=evidence_budget,
                            service=service, verdict=verdict, probe=probe, evidence_max_mb=evidence_max_mb)


def incident_context(incident: str, directory: str, *, host: Host, facts: factsmod.Facts, report: Reporter,
                     evidence_budget: float, service: Controller | None = None, verdict: Verdict | None = None,
                     probe: ProbeConfig | None = None, evidence_max_mb: float = 64.0) -> StepContext:
    """The context the rungs of one incident share (a new incident, or one resumed from the journal)."""
    return StepContext(host=host, service=service or controller(host), facts=facts, incident_id=incident,
                       incident_dir=Path(directory), evidence_budget=evidence_budget, verdict=verdict,
                       probe=probe or ProbeConfig(), evidence_max_mb=evidence_max_mb,
                       progress=lambda msg: report("progress", None, msg))


@dataclass
class Progress:
    """How far a rung got before its operator died, read back from the journal (remediator.resume)."""

    done: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)  # (step, output, changed), in order
    pending: str | None = None  # the step with an intent and no result
    rolling_back: bool = False
    undone: set[tuple[str, str]] = field(default_factory=set)  # (step, rollback action) finished
    approvals: dict[str, str] = field(default_factory=dict)  # step -> plan hash approved
    skip_to: str | None = None  # the host healed meanwhile: go straight to this (verify) step, skipping the rest
    skip_why: str = ""


def _restore(run: _Run, runbook: Runbook, progress: Progress) -> tuple[int, Outcome | None]:
    """Put the run back where the journal says it was; return the index of the next step to run (or an outcome)."""
    steps = {s.id: s for s in runbook.steps}
    for sid, data, changed in progress.done:
        run.ctx.outputs[sid] = data
        step = steps[sid]
        if ACTIONS[step.action].mutates and changed:
            run.done.append(step)
            run.model.mutated = run.model.mutated or bool(step.rollback)
    run.approved_before = dict(progress.approvals)
    run.undone_before = set(progress.undone)
    ids = [s.id for s in runbook.steps]
    last = max((ids.index(sid) for sid, _, _ in progress.done), default=-1)
    if progress.rolling_back:
        run.machine.set_state("rolling_back", run.model)
        return len(ids), run._rollback("resumed: the rollback was under way when the operator stopped")
    if progress.skip_to in steps and ids.index(str(progress.skip_to)) > last:
        target = ids.index(str(progress.skip_to))
        for step in runbook.steps[last + 1:target]:
            if step.id == progress.pending and ACTIONS[step.action].mutates and step not in run.done:
                run.done.append(step)  # cut short mid-step: it may have half-happened, so a rollback undoes it
                run.model.mutated = run.model.mutated or bool(step.rollback)
            run.journal.event(run.iid, "skipped", step.id, reason=progress.skip_why)
            run.rows.append((step.id, "skipped", progress.skip_why))
            run.report("warn", step.id, f"skipped: {progress.skip_why}")
        run.machine.set_state(machine.step_state(ids[target - 1]), run.model)
        return target, None
    if progress.pending is not None and progress.pending in steps:
        step = steps[progress.pending]
        if not ACTIONS[step.action].idempotent:  # it may have half-happened and cannot simply run again
            run.machine.set_state(machine.step_state(step.id), run.model)
            run.journal.event(run.iid, "result", step.id, ok=False, error="interrupted mid-step; not idempotent")
            return len(ids), run._failure(step, "the operator stopped in the middle of this step, which cannot be "
                                                "run twice", include_self=True)
        run.rerun = step.id
        run.report("warn", step.id, "the operator stopped in the middle of this step; it is idempotent: running it again")
    run.machine.set_state(machine.step_state(ids[last]) if last >= 0 else "suspect", run.model)
    return last + 1, None


def run_rung(ctx: StepContext, runbook: Runbook, *, journal: Journal, approver: Approver, report: Reporter,
             dry_run: bool, progress: Progress | None = None) -> Rung:
    """Run (or plan) one runbook of the incident ctx belongs to, with a machine of its own; with `progress`,
    go on from where the journal says the previous operator stopped."""
    run = _Run(runbook=runbook, ctx=ctx, journal=journal, incident=ctx.incident_id, approver=approver, report=report,
               dry_run=dry_run, names=variables(runbook.params, ctx.facts.as_vars()))
    first, outcome = 0, None
    if progress is None:
        run._trigger("detect")
    else:
        first, outcome = _restore(run, runbook, progress)
        if outcome is not None:
            return Rung(runbook.name, outcome, run.rows)
    try:
        for step in runbook.steps[first:]:
            if STOP.is_set():
                journal.event(ctx.incident_id, "interrupted", step.id, reason="SIGINT/SIGTERM: stopped between steps")
                raise Interrupted(f"stopped before step {step.id}; incident {ctx.incident_id} is in flight: "
                                  "`remediator run` on this host resumes it")
            outcome = run.step(step)
            if outcome is not None:
                break
        if outcome is None:
            if dry_run:
                outcome = Outcome.PLANNED
            else:
                run._trigger("finish")
                outcome = Outcome.RECOVERED
    except Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever broke, the incident ends with an outcome and its rollback
        run.report("fail", None, _describe(exc))
        if isinstance(exc, JournalError):  # e.g. the state filesystem filled: the rollback must still run
            run.rolling_back = True  # nothing goes forward any more; the journal is not relied on again
            run._lost(exc)
        run._journal(run.journal.event, run.iid, "error", None, error=_describe(exc))
        if run.model.mutated and run.model.state != "rolling_back":
            run.rolling_back = True
            run._trigger("fail")  # to rolling_back: the rollback's end is a transition from there
        outcome = run._rollback(_describe(exc)) if run.model.mutated else Outcome.NOT_HEALED
    return Rung(runbook.name, outcome, run.rows, run.journal_lost)


def run_incident(*, host: Host, runbook: Runbook, journal: Journal, approver: Approver, report: Reporter,
                 dry_run: bool, evidence_budget: float, facts: factsmod.Facts | None = None,
                 service: Controller | None = None, verdict: Verdict | None = None,
                 probe: ProbeConfig | None = None, evidence_max_mb: float = 64.0) -> Report:
    """One incident of exactly one runbook (no ladder): open, run, close. `facts` and `service`
    default to what the host says; tests pass fakes. The ladder (remediator.ladder) climbs."""
    ctx = open_incident(host=host, runbook=runbook, journal=journal, report=report, dry_run=dry_run,
                        evidence_budget=evidence_budget, facts=facts, service=service, verdict=verdict, probe=probe,
                        evidence_max_mb=evidence_max_mb)
    rung = run_rung(ctx, runbook, journal=journal, approver=approver, report=report, dry_run=dry_run)
    return close_incident(ctx, journal, [rung])


def close_incident(ctx: StepContext, journal: Journal, rungs: list[Rung], outcome: Outcome | None = None,
                   note: str = "") -> Report:
    """Close the incident: the last rung's outcome (or the one given) and a summary naming the chain."""
    last = rungs[-1]
    outcome = outcome or last.outcome
    unhealed = next((r.outcome for r in reversed(rungs[:-1]) if r.outcome in (Outcome.ROLLED_BACK, Outcome.NOT_HEALED)), None)
    if unhealed is not None and outcome in (Outcome.HEALTHY, Outcome.PLANNED):
        outcome = unhealed  # a later rung found nothing to do: the earlier one still did not heal the host
    summary = SUMMARY[outcome] + (f" ({note})" if note else last.detail)
    if len(rungs) > 1:
        summary += " — chain: " + " → ".join(r.runbook for r in rungs)
    try:
        journal.close(ctx.incident_id, outcome.value, summary,
                      runbook=" → ".join(r.runbook for r in rungs) if len(rungs) > 1 else None)
    except JournalError as exc:  # the outcome still reaches the operator; the journal shows it in flight
        summary += f" [not journaled: {exc}]"
    rows = [row for r in rungs for row in r.rows]
    return Report(incident=ctx.incident_id, outcome=outcome, summary=summary, dir=str(ctx.incident_dir), steps=rows,
                  chain=[r.runbook for r in rungs])

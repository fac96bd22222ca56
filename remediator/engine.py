"""The step driver: runs one rung (one runbook) of an incident — guards, approvals, actions with deadlines and
retries, rollback, journal.

Role: drive the machine through the runbook. Every mutating step's intent is journaled before it
starts and its outcome after. A risky step runs only when the approver says yes (the CLI's
approver says no without a TTY or --yes); approving a step approves its declared rollback.
Dry-run walks the same path, evaluating guards for real and asking actions for plans only.
Exceptions become outcomes here: nothing escapes run_rung (the ladder's unit; ladder.heal runs the rungs) but
bugs, and `Interrupted` when `stop` is set between two steps. Opening and closing the incident is
remediator.incident's; reading back where an interrupted rung stopped is remediator.resume's.
Must not: print or prompt (the Reporter and Approver do), or import click/rich.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import threading
import time
from dataclasses import replace
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
from remediator.actions import ACTIONS, GUARDS, ActionSpec, StepContext
from remediator.errors import HostError, JournalError, RemediatorError, TemporaryStepError
from remediator.incident import Reporter, Rung
from remediator.journal import Journal
from remediator.resume import Course, CourseKind, Progress
from remediator.runbook import Runbook, Step, resolve, variables
from remediator.structs import ApprovalRequest, GuardResult, Outcome, StepEvent, StepResult, StepRow
from remediator.undo import Rollback
from remediator.vocab import EventKind, StepStatus


class Interrupted(RemediatorError):
    """The operator was asked to stop: the step under way finished, the incident stays in flight (exit 7)."""


class StepCrashed(RemediatorError):
    """An action raised something that is not one of ours (an OSError half-way, a bug): the step failed."""


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" on {exc.filename}" if exc.filename else ""
        return f"{type(exc).__name__}: {exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


class Approver(Protocol):
    """Asks whether a risky step may run: (yes or no, who or why)."""

    def __call__(self, request: ApprovalRequest, /) -> tuple[bool, str]: ...


class RungRunner(Rollback):
    """One rung: the runbook's machine, the steps done, the rows shown, and how to undo them."""

    def __init__(self, ctx: StepContext, runbook: Runbook, *, journal: Journal, approver: Approver,
                 report: Reporter, dry_run: bool, stop: threading.Event) -> None:
        self.rb, self.ctx, self.journal, self.iid = runbook, ctx, journal, ctx.incident_id
        self.approver, self.report, self.dry_run, self.stop = approver, report, dry_run, stop
        self.names = variables(runbook.params, ctx.facts.as_vars())
        self.model = machine.RungModel(on_change=self._changed)
        self.machine = machine.build(runbook, self.model)
        self.done: list[Step] = []  # completed mutating steps, in order
        self.rows: list[StepRow] = []
        self.approved_before: dict[str, str] = {}  # resumed: step -> plan hash approved before the restart
        self.undone_before: set[tuple[str, str]] = set()  # resumed mid-rollback: (step, rollback action) done
        self.rerun: str | None = None  # resumed: the step that was running when the operator died
        self.rolling_back = False
        self.journal_lost = ""  # why the journal could not be written during the rollback ("" while it can)

    def _changed(self, source: str, dest: str) -> None:
        self.rolling_back = self.rolling_back or dest == "rolling_back"
        self._journal(self.journal.set_state, self.iid, dest)
        self._journal(self.journal.event, self.iid, EventKind.STATE, None, source=source, dest=dest)

    def _unjournaled(self, step: Step, why: str, lost: JournalError) -> Outcome:
        """A step failed and its result cannot be journaled: nothing more runs forward (no intent could be
        journaled); what was changed, this step included (it may have half-happened), is rolled back."""
        self._row(step.id, StepStatus.FAILED, why)
        self.report("fail", step.id, why)
        if step.rollback and step not in self.done:
            self._mark_done(step, force=True)
        if not self.model.mutated:
            raise lost
        self.rolling_back = True
        self._lost(lost)
        self._trigger("fail")
        return self._rollback(f"step {step.id} failed: {why}")

    def _mark_done(self, step: Step, *, force: bool = False) -> None:
        """A step that changed the host (or may have half-happened, `force`): a rollback undoes it."""
        self.done.append(step)
        self.model.mutated = self.model.mutated or force or bool(step.rollback)  # something to undo

    # ---- one step ---------------------------------------------------------------------------
    def _guards(self, step: Step) -> list[str]:
        """Evaluate, journal and show the step's guards; return the refusals."""
        failed = []
        for g in step.guards:
            spec = GUARDS[g.check]
            try:
                res = spec.check(self.ctx, resolve(spec.params, g.params, self.names))
            except Exception as exc:  # noqa: BLE001 - a guard that cannot be evaluated refuses, whatever broke
                res = GuardResult(False, f"could not evaluate: {describe(exc)}")
            self.journal.event(self.iid, EventKind.GUARD, step.id, check=g.check, ok=res.ok, reason=res.reason)
            failed += [] if res.ok else [f"{g.check}: {res.reason}"]
            self.report("guard", step.id, f"{'ok ' if res.ok else 'NO '} {g.check}: {res.reason}")
        return failed

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
            raise StepCrashed(f"{action} raised {describe(exc)}") from exc
        finally:
            pool.shutdown(wait=False)

    def _execute(self, step: Step, params: Any, action: str | None = None) -> StepResult:
        """Run the step's action (or, for a rollback, `action`) under the step's deadline and retry policy."""
        deadline = time.monotonic() + step.timeout
        name = action or step.action

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.journal.event(self.iid, EventKind.RETRY, step.id, action=name, attempt=state.attempt_number,
                               error=str(exc))
            self.report("retry", step.id, f"{name} attempt {state.attempt_number} failed ({exc}); retrying")

        retrying = Retrying(stop=stop_after_attempt(step.retry.attempts) | stop_before_delay(step.timeout),
                            wait=wait_exponential(multiplier=step.retry.backoff, max=30),
                            retry=retry_if_exception_type((TemporaryStepError, HostError)),
                            before_sleep=before_sleep, sleep=sleep_using_event(self.stop), reraise=True)
        return retrying(self._attempt, name, step, params, deadline)

    def _plan_hash(self, step: Step, params: Any) -> str:
        """What an approval approved: the rendered step (action, params, rollback) and the facts it was rendered from."""
        body = {"step": step.id, "action": step.action, "params": params.model_dump(), "facts": self.ctx.facts.as_vars(),
                "rollback": [r.model_dump() for r in step.rollback], "runbook": self.rb.sha256}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def step(self, step: Step) -> Outcome | None:
        """Run one step; return an Outcome to end the incident, or None to go on."""
        spec = ACTIONS[step.action]
        params = resolve(spec.params, step.params, self.names)
        failed = self._guards(step)
        if self.dry_run:
            return self._plan(step, spec, params, failed)
        if failed:
            return self._failure(step, f"guard refused: {'; '.join(failed)}")
        self.model.guards_ok = True
        if step.risky:
            ok, who = self._ask(step, spec, params)
            if not ok:
                self._row(step.id, StepStatus.REFUSED, who)
                self.report("refused", step.id, f"not approved ({who})")
                self._trigger("deny")
                return self._rollback(f"step {step.id} was not approved ({who})") if self.model.mutated \
                    else Outcome.REFUSED
        return self._run(step, spec, params)

    def _ask(self, step: Step, spec: ActionSpec[Any], params: Any) -> tuple[bool, str]:
        """A risky step's approval: shown as a plan, bound to its digest, journaled."""
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
            ok, who = self.approver(ApprovalRequest(self.iid, step.id, step.action, plan.summary, plan.changes, digest))
        self.journal.event(self.iid, EventKind.APPROVAL, step.id, approved=ok, by=who, plan_sha256=digest)
        self.model.approved = ok
        return ok, who

    def _run(self, step: Step, spec: ActionSpec[Any], params: Any) -> Outcome | None:
        """The step's action, its intent journaled before and its result after."""
        self.journal.event(self.iid, EventKind.INTENT, step.id, action=step.action, params=params.model_dump(),
                           mutates=spec.mutates)
        self._trigger(f"run_{step.id}")
        self.report("start", step.id, spec.summary or step.action)
        t0 = time.monotonic()
        try:
            result = self._execute(step, params)
        except RemediatorError as exc:
            took = time.monotonic() - t0
            try:
                self.journal.event(self.iid, EventKind.RESULT, step.id, ok=False, error=str(exc), seconds=took)
            except JournalError as lost:  # the step failed and the journal is full: undo what this process knows
                return self._unjournaled(step, str(exc), lost)
            return self._failure(step, str(exc), include_self=True, event=StepEvent(step.id, step.action, took, False))
        crashpoints.reached(f"during:{step.id}")
        took = time.monotonic() - t0
        if step.id == self.rerun and not result.changed:
            result = replace(result, changed=True)  # it ran before the restart too: what it changed then is unknown
        self.ctx.outputs[step.id] = result.data
        if spec.mutates and result.changed:  # before its result is journaled: a journal that fails now (full)
            self._mark_done(step)  # still has this step undone by the rollback it causes
        self.journal.event(self.iid, EventKind.RESULT, step.id, ok=True, summary=result.summary, changes=result.changes,
                           data=result.data, seconds=took, changed=result.changed, action=step.action)
        crashpoints.reached(f"after:{step.id}")
        self._row(step.id, StepStatus.OK, f"{result.summary} ({took:.1f}s)")
        self.report("ok", step.id, f"{result.summary} ({took:.1f}s)", result.changes,
                    event=StepEvent(step.id, step.action, took, True))
        return self._stopped_by(result)

    def _stopped_by(self, result: StepResult) -> Outcome | None:
        """The outcome a step's result ends the rung with (None: go on)."""
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

    def _plan(self, step: Step, spec: ActionSpec[Any], params: Any, failed: list[str]) -> Outcome | None:
        try:
            plan: StepResult = spec.plan(self.ctx, params)
        except Exception as exc:  # noqa: BLE001 - a plan that cannot be made refuses; never a traceback
            self._row(step.id, StepStatus.PLAN_ERROR, str(exc))
            self.report("fail", step.id, f"cannot plan: {exc}")
            return Outcome.REFUSED
        note = f" [guards now: {'; '.join(failed)} — re-checked after the earlier steps run]" if failed else ""
        mark = "would ask approval, then " if step.risky else ""
        self._row(step.id, StepStatus.PLAN, plan.summary + note)
        self.report("plan", step.id, mark + plan.summary + note, plan.changes)
        self.journal.event(self.iid, EventKind.PLAN, step.id, summary=mark + plan.summary + note,
                           changes=plan.changes[:50], action=step.action)  # a dry run (observe policy) keeps it
        self.ctx.outputs[step.id] = plan.data
        if plan.stop is not None:
            return plan.stop
        return None

    # ---- failure and rollback ---------------------------------------------------------------
    def _failure(self, step: Step, why: str, include_self: bool = False,
                 event: StepEvent | None = None) -> Outcome | None:
        self._row(step.id, StepStatus.FAILED, why)
        self.report("fail", step.id, why, event=event)
        if step.on_failure == "continue":
            self.report("warn", step.id, "on_failure: continue — going on without it")
            self.model.guards_ok = True
            return None
        if step.on_failure == "abort":
            self._trigger("abort")
            return Outcome.FAILED if self.model.mutated else Outcome.NOT_HEALED
        if include_self and step.rollback and step not in self.done:
            self._mark_done(step, force=True)  # a failed step may have half-happened: undo it too
        self._trigger("fail")
        return self._rollback(f"step {step.id} failed: {why}") if self.model.state == "rolling_back" else Outcome.NOT_HEALED

    # ---- resumed ------------------------------------------------------------------------------
    def restore(self, progress: Progress, course: Course | None = None) -> tuple[int, Outcome | None]:
        """Put the rung back where the journal says it was (remediator.resume read it; `course` may skip to the
        verify step); return the index of the next step to run, or the outcome the rung already has."""
        steps = {s.id: s for s in self.rb.steps}
        for sid, data, changed in progress.done:
            self.ctx.outputs[sid] = data
            if ACTIONS[steps[sid].action].mutates and changed:
                self._mark_done(steps[sid])
        self.approved_before = dict(progress.approvals)
        self.undone_before = set(progress.undone)
        ids = [s.id for s in self.rb.steps]
        last = max((ids.index(sid) for sid, _, _ in progress.done), default=-1)
        if progress.rolling_back:
            self.machine.set_state("rolling_back", self.model)
            return len(ids), self._rollback("resumed: the rollback was under way when the operator stopped")
        if course is not None and course.kind is CourseKind.SKIP_TO_VERIFY and course.skip_to in steps \
                and ids.index(str(course.skip_to)) > last:
            return self._skip(progress, course, last), None
        if progress.pending is not None and progress.pending in steps:
            step = steps[progress.pending]
            if not ACTIONS[step.action].idempotent:  # it may have half-happened and cannot simply run again
                self.machine.set_state(machine.step_state(step.id), self.model)
                self.journal.event(self.iid, EventKind.RESULT, step.id, ok=False,
                                   error="interrupted mid-step; not idempotent")
                return len(ids), self._failure(step, "the operator stopped in the middle of this step, which cannot "
                                                     "be run twice", include_self=True)
            self.rerun = step.id
            self.report("warn", step.id, "the operator stopped in the middle of this step; it is idempotent: running it "
                        "again")
        self.machine.set_state(machine.step_state(ids[last]) if last >= 0 else "suspect", self.model)
        return last + 1, None

    def _skip(self, progress: Progress, course: Course, last: int) -> int:
        """Skip the steps between the last one done and the course's verify step; return the verify's index."""
        ids = [s.id for s in self.rb.steps]
        target = ids.index(str(course.skip_to))
        for step in self.rb.steps[last + 1:target]:
            if step.id == progress.pending and ACTIONS[step.action].mutates and step not in self.done:
                self._mark_done(step)  # cut short mid-step: it may have half-happened, so a rollback undoes it
            self.journal.event(self.iid, EventKind.SKIPPED, step.id, reason=course.skipped)
            self._row(step.id, StepStatus.SKIPPED, course.skipped)
            self.report("warn", step.id, f"skipped: {course.skipped}")
        self.machine.set_state(machine.step_state(ids[target - 1]), self.model)
        return target

    def run(self, first: int | None = None) -> Outcome:
        """The steps from `first` on (None: a new rung, from the first step); whatever breaks, the rung ends with an
        outcome (and its rollback)."""
        if first is None:
            self._trigger("detect")
        try:
            return self._steps(first or 0)
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever broke, the incident ends with an outcome and its rollback
            self.report("fail", None, describe(exc))
            if isinstance(exc, JournalError):  # e.g. the state filesystem filled: the rollback must still run
                self.rolling_back = True  # nothing goes forward any more; the journal is not relied on again
                self._lost(exc)
            self._journal(self.journal.event, self.iid, EventKind.ERROR, None, error=describe(exc))
            if self.model.mutated and self.model.state != "rolling_back":
                self.rolling_back = True
                self._trigger("fail")  # to rolling_back: the rollback's end is a transition from there
            return self._rollback(describe(exc)) if self.model.mutated else Outcome.NOT_HEALED

    def _steps(self, first: int) -> Outcome:
        for step in self.rb.steps[first:]:
            if self.stop.is_set():
                self.journal.event(self.iid, EventKind.INTERRUPTED, step.id,
                                   reason="SIGINT/SIGTERM: stopped between steps")
                raise Interrupted(f"stopped before step {step.id}; incident {self.iid} is in flight: "
                                  "`remediator run` on this host resumes it")
            outcome = self.step(step)
            if outcome is not None:
                return outcome
        if self.dry_run:
            return Outcome.PLANNED
        self._trigger("finish")
        return Outcome.RECOVERED


def run_rung(ctx: StepContext, runbook: Runbook, *, journal: Journal, approver: Approver, report: Reporter,
             dry_run: bool, stop: threading.Event | None = None, progress: Progress | None = None,
             course: Course | None = None) -> Rung:
    """Run (or plan) one runbook of the incident ctx belongs to, with a machine of its own; with `progress`,
    go on from where the journal says the previous operator stopped (`course`: how remediator.resume decided)."""
    runner = RungRunner(ctx, runbook, journal=journal, approver=approver, report=report, dry_run=dry_run,
                        stop=stop or threading.Event())
    if progress is None:
        return Rung(runbook.name, runner.run(), runner.rows, runner.journal_lost)
    first, outcome = runner.restore(progress, course)
    if outcome is not None:
        return Rung(runbook.name, outcome, runner.rows)
    return Rung(runbook.name, runner.run(first), runner.rows, runner.journal_lost)

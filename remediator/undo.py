"""The rollback of a rung: the declared undo actions of the steps done, in reverse, then proof that the host is
back, going on when the journal cannot be written.

Role: the engine's step driver (`engine.RungRunner`) inherits `Rollback`; a rollback action runs like a step (the
forward step's deadline and retries: `_execute`) and is journaled like one. After a rollback, every undone step
whose action can tell (`ActionSpec.not_undone`; files.quarantine: each moved tree back at its source, the very
directory) is asked; any doubt makes the outcome FAILED. During a rollback a journal write that fails (its
filesystem full, EIO) is said once and never stops the rollback, which runs from what the process holds.
Must not: decide when to roll back (the engine does), prompt or print.
"""

from __future__ import annotations

from typing import Any

from remediator import crashpoints, machine
from remediator.actions import ACTIONS, StepContext
from remediator.errors import JournalError, RemediatorError
from remediator.incident import Reporter
from remediator.journal import Journal
from remediator.runbook import Step, resolve
from remediator.structs import Outcome, StepResult, StepRow
from remediator.vocab import EventKind, StepStatus


class Rollback:
    journal: Journal
    iid: str
    ctx: StepContext
    model: machine.RungModel
    done: list[Step]
    undone_before: set[tuple[str, str]]  # resumed mid-rollback: (step, rollback action) done before the restart
    names: dict[str, Any]
    rows: list[StepRow]
    report: Reporter
    rolling_back: bool
    journal_lost: str  # why the journal could not be written during the rollback ("" while it can)

    def _execute(self, step: Step, params: Any, action: str | None = None) -> StepResult:
        raise NotImplementedError  # the engine's: an action under the step's deadline and retry policy

    def _trigger(self, name: str) -> None:
        if not self.model.trigger(name):
            raise RemediatorError(f"machine refused {name} in state {self.model.state}")  # a bug, not an outcome

    def _row(self, step: str, status: StepStatus, text: str) -> None:
        self.rows.append(StepRow(step, status, text))

    def _rollback(self, why: str) -> Outcome:
        self.rolling_back = True
        self.report("rollback", None, f"ROLLING BACK: {why}")
        self._journal(self.journal.event, self.iid, EventKind.ROLLBACK, None, reason=why)
        broken = []
        for step in reversed(self.done):
            for ref in step.rollback:
                if (step.id, ref.action) not in self.undone_before:  # resumed mid-rollback: finished before
                    broken += self._undo(step, ref.action, ref.params)
        broken = broken or self._not_undone()
        if broken:
            self._trigger("rollback_failed")
            return Outcome.FAILED
        self._trigger("rolled")
        return Outcome.ROLLED_BACK

    def _undo(self, step: Step, action: str, raw: dict[str, Any]) -> list[str]:
        """One rollback action of a step, journaled like a step; [] when it ran, else what broke."""
        spec = ACTIONS[action]
        try:
            params = resolve(spec.params, raw, self.names)
            self._journal(self.journal.event, self.iid, EventKind.INTENT, step.id, rollback=action,
                          params=params.model_dump())
            res = self._execute(step, params, action=action)  # the forward step's deadline and retry
        except RemediatorError as exc:
            self._journal(self.journal.event, self.iid, EventKind.RESULT, step.id, rollback=action, ok=False,
                          error=str(exc))
            self.report("fail", step.id, f"rollback {action} failed: {exc}")
            return [f"{step.id}/{action}: {exc}"]
        self._journal(self.journal.event, self.iid, EventKind.RESULT, step.id, rollback=action, ok=True,
                      summary=res.summary)
        crashpoints.reached(f"undone:{step.id}")
        self._row(step.id, StepStatus.UNDONE, f"{action}: {res.summary}")
        self.report("undone", step.id, f"{action}: {res.summary}", res.changes)
        return []


    def _journal(self, write: Any, *args: Any, **detail: Any) -> None:
        """A journal write. Before a rollback a failing one stops the incident (no mutation without its intent
        journaled); during a rollback (its filesystem full, EIO) it never does: the rollback runs from what this
        process holds in memory, and says so once."""
        try:
            write(*args, **detail)
        except JournalError as exc:
            if not self.rolling_back:
                raise
            self._lost(exc)

    def _lost(self, exc: JournalError) -> None:
        if not self.journal_lost:
            self.journal_lost = str(exc)
            self.report("journal", None, f"the journal cannot be written ({exc}): nothing more runs forward; the "
                        "rollback runs from the record in memory, and the journal will not show it")

    def _not_undone(self) -> list[str]:
        """A rollback that ran without an error must still prove the host is back: each undone step whose action
        can tell (files.quarantine: its trees back at their sources, the very directories) is asked. Any doubt
        is a FAILED outcome - the host changed, a person is needed - never a ROLLED_BACK the ladder climbs from."""
        problems = []
        for step in self.done:
            check = ACTIONS[step.action].not_undone
            if check is None:  # (a quarantine without a declared rollback counts too: its tree must be back)
                continue
            try:
                why = check(self.ctx, resolve(ACTIONS[step.action].params, step.params, self.names),
                            self.ctx.outputs.get(step.id, {}))
            except Exception as exc:  # noqa: BLE001 - a check that cannot be made is a doubt, never a pass
                why = [f"cannot check: {type(exc).__name__}: {exc}"]
            problems += [f"{step.id}: {w}" for w in why]
        for text in problems:
            self.report("fail", None, f"the rollback did not put the host back: {text}")
        if problems:
            self._journal(self.journal.event, self.iid, EventKind.ROLLBACK_UNVERIFIED, None, problems=problems)
            self._row("rollback", StepStatus.FAILED, "the rollback did not put the host back: " + "; ".join(problems))
        return problems


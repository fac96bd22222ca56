"""What a rollback owes beyond running the declared undo actions: proof that the host is back, and going on
when the journal cannot be written.

Role: the engine's step driver (`engine.RungRunner`) inherits `Proof`. After a rollback, every undone step whose
action can tell (`ActionSpec.not_undone`; files.quarantine: each moved tree back at its source, the very
directory) is asked; any doubt makes the outcome FAILED. During a rollback a journal write that fails (its
filesystem full, EIO) is said once and never stops the rollback, which runs from what the process holds.
Must not: run actions or decide outcomes (the engine does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remediator.actions import ACTIONS, StepContext
from remediator.errors import JournalError
from remediator.journal import Journal
from remediator.runbook import Step, resolve
from remediator.structs import StepRow
from remediator.vocab import EventKind, StepStatus


class Proof:
    journal: Journal
    iid: str
    ctx: StepContext
    done: list[Step]
    names: dict[str, Any]
    rows: list[StepRow]
    report: Callable[..., None]
    rolling_back: bool
    journal_lost: str  # why the journal could not be written during the rollback ("" while it can)

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
            self.rows.append(StepRow("rollback", StepStatus.FAILED,
                                     "the rollback did not put the host back: " + "; ".join(problems)))
        return problems


"""Resume: rebuild an interrupted incident from the journal alone, and decide how it goes on.

Role: an incident whose row never got an `ended` is in flight — its operator was SIGKILLed, lost its
SSH session, or the machine rebooted. `read` gets back the facts its plans were rendered from, the rungs it
ran, and, for the last rung, its `Progress`: the steps that completed (with their outputs: the snapshot, the
backup manifests), the step that was running, a rollback under way, and the approvals given. `course` decides,
from how the host reads now, what the resume does: a small typed `Course`, never a sentence to parse.
Must not: touch the host (the app layer re-diagnoses, the engine goes on).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from remediator.actions import ACTIONS
from remediator.detect.facts import Facts
from remediator.detect.verdict import Verdict
from remediator.incident import Rung
from remediator.journal import IncidentRow, Journal
from remediator.runbook import Runbook, Step
from remediator.structs import Outcome
from remediator.vocab import Diagnosis, EventKind

# the machine's end states, and the outcome each one means (an operator can die between the two writes)
ENDS = {"recovered": Outcome.RECOVERED, "healthy": Outcome.HEALTHY, "rolled_back": Outcome.ROLLED_BACK,
        "not_healed": Outcome.NOT_HEALED, "failed": Outcome.FAILED, "refused": Outcome.REFUSED,
        "escalated": Outcome.ESCALATED, "collected": Outcome.COLLECTED}
HEALED_ALONE = "the host recovered while its operator was away"

Event = tuple[str, str | None, dict[str, Any]]  # (kind, step, detail) of one journal line


@dataclass
class Progress:
    """How far a rung got before its operator died, read back from the journal."""

    done: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)  # (step, output, changed), in order
    pending: str | None = None  # the step with an intent and no result
    pending_action: str | None = None
    rolling_back: bool = False
    undone: set[tuple[str, str]] = field(default_factory=set)  # (step, rollback action) finished
    approvals: dict[str, str] = field(default_factory=dict)  # step -> plan hash approved
    last_state: str | None = None  # the machine's last state journaled

    def feed(self, kind: str, step: str | None, d: dict[str, Any]) -> None:
        """One journal line of the rung, in order."""
        forward = step is not None and "rollback" not in d
        if kind == EventKind.APPROVAL and d.get("approved") and step:
            self.approvals[step] = str(d.get("plan_sha256") or "")
        elif kind == EventKind.INTENT and forward:
            self.pending, self.pending_action = step, str(d.get("action"))
        elif kind == EventKind.RESULT and forward and step:
            if d.get("ok"):
                self.done.append((step, dict(d.get("data") or {}), bool(d.get("changed", True))))
            self.pending = None
        elif kind == EventKind.ROLLBACK:
            self.rolling_back, self.pending = True, None
        elif kind == EventKind.RESULT and step and d.get("ok") and "rollback" in d:
            self.undone.add((step, str(d["rollback"])))
        elif kind == EventKind.STATE:
            self.last_state = d.get("dest")


@dataclass
class ResumePoint:
    """Where an interrupted incident stopped: everything the engine needs to go on."""

    row: IncidentRow
    facts: Facts
    earlier: list[Rung]  # rungs that ended before the last one
    runbook: str  # the last rung's runbook
    sha256: str
    number: int
    progress: Progress
    ended: Outcome | None = None  # the last rung reached an end state but the incident was never closed

    @property
    def step(self) -> str:
        """Where in its rung the operator stopped, as 'after step X' (no runbook name)."""
        if self.ended is not None:
            return f"after {self.runbook} ended ({self.ended.value}), before the incident was closed"
        if self.progress.rolling_back:
            return f"while {self.runbook} was rolling back"
        if self.progress.pending:
            return f"in the middle of step {self.progress.pending} ({self.progress.pending_action})"
        last = self.progress.done[-1][0] if self.progress.done else None
        return f"after step {last}" if last else "before the first step"

    @property
    def where(self) -> str:
        """Where the operator stopped, naming the runbook."""
        if self.ended is not None or self.progress.rolling_back:
            return self.step
        return f"{self.step} of {self.runbook}"


def _rungs(row: IncidentRow, events: list[tuple[float, str, str | None, dict[str, Any]]]) -> list[
        tuple[dict[str, Any], list[Event]]]:
    """The journal's lines of each rung, after its `rung` line."""
    rungs: list[tuple[dict[str, Any], list[Event]]] = []
    for _, kind, step, d in events:
        if kind == EventKind.RUNG:
            rungs.append((d, []))
        elif rungs:
            rungs[-1][1].append((kind, step, d))
    if not rungs:  # a journal from before the ladder: one rung, the incident's runbook
        rungs = [({"runbook": row.runbook, "sha256": "", "number": 1}, [(k, s, d) for _, k, s, d in events])]
    return rungs


def read(journal: Journal, row: IncidentRow) -> ResumePoint:
    """Everything the engine needs to go on, from the journal alone."""
    events = journal.events(row.id)
    facts = next((Facts.from_record(d) for _, kind, _, d in events if kind == EventKind.FACTS), None)
    if facts is None:
        raise ValueError(f"incident {row.id} has no facts in the journal: it never started a step")
    rungs = _rungs(row, events)
    earlier = []
    for head, evs in rungs[:-1]:
        last_state = next((d.get("dest") for k, _, d in reversed(evs) if k == EventKind.STATE), None)
        earlier.append(Rung(str(head["runbook"]), ENDS.get(str(last_state), Outcome.FAILED), []))
    head, evs = rungs[-1]
    progress = Progress()
    for kind, step, d in evs:
        progress.feed(kind, step, d)
    ended = ENDS.get(str(progress.last_state)) if progress.last_state in ENDS else None
    return ResumePoint(row, facts, earlier, str(head["runbook"]), str(head.get("sha256") or ""),
                       int(head.get("number") or len(rungs)), progress, ended)


class CourseKind(enum.StrEnum):
    CLOSE_HEALTHY = "close-healthy"  # healed meanwhile and nothing was changed: close, change nothing
    SKIP_TO_VERIFY = "skip-to-verify"  # changed, and healthy now: the rest is not redone, verify checks
    GO_ON = "go-on"  # the rung goes on from where it stopped (or finishes its rollback)


@dataclass(frozen=True)
class Course:
    """What a resume does: `why` is what is journaled and shown; `skip_to` the verify step SKIP_TO_VERIFY goes
    to, `skipped` the reason each step skipped on the way is journaled with."""

    kind: CourseKind
    why: str
    skip_to: str | None = None
    skipped: str = ""


def _undoable(step: Step) -> bool:  # the engine's own test for "something to undo" (evidence is not)
    return ACTIONS[step.action].mutates and bool(step.rollback)


def course(rb: Runbook, point: ResumePoint, verdict: Verdict) -> Course:
    """What a resume does, given how the host reads now. A host that reads healthy and was not changed yet is
    left alone (the incident closes as healthy: no stop of a dockerd that works). One that was changed and reads
    healthy (an admin finished the fix by hand) goes straight to the runbook's verify: the rest is not redone.
    Otherwise the rung goes on from where it stopped, or finishes its rollback."""
    go_on = Course(CourseKind.GO_ON, f"going on with {rb.name} {point.step}")
    progress = point.progress
    if point.ended is not None or progress.rolling_back or verdict.diagnosis != Diagnosis.HEALTHY:
        return go_on
    steps = {s.id: s for s in rb.steps}
    changed = [sid for sid, _data, ch in progress.done if ch and _undoable(steps[sid])]
    pending = steps.get(progress.pending or "")
    if pending is not None and _undoable(pending):
        changed.append(pending.id)
    if not changed:
        return Course(CourseKind.CLOSE_HEALTHY, f"{HEALED_ALONE}: closing the incident without changing anything")
    ids = [s.id for s in rb.steps]
    after = max(ids.index(sid) for sid in changed)
    verify = next((s.id for s in rb.steps[after + 1:] if s.action == "docker.verify"), None)
    if verify is None:
        return go_on
    return Course(CourseKind.SKIP_TO_VERIFY,
                  f"it was changed ({', '.join(changed)}) and reads healthy now: skipping to {verify} to check the "
                  "containers", skip_to=verify,
                  skipped=f"the host reads healthy on resume (changed so far: {', '.join(changed)}); not redone")

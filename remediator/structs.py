"""Frozen values shared by every layer.

Role: plain data (results, outcomes, process records) with no behaviour beyond formatting.
Must not: do I/O or import third-party packages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from remediator import exitcodes
from remediator.vocab import StepStatus


class Outcome(enum.StrEnum):
    """How an incident ended; each maps to one CLI exit code."""

    RECOVERED = "recovered"  # remediated and verified
    HEALTHY = "healthy"  # nothing to do
    PLANNED = "planned"  # dry-run finished
    REFUSED = "refused"  # a risky step was not approved, or the runbook refused the diagnosis
    ROLLED_BACK = "rolled_back"  # a step failed; completed steps were undone
    NOT_HEALED = "not_healed"  # a step failed before anything was changed: the host is as it was
    FAILED = "failed"  # a step failed and its change could not be undone; the host needs a person now
    ESCALATED = "escalated"  # diagnosed, evidence kept, nothing safe to do automatically: a person decides
    COLLECTED = "collected"  # evidence only (`evidence collect`): nothing was meant to change


EXIT_CODES: dict[Outcome, int] = {  # the numbers and their meanings: remediator/exitcodes.py
    Outcome.RECOVERED: exitcodes.OK,
    Outcome.HEALTHY: exitcodes.OK,
    Outcome.PLANNED: exitcodes.OK,
    Outcome.FAILED: exitcodes.FAILED,
    Outcome.ROLLED_BACK: exitcodes.NOT_HEALED,
    Outcome.NOT_HEALED: exitcodes.NOT_HEALED,
    Outcome.REFUSED: exitcodes.REFUSED,
    Outcome.ESCALATED: exitcodes.ESCALATED,
    Outcome.COLLECTED: exitcodes.OK,
}
EXIT_BAD_INPUT = exitcodes.BAD_INPUT
EXIT_HOST_BUSY = exitcodes.HOST_BUSY
EXIT_INTERRUPTED = exitcodes.INTERRUPTED  # SIGINT/SIGTERM: the step under way finished, the incident is in flight
EXIT_INTERNAL = exitcodes.INTERNAL  # a bug: an exception nothing expected (REMEDIATOR_DEBUG=1 prints the traceback)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    duration: float


@dataclass(frozen=True)
class StepResult:
    """What an action did (or, in dry-run, would do)."""

    summary: str
    changes: list[str] = field(default_factory=list)  # human lines: paths, sizes, containers
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable output for later steps
    stop: Outcome | None = None  # end the incident here with this outcome (e.g. nothing to do)
    changed: bool = True  # False: a mutating action found nothing to do (e.g. stop with nothing running)


class StepRow(NamedTuple):
    """One row of an incident's report: a step (its rollback, its plan) and how it went."""

    step: str
    status: StepStatus
    text: str


@dataclass(frozen=True)
class StepEvent:
    """A step's action ended (the Reporter carries it; the daemon's step-duration metric reads it)."""

    step: str
    action: str
    seconds: float
    ok: bool


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approver is asked: may this risky step of this incident run, as planned? `plan_sha256` binds the
    answer to the plan (the rendered step and the facts it was rendered from)."""

    incident: str
    step: str
    action: str
    summary: str
    changes: list[str]
    plan_sha256: str


@dataclass(frozen=True)
class GuardResult:
    ok: bool
    reason: str


@dataclass(frozen=True)
class Proc:
    """One process as read from /proc."""

    pid: int
    ppid: int
    state: str  # the state letter: R S D T Z ...
    comm: str
    exe: str  # target of /proc/<pid>/exe, "" if unreadable
    cmdline: tuple[str, ...]
    start: int = 0  # start time in clock ticks since boot: a reused pid has another one

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")

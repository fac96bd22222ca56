"""The project's vocabularies, each named once: what a diagnosis, a host state, a journal event, a step row and a
probe outcome may be called.

Role: the closed sets of words that cross layers, as `StrEnum`s, so that mypy checks every use and a typo is an
error instead of a silent miss. A `StrEnum` member *is* its string (`Diagnosis.HEALTHY == "healthy"`), so the
journal, the store, `--json` and the API keep writing exactly the words they wrote before.
Must not: import anything of the project, or hold behaviour beyond naming (the descriptions of the diagnoses
and what each selects live in `detect/diagnoses.py`).
"""

from __future__ import annotations

import enum


class Diagnosis(enum.StrEnum):
    """What the host (or a log) was found to be: the verdict's name, the key that selects a runbook."""

    HEALTHY = "healthy"
    NO_FAULT = "no-fault"
    DEGRADED = "degraded"
    SUSPECT = "suspect"
    STARTING = "starting"
    NO_ACCESS = "no-access"
    CONTAINER_FAULT = "container-fault"
    DOCKERD_WEDGED = "dockerd-wedged"
    DOCKERD_DOWN = "dockerd-down"
    STALE_PIDFILE = "stale-pidfile"
    CONTAINERD_PIDFILE = "containerd-pidfile"
    CONTAINERD_WEDGED = "containerd-wedged"
    CRASH_LOOP = "crash-loop"
    START_LIMIT = "start-limit"
    CONTAINERD_STATE = "containerd-state"
    CONTAINERD_CRASH = "containerd-crash"
    CONTAINERD_DOWN = "containerd-down"
    DISK_FULL = "disk-full"
    KERNEL_HANG = "kernel-hang"
    DOCKERD_DB = "dockerd-db"
    STORAGE_DRIVER = "storage-driver"
    UNKNOWN = "unknown"


class HostState(enum.StrEnum):
    """Where the daemon holds a host between rounds (status, /metrics, the store)."""

    HEALTHY = "healthy"
    SUSPECT = "suspect"
    REMEDIATING = "remediating"
    AWAITING_APPROVAL = "awaiting-approval"
    QUARANTINED = "quarantined"
    PAUSED = "paused"
    OBSERVING = "observing"
    STOPPED_BY_ADMIN = "stopped-by-admin"
    MAINTENANCE = "maintenance"
    COOLDOWN = "cooldown"
    BREAKER_OPEN = "breaker-open"
    WAITING = "waiting"
    SUPERVISOR_RESTARTING = "supervisor-restarting"
    SUPERVISOR_UNKNOWN = "supervisor-unknown"
    SICK = "sick"
    NO_ACCESS = "no-access"


HELD_STATES: frozenset[HostState] = frozenset({
    # states a refusal set: a failing /_ping does not turn them back into "suspect"
    HostState.QUARANTINED, HostState.PAUSED, HostState.STOPPED_BY_ADMIN, HostState.MAINTENANCE,
    HostState.COOLDOWN, HostState.BREAKER_OPEN, HostState.WAITING, HostState.SUPERVISOR_RESTARTING,
    HostState.SUPERVISOR_UNKNOWN, HostState.NO_ACCESS,
})


class EventKind(enum.StrEnum):
    """The kinds of line an incident's journal holds (`events.kind`)."""

    FACTS = "facts"
    RUNG = "rung"
    GUARD = "guard"
    RETRY = "retry"
    APPROVAL = "approval"
    INTENT = "intent"
    RESULT = "result"
    PLAN = "plan"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    REDIAGNOSIS = "rediagnosis"
    RESUMED = "resumed"
    RESUME_DIAGNOSIS = "resume-diagnosis"
    RESUME_COURSE = "resume-course"
    STATE = "state"
    ROLLBACK = "rollback"
    ROLLBACK_UNVERIFIED = "rollback-unverified"
    ERROR = "error"


class StepStatus(enum.StrEnum):
    """The status of one row of an incident's report (one step, its rollback, or its plan in a dry-run)."""

    OK = "ok"
    FAILED = "failed"
    REFUSED = "refused"
    PLAN = "plan"
    PLAN_ERROR = "plan-error"
    UNDONE = "undone"
    SKIPPED = "skipped"


class PingOutcome(enum.StrEnum):
    """What one probe observed. The first ten are evidence about the host; the last two are the operator's own
    environment (`detect/probes.blame`), never evidence that the host is sick."""

    OK = "ok"
    SLOW = "slow"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    MISSING = "missing"
    ERROR = "error"
    ABSENT = "absent"
    NA = "na"
    FULL = "full"
    HUNG_TASK = "hung-task"
    DENIED = "denied"
    MISSING_BINARY = "missing-binary"

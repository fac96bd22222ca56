"""What each diagnosis means, which runbook it selects, and which takes precedence.

Role: the descriptions of the vocabulary (the names are `remediator.vocab.Diagnosis`): `DIAGNOSES` (meaning,
runbook, sick or not), `PRIORITY` (causes outside containerd's state win over it, and the least destructive fix
that fits is tried first) and `runbook_for` (a containerd-bound runbook escalates on a host whose containerd
is not dockerd's own). Must not: import anything of detect but the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

from remediator.vocab import Diagnosis as D


@dataclass(frozen=True)
class Meaning:
    name: D
    meaning: str
    runbook: str | None  # the runbook that treats it; None = nothing to do
    sick: bool = True


DIAGNOSES: dict[D, Meaning] = {d.name: d for d in (
    Meaning(D.HEALTHY, "every probe answers in time (a log: the last start completed and nothing failed after)",
            None, sick=False),
    Meaning(D.NO_FAULT, "no fault in this excerpt: no error, though it ends before the start completed", None,
            sick=False),
    Meaning(D.DEGRADED, "the daemon answers, but slowly or not every time: watch, do not restart", None, sick=False),
    Meaning(D.SUSPECT, "failing, but not for enough consecutive rounds to act on", None, sick=False),
    Meaning(D.STARTING, "dockerd is young and has not finished its start yet: wait", None, sick=False),
    Meaning(D.NO_ACCESS, "remediator cannot look: its own environment denied a probe (a permission on the socket, "
            "/proc, the log or the state dir; a program not installed; a socket that is not where dockerd "
            "listens). Not evidence that the host is sick: nothing is planned, `run` and `daemon` refuse (exit 2)",
            None, sick=False),
    Meaning(D.CONTAINER_FAULT, "one container or shim failed while the daemon runs fine: report it, no daemon action",
            None, sick=False),
    Meaning(D.DOCKERD_WEDGED, "dockerd is alive but its API does not answer; containerd and the disk are fine",
            "dockerd-restart"),
    Meaning(D.DOCKERD_DOWN, "dockerd is not running and its log names no cause", "dockerd-restart"),
    Meaning(D.STALE_PIDFILE, "a pidfile of a dead dockerd blocks its start", "dockerd-restart"),
    Meaning(D.CONTAINERD_PIDFILE, "the managed containerd's pidfile names a live process that is not containerd "
            "(a reused pid): prove it, remove the pidfile, restart", "containerd-pidfile"),
    Meaning(D.CONTAINERD_WEDGED, "containerd does not answer on its socket (dockerd's containerd calls hang)",
            "dockerd-restart"),
    Meaning(D.CRASH_LOOP, "dockerd keeps restarting without ever answering, for no known reason", "escalate"),
    Meaning(D.START_LIMIT, "systemd stopped restarting dockerd (start limit hit) and no earlier line names why",
            "escalate"),
    Meaning(D.CONTAINERD_STATE, "containerd's runtime state or metadata is corrupt: the seed incident",
            "docker-libcontainerd"),
    Meaning(D.CONTAINERD_CRASH, "containerd itself crashes, or never opens its socket: a person decides", "escalate"),
    Meaning(D.CONTAINERD_DOWN, "the external containerd does not serve: fix containerd first", "escalate"),
    Meaning(D.DISK_FULL, "the data-root or exec-root filesystem is full: a restart makes it worse", "escalate"),
    Meaning(D.KERNEL_HANG, "kernel-level hang (D-state threads, hung-task reports): needs a reboot", "escalate"),
    Meaning(D.DOCKERD_DB, "one of dockerd's own databases (local-kv.db, volumes/metadata.db, buildkit) is corrupt "
            "or locked: a person decides", "escalate"),
    Meaning(D.STORAGE_DRIVER, "the storage driver or filesystem is failing", "escalate"),
    Meaning(D.UNKNOWN, "unhealthy, and no known signature explains it: keep the evidence, escalate", "escalate"),
)}
# Causes outside containerd's state win over containerd-state (invariant 9: the fix must fit the cause),
# and the least destructive fix that fits is tried first (a pidfile before a state clear).
PRIORITY = (D.DISK_FULL, D.KERNEL_HANG, D.STORAGE_DRIVER, D.DOCKERD_DB, D.CONTAINERD_CRASH, D.CONTAINERD_DOWN,
            D.STALE_PIDFILE, D.CONTAINERD_PIDFILE, D.CONTAINERD_STATE, D.CONTAINERD_WEDGED, D.CRASH_LOOP,
            D.DOCKERD_WEDGED, D.DOCKERD_DOWN)
LAYOUT_BOUND: dict[D, tuple[str, ...]] = {D.CONTAINERD_WEDGED: ("managed", "libcontainerd"), D.CONTAINERD_STATE: ("managed", "libcontainerd"),
                D.CONTAINERD_PIDFILE: ("managed", "libcontainerd")}  # restarting dockerd restarts *its* containerd


def runbook_for(diagnosis: D, layout: str | None = None) -> str | None:
    """The runbook a diagnosis selects on a host with this containerd layout."""
    d = DIAGNOSES[diagnosis]
    bound = LAYOUT_BOUND.get(diagnosis)
    if d.runbook and bound and layout is not None and layout not in bound:
        return "escalate"
    return d.runbook


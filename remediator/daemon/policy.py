"""May the daemon act on this sick host now? Pure decisions over what the journal and the store remember.

Role: the limits that keep an auto-healer from doing harm, checked in this order, each refusal with its
reason (shown in `status`, counted in metrics): paused, quarantined, maintenance window, stopped by the admin,
the supervisor is already restarting it, cooldown, the per-host budget (exceeding it quarantines the host),
the circuit breaker (too much of the fleet sick at once: something bigger is wrong), the fleet budget.
Must not: read clocks, files or hosts itself (everything comes in as arguments), so every rule is unit-tested.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from remediator.journal import IncidentRow
from remediator.settings import LimitsConfig, MaintenanceWindow
from remediator.vocab import HostState


@dataclass(frozen=True)
class Gate:
    allowed: bool
    state: HostState  # the host's state for `status` when refused (remediating, or observing, when allowed)
    reason: str = ""  # a refusal reason key: paused, quarantined, maintenance, ... (metrics label)
    detail: str = ""
    quarantine: bool = False  # this refusal quarantines the host (the per-host budget is spent)


@dataclass(frozen=True)
class Fleet:
    hosts: int
    sick: int
    remediating: int


def in_window(windows: Sequence[MaintenanceWindow], host: str, now: float) -> MaintenanceWindow | None:
    """The daily UTC window covering `now` for this host, if any (a window may wrap midnight)."""
    t = time.gmtime(now)
    minute = t.tm_hour * 60 + t.tm_min
    for w in windows:
        if w.hosts and host not in w.hosts:
            continue
        start = int(w.start[:2]) * 60 + int(w.start[3:])
        end = int(w.end[:2]) * 60 + int(w.end[3:])
        if (start <= minute < end) if start <= end else (minute >= start or minute < end):
            return w
    return None


def remediations(history: Sequence[IncidentRow], now: float, window: float) -> list[IncidentRow]:
    """This host's real (not dry-run) incidents that started within the window."""
    return [r for r in history if not r.dry_run and r.started >= now - window]


def gate(host: str, limits: LimitsConfig, *, now: float, history: Sequence[IncidentRow],
         quarantined: str | None, paused: str | None, windows: Sequence[MaintenanceWindow],
         supervisor: str | None, fleet: Fleet, dry_run: bool = False) -> Gate:
    """Decide for one sick host. `history` is its incidents (any order); `supervisor` is what systemd says of the
    unit when it matters: "stopped-by-admin", "restarting", "unknown" (systemctl failed), or None."""
    if paused:
        return Gate(False, HostState.PAUSED, "paused", paused)
    if quarantined:
        return Gate(False, HostState.QUARANTINED, "quarantined", quarantined)
    w = in_window(windows, host, now)
    if w is not None:
        return Gate(False, HostState.MAINTENANCE, "maintenance", f"maintenance window {w.start}-{w.end} UTC")
    held = supervisor_gate(supervisor)
    if held is not None:
        return held
    ended = [r.ended for r in history if r.ended is not None and (dry_run or not r.dry_run)]
    if ended and now - max(ended) < limits.cooldown:
        return Gate(False, HostState.COOLDOWN, "cooldown", f"the last incident ended {now - max(ended):.0f}s ago "
                    f"(cooldown {limits.cooldown:g}s)")
    if not dry_run:
        recent = remediations(history, now, limits.window)
        if len(recent) >= limits.max_per_window:
            return Gate(False, HostState.QUARANTINED, "budget", f"{len(recent)} remediations in the last {limits.window:g}s "
                        f"(limit {limits.max_per_window}): quarantined until a human releases it", quarantine=True)
    if fleet.hosts >= limits.breaker_min_hosts and 100.0 * fleet.sick / fleet.hosts > limits.breaker_percent:
        return Gate(False, HostState.BREAKER_OPEN, "circuit-breaker", f"{fleet.sick} of {fleet.hosts} hosts are sick "
                    f"(> {limits.breaker_percent:g}%): something bigger than one host is wrong")
    if not dry_run and fleet.remediating >= limits.fleet_budget:
        return Gate(False, HostState.WAITING, "fleet-budget", f"{fleet.remediating} host(s) remediating already "
                    f"(fleet budget {limits.fleet_budget})")
    return Gate(True, HostState.OBSERVING if dry_run else HostState.REMEDIATING)


def supervisor_gate(supervisor: str | None) -> Gate | None:
    """The refusal systemd's view of the unit calls for, if any (checked before a diagnosis, and again after)."""
    if supervisor == "stopped-by-admin":
        return Gate(False, HostState.STOPPED_BY_ADMIN, "stopped-by-admin",
                    "the unit was stopped on purpose (inactive, not failed): never started by the daemon")
    if supervisor == "unknown":
        return Gate(False, HostState.SUPERVISOR_UNKNOWN, "supervisor-unknown",
                    "systemctl could not be asked about the unit: not acting behind systemd's back")
    if supervisor == "restarting":
        return Gate(False, HostState.SUPERVISOR_RESTARTING, "supervisor-restarting",
                    "systemd is restarting the unit itself: not racing it")
    return None


def relapse(history: Sequence[IncidentRow], now: float, probation: float) -> IncidentRow | None:
    """The recovered incident this sickness follows within the probation period, if any."""
    done = [r for r in history if not r.dry_run and r.outcome == "recovered" and r.ended is not None]
    last = max(done, key=lambda r: r.ended or 0.0, default=None)
    return last if last is not None and last.ended is not None and now - last.ended < probation else None

"""The daemon's policy gate (remediator/daemon/policy.py): every limit, in order, as a pure function."""

from __future__ import annotations

import calendar
import time

from remediator.daemon.policy import Fleet, gate, in_window, relapse
from remediator.journal import IncidentRow
from remediator.settings import LimitsConfig, MaintenanceWindow

NOW = 1_800_000_000.0
LIMITS = LimitsConfig(cooldown=300, max_per_window=3, window=3600, fleet_budget=1, breaker_percent=50,
                      breaker_min_hosts=5, probation=600)
CALM = Fleet(hosts=10, sick=1, remediating=0)


def row(started: float, ended: float | None, outcome: str | None = "recovered", dry_run: bool = False) -> IncidentRow:
    return IncidentRow("i", "h", "rb", dry_run, started, ended, "x", outcome, None, "/tmp/x")


def decide(**kw: object) -> object:
    args: dict[str, object] = {"now": NOW, "history": [], "quarantined": None, "paused": None, "windows": [],
                               "supervisor": None, "fleet": CALM}
    args.update(kw)
    return gate("h", LIMITS, **args)  # type: ignore[arg-type]


def test_a_calm_sick_host_may_be_healed() -> None:
    g = decide()
    assert g.allowed and g.state == "remediating"  # type: ignore[attr-defined]


def test_each_refusal_has_its_reason_in_order() -> None:
    assert decide(paused="ops").reason == "paused"  # type: ignore[attr-defined]
    assert decide(paused="ops", quarantined="q").reason == "paused"  # type: ignore[attr-defined]
    assert decide(quarantined="q").reason == "quarantined"  # type: ignore[attr-defined]
    assert decide(supervisor="stopped-by-admin").reason == "stopped-by-admin"  # type: ignore[attr-defined]
    assert decide(supervisor="restarting").reason == "supervisor-restarting"  # type: ignore[attr-defined]
    assert decide(supervisor="unknown").reason == "supervisor-unknown", "fails closed"  # type: ignore[attr-defined]
    assert decide(history=[row(NOW - 200, NOW - 100)]).reason == "cooldown"  # type: ignore[attr-defined]
    assert decide(history=[row(NOW - 900, NOW - 800)]).allowed  # type: ignore[attr-defined]
    assert decide(fleet=Fleet(10, 6, 0)).reason == "circuit-breaker"  # type: ignore[attr-defined]
    assert decide(fleet=Fleet(3, 2, 0)).allowed, "a fleet under breaker_min_hosts never trips the breaker"  # type: ignore[attr-defined]
    assert decide(fleet=Fleet(10, 2, 1)).reason == "fleet-budget"  # type: ignore[attr-defined]


def test_the_per_host_budget_quarantines_and_dry_runs_do_not_count() -> None:
    three = [row(NOW - 3000 + i * 600, NOW - 2900 + i * 600) for i in range(3)]
    g = decide(history=three)
    assert not g.allowed and g.reason == "budget" and g.quarantine and g.state == "quarantined"  # type: ignore[attr-defined]
    dry = [row(NOW - 3000 + i * 600, NOW - 2900 + i * 600, dry_run=True) for i in range(3)]
    assert decide(history=dry).allowed  # type: ignore[attr-defined]
    old = [row(NOW - 9000 + i * 600, NOW - 8900 + i * 600) for i in range(3)]
    assert decide(history=old).allowed, "outside the window"  # type: ignore[attr-defined]


def test_observe_is_never_held_by_the_budgets() -> None:
    three = [row(NOW - 3000 + i * 600, NOW - 2900 + i * 600) for i in range(3)]
    g = decide(history=three, fleet=Fleet(10, 2, 1), dry_run=True)
    assert g.allowed and g.state == "observing"  # type: ignore[attr-defined]


def test_maintenance_windows_wrap_midnight_and_name_hosts() -> None:
    t = float(calendar.timegm(time.strptime("2026-11-28 23:30", "%Y-%m-%d %H:%M")))
    night = MaintenanceWindow(start="23:00", end="01:00")
    assert in_window([night], "h", t) is night
    assert in_window([night], "h", t + 2 * 3600) is None
    other = MaintenanceWindow(start="23:00", end="01:00", hosts=["g"])
    assert in_window([other], "h", t) is None
    assert decide(now=t, windows=[night]).reason == "maintenance"  # type: ignore[attr-defined]


def test_a_relapse_within_probation_is_found() -> None:
    assert relapse([row(NOW - 700, NOW - 500)], NOW, 600) is not None
    assert relapse([row(NOW - 900, NOW - 700)], NOW, 600) is None
    assert relapse([row(NOW - 700, NOW - 500, outcome="rolled_back")], NOW, 600) is None

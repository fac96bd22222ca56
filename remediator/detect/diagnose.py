"""Diagnose a live host: probe rounds until the debounced verdict settles.

Role: the one code path behind `remediator probe`, the runbook selection of `run`, and the
`probe.confirm` step. Must not: change the host.
"""

from __future__ import annotations

from collections.abc import Callable

from remediator.clock import SYSTEM, Clock
from remediator.detect.facts import Facts
from remediator.detect.probes import Prober, ProbeSettings, Round
from remediator.detect.verdict import Monitor, Verdict, settle
from remediator.hosts.port import Host
from remediator.hosts.service import ServiceView
from remediator.settings import ProbeConfig


def prober_for(host: Host, service: ServiceView, facts: Facts, cfg: ProbeConfig, clock: Clock = SYSTEM) -> Prober:
    return Prober(host, service, facts, ProbeSettings(timeout=cfg.timeout, slow=cfg.slow,
                                                      min_free_percent=cfg.min_free_percent), clock=clock)


def diagnose_host(host: Host, service: ServiceView, facts: Facts, cfg: ProbeConfig, *,
                  on_round: Callable[[Round, Verdict], None] | None = None, max_rounds: int | None = None,
                  clock: Clock = SYSTEM) -> Verdict:
    """Rounds until the verdict settles (one when healthy; `debounce` in a row when sick)."""
    return settle(prober_for(host, service, facts, cfg, clock), Monitor(facts.layout, debounce=cfg.debounce, startup_grace=cfg.startup_grace),
                  interval=cfg.interval, max_rounds=max_rounds, on_round=on_round, clock=clock)

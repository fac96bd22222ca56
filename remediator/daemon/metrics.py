"""Prometheus metrics of the daemon (prometheus-client, its own registry).

Role: hosts by state and by verdict, incidents by runbook and outcome, step durations, liveness latency, time
to recover, quarantines, refusals by reason, ladder climbs, relapses. Served on /metrics by the API socket and
on daemon.metrics_listen.
Must not: decide anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from remediator.vocab import HostState

STATES = tuple(HostState)  # every state a host can be in, one gauge each


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.hosts_state = Gauge("remediator_hosts", "hosts by daemon state", ["state"], registry=r)
        self.hosts_verdict = Gauge("remediator_hosts_by_verdict", "hosts by last verdict", ["verdict"], registry=r)
        self.incidents = Counter("remediator_incidents", "incidents ended, by runbook chain and outcome",
                                 ["runbook", "outcome"], registry=r)
        self.refusals = Counter("remediator_refusals", "actions the daemon refused, by reason", ["reason"], registry=r)
        self.quarantines = Counter("remediator_quarantines", "hosts quarantined", registry=r)
        self.climbs = Counter("remediator_ladder_climbs", "incidents that climbed to another runbook", registry=r)
        self.relapses = Counter("remediator_relapses", "hosts sick again within probation of a recovery", registry=r)
        self.steps = Histogram("remediator_step_duration_seconds", "step durations", ["action"], registry=r,
                               buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
        self.probe = Histogram("remediator_probe_latency_seconds", "liveness /_ping latency", registry=r,
                               buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
        self.recover = Histogram("remediator_time_to_recover_seconds", "incident start to recovered", registry=r,
                                 buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800))
        self.rounds = Counter("remediator_probe_rounds", "liveness rounds", registry=r)
        self.lateness = Histogram("remediator_round_lateness_seconds", "how late each liveness round started",
                                  registry=r, buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10))
        self.approvals = Gauge("remediator_approvals_pending", "approvals waiting for a human", registry=r)

    def set_hosts(self, states: Iterable[str], verdicts: Iterable[str]) -> None:
        counts: dict[str, int] = dict.fromkeys(STATES, 0)
        for s in states:
            counts[s] = counts.get(s, 0) + 1
        for s, n in counts.items():
            self.hosts_state.labels(s).set(n)
        by_verdict: dict[str, int] = {}
        for v in verdicts:
            by_verdict[v] = by_verdict.get(v, 0) + 1
        self.hosts_verdict.clear()
        for v, n in by_verdict.items():
            self.hosts_verdict.labels(v).set(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)

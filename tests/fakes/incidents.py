"""One incident of exactly one runbook (no ladder), opened, run and closed: what the engine tests drive."""

from __future__ import annotations

import threading

from remediator.detect.facts import Facts
from remediator.detect.verdict import Verdict
from remediator.engine import Approver, run_rung
from remediator.hosts.port import Host
from remediator.hosts.service import Controller
from remediator.incident import IncidentSettings, Report, Reporter, close_incident, open_incident
from remediator.journal import Journal
from remediator.runbook import Runbook
from remediator.settings import ProbeConfig


def run_incident(*, host: Host, runbook: Runbook, journal: Journal, approver: Approver, report: Reporter,
                 dry_run: bool, evidence_budget: float, facts: Facts | None = None, service: Controller | None = None,
                 verdict: Verdict | None = None, probe: ProbeConfig | None = None,
                 evidence_max_mb: float = 64.0, stop: threading.Event | None = None) -> Report:
    """`facts` and `service` default to what the host says; tests pass fakes. `stop`: what SIGINT/SIGTERM sets."""
    config = IncidentSettings(evidence_budget, evidence_max_mb, probe or ProbeConfig())
    ctx = open_incident(host=host, runbook=runbook, journal=journal, report=report, dry_run=dry_run, config=config,
                        facts=facts, service=service, verdict=verdict)
    rung = run_rung(ctx, runbook, journal=journal, approver=approver, report=report, dry_run=dry_run,
                    stop=stop)
    return close_incident(ctx, journal, [rung])

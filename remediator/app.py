"""The application layer: one host, one incident, from the lock to the outcome.

Role: own what every face of remediator (the CLI today, the auto-heal daemon next) must do the same
way — take the host lock, diagnose, choose the runbook (the verdict's, or one given by name or
file), open the incident, run the ladder, dry-run. A face only supplies how to ask (the Approver)
and how to show (the Reporter and the two diagnosis callbacks).
Must not: print, prompt, parse arguments, or import click/rich.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from remediator.detect import facts as factsmod
from remediator.detect.diagnose import diagnose_host
from remediator.detect.probes import Round
from remediator.detect.verdict import Verdict
from remediator.engine import Approver, Report, Reporter, open_incident
from remediator.hosts.local import LocalHost
from remediator.hosts.service import controller
from remediator.journal import HostLock, Journal
from remediator.ladder import heal, runbook_named, runbook_path
from remediator.runbook import Runbook, load_runbook
from remediator.settings import HostConfig, Settings

OnRound = Callable[[Round, Verdict], None]


def runbook_arg(arg: str, dirs: Sequence[str] = ()) -> Path:
    """A runbook file, or the name of one (the config's runbook_dirs, then the shipped ones)."""
    if "/" in arg or arg.endswith((".yaml", ".yml")) or Path(arg).is_file():
        return Path(arg)
    return runbook_path(arg, dirs)


def diagnose(hcfg: HostConfig, settings: Settings, *, on_round: OnRound | None = None,
             rounds: int | None = None) -> tuple[factsmod.Facts, Verdict]:
    """Read-only: the host's facts and its settled verdict."""
    host = LocalHost(hcfg)
    facts = factsmod.resolve(host)
    return facts, diagnose_host(host, controller(host), facts, settings.probe, on_round=on_round, max_rounds=rounds)


@dataclass(frozen=True)
class Faces:
    """How a face asks and shows: approvals, step reports, diagnosis rounds, the settled verdict, and the
    moment a runbook is chosen (its name and the mode)."""

    approver: Approver
    report: Reporter
    on_round: OnRound | None = None
    on_verdict: Callable[[Verdict], None] = lambda _v: None
    on_runbook: Callable[[Runbook], None] = lambda _rb: None


def heal_host(settings: Settings, host: str, runbook: str, *, dry_run: bool, faces: Faces) -> Report | Verdict:
    """One incident on one host. runbook "auto": diagnose first and run the runbook the verdict selects;
    the Verdict itself is returned when it selects nothing (healthy, degraded, starting, suspect).
    A runbook given by name or file is validated before the lock or the journal exist."""
    hcfg = settings.host(host)
    dirs = settings.runbook_dirs
    rb = None if runbook == "auto" else load_runbook(runbook_arg(runbook, dirs))
    state_dir = Path(settings.state_dir)
    journal = Journal(state_dir)
    verdict = None
    with HostLock(state_dir, hcfg.name):
        if rb is None:
            _facts, verdict = diagnose(hcfg, settings, on_round=faces.on_round)
            faces.on_verdict(verdict)
            if verdict.runbook is None:
                return verdict
            rb = runbook_named(verdict.runbook, dirs)
        faces.on_runbook(rb)
        ctx = open_incident(host=LocalHost(hcfg), runbook=rb, journal=journal, report=faces.report, dry_run=dry_run,
                            evidence_budget=settings.evidence_budget, verdict=verdict, probe=settings.probe,
                            evidence_max_mb=settings.evidence_max_mb)
        return heal(ctx, rb, journal=journal, approver=faces.approver, report=faces.report, dry_run=dry_run,
                    max_steps=settings.ladder.max_steps, load=lambda name: runbook_named(name, dirs))

"""The remediation ladder: one incident, and another runbook when the first one does not heal.

Role: run the first runbook; when it ends without healing and without leaving the host changed
(rolled back, or failed before it changed anything), diagnose again from what the attempt
revealed (the failed start's log lines are the best evidence there is) and, if the new verdict
selects a runbook not yet tried, go on with it in the same incident. Bounded by `max_steps`
(default 2) and never the same runbook twice: either bound escalates instead. Every risky step of
every rung still goes through the approver. The journal records the chain as `rung` events.
Must not: prompt or print (the Reporter does), or decide a diagnosis (detect does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from remediator.actions import StepContext
from remediator.detect.diagnose import diagnose_host
from remediator.detect.signatures import DIAGNOSES
from remediator.detect.verdict import Verdict
from remediator.engine import Approver, run_rung
from remediator.errors import InputError
from remediator.incident import Report, Reporter, Rung, close_incident
from remediator.journal import Journal
from remediator.resume import Course, ResumePoint
from remediator.runbook import Runbook, load_runbook
from remediator.structs import Outcome
from remediator.vocab import Diagnosis, EventKind

RUNBOOKS = Path(str(resources.files("remediator.runbooks")))  # installed as package data (pyproject package-dir)
CLIMBS_FROM = (Outcome.ROLLED_BACK, Outcome.NOT_HEALED)  # ended unhealed, and the host is as it was
TERMINAL = ("escalate", "evidence")  # runbooks that change nothing: an end, never a rung to climb from


def runbook_path(name: str, extra_dirs: Sequence[str] = ()) -> Path:
    """A runbook by name: the user's own directories (config `runbook_dirs`) first, then the shipped ones."""
    for d in (*extra_dirs, str(RUNBOOKS)):
        path = Path(d) / f"{name}.yaml"
        if os.path.isfile(path):  # os.path: a path too long to look up is not there (Path.is_file raises)
            return path
    raise InputError(f"no runbook named {name!r} in {', '.join([*extra_dirs, str(RUNBOOKS)])}")


def runbook_named(name: str, extra_dirs: Sequence[str] = ()) -> Runbook:
    return load_runbook(runbook_path(name, extra_dirs))


@dataclass(frozen=True)
class Climb:
    """What the ladder does after a rung: go on with `runbook`, or stop with `outcome` (None: keep the rung's)."""

    runbook: str | None
    outcome: Outcome | None
    why: str


def next_step(tried: list[str], verdict: Verdict, max_steps: int) -> Climb:
    """Pure: where to go after a rung that did not heal, given the fresh verdict."""
    diag = verdict.diagnosis
    if diag == Diagnosis.SUSPECT:
        return Climb(None, None, "the new verdict did not settle; not climbing on it")
    if not verdict.sick:
        return Climb(None, None, f"the host now reads {diag}: {DIAGNOSES[diag].meaning}")
    nxt = verdict.runbook
    if nxt is None:
        return Climb(None, None, f"{diag} selects no runbook")
    if nxt in TERMINAL:
        named = f" — the log {verdict.subject}" if verdict.subject else ""
        return Climb(None, Outcome.ESCALATED, f"re-diagnosed {diag}: {DIAGNOSES[diag].meaning}{named}")
    if nxt in tried:
        return Climb(None, Outcome.ESCALATED, f"re-diagnosed {diag}, which selects {nxt} again; it already ran in this "
                    "incident and did not heal the host, so a person decides")
    if len(tried) >= max_steps:
        return Climb(None, Outcome.ESCALATED, f"re-diagnosed {diag} ({nxt}), but the ladder allows {max_steps} runbook(s) "
                    "per incident (ladder.max_steps)")
    return Climb(nxt, None, f"re-diagnosed {diag}: going on with {nxt}")


Rediagnose = Callable[[StepContext], Verdict]


def probe_again(ctx: StepContext) -> Verdict:
    """A fresh debounced verdict (a new monitor: the last start attempt in the log decides)."""
    return diagnose_host(ctx.host, ctx.service, ctx.facts, ctx.probe,
                         on_round=lambda r, v: ctx.progress(f"re-diagnosis round {r.number}: {v.diagnosis} ({r.wall:.1f}s)"))


def heal(ctx: StepContext, first: Runbook, *, journal: Journal, approver: Approver, report: Reporter, dry_run: bool,
         stop: threading.Event | None = None, max_steps: int = 2, rediagnose: Rediagnose = probe_again,
         load: Callable[[str], Runbook] = runbook_named, point: ResumePoint | None = None,
         course: Course | None = None) -> Report:
    """Run the incident ctx was opened for: the first runbook, then the rungs the re-diagnoses select.
    Resuming (`point`): its earlier rungs already ran, `first` goes on from where it stopped (or had already
    ended), as `course` says."""
    rungs: list[Rung] = list(point.earlier) if point else []
    runbook = first
    while True:
        if point is None:
            journal.event(ctx.incident_id, EventKind.RUNG, None, runbook=runbook.name, sha256=runbook.sha256,
                          number=len(rungs) + 1, diagnosis=ctx.verdict.diagnosis if ctx.verdict else None)
            if rungs:
                report("rung", None, f"rung {len(rungs) + 1}: {runbook.name}")
        ctx.rung = len(rungs) + 1
        if point is not None and point.ended is not None:
            rung = Rung(runbook.name, point.ended, [])
        else:
            rung = run_rung(ctx, runbook, journal=journal, approver=approver, report=report, dry_run=dry_run, stop=stop,
                            progress=point.progress if point else None, course=course)
        point, course = None, None
        rungs.append(rung)
        if dry_run:
            report("plan", None, f"if {runbook.name} does not heal the host, remediator diagnoses again from what the "
                   f"attempt revealed (the failed start's log lines, the probes) and may go on with the runbook that "
                   f"verdict selects: at most {max_steps} runbook(s) per incident, never the same one twice")
            return close_incident(ctx, journal, rungs)
        if rung.outcome not in CLIMBS_FROM or runbook.name in TERMINAL or rung.denied or rung.journal_lost:
            return close_incident(ctx, journal, rungs)
        climb = _climb(ctx, journal, report, rediagnose, [r.runbook for r in rungs], rung, runbook, max_steps)
        if climb.runbook is None:
            return close_incident(ctx, journal, rungs, climb.outcome, note=climb.why if climb.outcome else "")
        runbook = load(climb.runbook)


def _climb(ctx: StepContext, journal: Journal, report: Reporter, rediagnose: Rediagnose, tried: list[str], rung: Rung,
           runbook: Runbook, max_steps: int) -> Climb:
    """After a rung that did not heal: diagnose again and decide where to go (journaled and shown)."""
    report("progress", None, f"{runbook.name} did not heal the host ({rung.outcome.value}); diagnosing again")
    verdict = rediagnose(ctx)
    climb = next_step(tried, verdict, max_steps)
    journal.event(ctx.incident_id, EventKind.REDIAGNOSIS, None, diagnosis=verdict.diagnosis,
                  confidence=verdict.confidence, runbook=verdict.runbook, decision=climb.runbook, why=climb.why,
                  trace=verdict.trace[-8:])
    report("verdict", None, f"{verdict.diagnosis} ({verdict.confidence} confidence): {climb.why}", verdict.trace[-6:])
    if climb.runbook is None and climb.outcome is Outcome.ESCALATED:
        report("escalate", None, climb.why)
    if climb.runbook is not None:
        ctx.verdict = verdict
    return climb

"""One incident, opened and closed: the journal row, the facts its plans are rendered from, the context its rungs
share, the outcome and summary it ends with, and the directory that describes it afterwards.

Role: `open_incident` opens the row and journals the facts; `incident_context` builds the `StepContext` the rungs
share (a new incident, or one resumed from the journal); `close_incident` turns the rungs into one `Report` and,
like ansible-runner's artifacts, writes `incident.json` (what happened) and `events.jsonl` (the journal's lines)
into the incident's directory, so it describes itself without the journal. `IncidentSettings` is the part of the
config an incident reads, built once from `Settings`.
Must not: run steps (the engine does), decide the course of a resume (remediator.resume), print or prompt.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from remediator import modes
from remediator.actions import StepContext
from remediator.detect import facts as factsmod
from remediator.detect.verdict import Verdict
from remediator.errors import JournalError
from remediator.hosts.port import Host
from remediator.hosts.service import Controller, controller
from remediator.journal import Journal
from remediator.redact import redact_obj
from remediator.runbook import Runbook
from remediator.settings import ProbeConfig, Settings
from remediator.structs import Outcome, StepEvent, StepRow
from remediator.vocab import Diagnosis, EventKind, StepStatus


class Reporter(Protocol):
    """How a face shows an incident as it runs: one line per `kind` (ok, fail, plan, ...); a step's action that
    ended also carries its `StepEvent` (the daemon's metrics)."""

    def __call__(self, kind: str, step: str | None, text: str, lines: list[str] | None = None, *,
                 event: StepEvent | None = None) -> None: ...


@dataclass(frozen=True)
class IncidentSettings:
    """What an incident reads from the config: the evidence budget and size cap, and the probe settings."""

    evidence_budget: float = 15.0
    evidence_max_mb: float = 64.0
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    @classmethod
    def of(cls, settings: Settings) -> IncidentSettings:
        return cls(settings.evidence_budget, settings.evidence_max_mb, settings.probe)


SUMMARY = {Outcome.RECOVERED: "recovered: dockerd answers and the containers run",
           Outcome.HEALTHY: "healthy: nothing to do", Outcome.PLANNED: "dry-run: nothing was changed",
           Outcome.REFUSED: "refused: nothing destructive was done",
           Outcome.ROLLED_BACK: "ROLLED BACK: the host is back on its original state; it still needs a person",
           Outcome.NOT_HEALED: "NOT HEALED: a step failed before anything was changed; the host is as it was",
           Outcome.FAILED: "FAILED: the host was changed and could not be restored; it needs a person now",
           Outcome.ESCALATED: "ESCALATED: evidence kept; nothing safe to do automatically, a person decides",
           Outcome.COLLECTED: "evidence collected; nothing was changed"}


@dataclass
class Rung:
    """One runbook run inside an incident: how it ended, and its rows."""

    runbook: str
    outcome: Outcome
    rows: list[StepRow]
    journal_lost: str = ""  # the journal failed under this rung: the ladder never climbs on from it

    @property
    def detail(self) -> str:
        """The row that best explains the outcome, as '(step: text)'."""
        last = next((r for r in reversed(self.rows) if r.status in (StepStatus.FAILED, StepStatus.REFUSED)), None)
        stopper = next((r for r in reversed(self.rows) if r.status is StepStatus.OK), None)
        if self.outcome in (Outcome.ESCALATED, Outcome.COLLECTED) and stopper:
            return f" ({stopper.step}: {stopper.text})"
        if last and self.outcome not in (Outcome.RECOVERED, Outcome.HEALTHY):
            return f" ({last.step}: {last.text})"
        if self.outcome is Outcome.HEALTHY and self.rows:
            return f" ({self.rows[-1].text})"
        return ""

    @property
    def denied(self) -> bool:
        """A human (or the policy) said no to one of its risky steps."""
        return any(row.status is StepStatus.REFUSED for row in self.rows)


@dataclass
class Report:
    """How one `run` ended. `incident` is None when none was opened: the verdict (attached) selected nothing."""

    incident: str | None
    outcome: Outcome
    summary: str
    dir: str
    steps: list[StepRow] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)  # the runbooks run, in order (the ladder's rungs)
    verdict: Verdict | None = None  # the diagnosis that chose the runbook (or chose none)
    started: float | None = None  # the incident's row, as journaled (None when the close was not journaled)
    ended: float | None = None


NOT_SETTLED = ("refused: the verdict did not settle (failing rounds, but not enough alike in a row to act on); "
               "nothing was done")


def nothing_to_do(verdict: Verdict) -> Report:
    """The verdict selects no runbook (healthy, degraded, starting, or not settled): no incident is opened."""
    if verdict.diagnosis == Diagnosis.SUSPECT:
        return Report(None, Outcome.REFUSED, NOT_SETTLED, "", verdict=verdict)
    return Report(None, Outcome.HEALTHY, f"nothing to do: {verdict.diagnosis}", "", verdict=verdict)


def open_incident(*, host: Host, runbook: Runbook, journal: Journal, report: Reporter, dry_run: bool,
                  config: IncidentSettings, facts: factsmod.Facts | None = None, service: Controller | None = None,
                  verdict: Verdict | None = None) -> StepContext:
    """Open the incident in the journal and build the context its rungs share."""
    row = journal.open_incident(host=host.name, runbook=runbook.name, sha256=runbook.sha256, dry_run=dry_run)
    facts = facts or factsmod.resolve(host)
    journal.event(row.id, EventKind.FACTS, None, **facts.to_record())
    report("facts", None, f"Docker {facts.version or '?'}; layout {facts.layout}; state dirs {facts.state_dirs}",
           facts.notes)
    return incident_context(row.id, row.dir, host=host, facts=facts, report=report, config=config, service=service,
                            verdict=verdict)


def incident_context(incident: str, directory: str, *, host: Host, facts: factsmod.Facts, report: Reporter,
                     config: IncidentSettings, service: Controller | None = None,
                     verdict: Verdict | None = None) -> StepContext:
    """The context the rungs of one incident share (a new incident, or one resumed from the journal)."""
    return StepContext(host=host, service=service or controller(host), facts=facts, incident_id=incident,
                       incident_dir=Path(directory), evidence_budget=config.evidence_budget, verdict=verdict,
                       probe=config.probe, evidence_max_mb=config.evidence_max_mb,
                       progress=lambda msg: report("progress", None, msg))


def _outcome(rungs: list[Rung], outcome: Outcome | None) -> Outcome:
    """The last rung's outcome (or the one given), unless an earlier rung did not heal and a later one found
    nothing to do: the host still was not healed by this incident."""
    outcome = outcome or rungs[-1].outcome
    unhealed = next((r.outcome for r in reversed(rungs[:-1]) if r.outcome in (Outcome.ROLLED_BACK, Outcome.NOT_HEALED)),
                    None)
    return unhealed if unhealed is not None and outcome in (Outcome.HEALTHY, Outcome.PLANNED) else outcome


def close_incident(ctx: StepContext, journal: Journal, rungs: list[Rung], outcome: Outcome | None = None,
                   note: str = "") -> Report:
    """Close the incident: the last rung's outcome (or the one given) and a summary naming the chain."""
    outcome = _outcome(rungs, outcome)
    summary = SUMMARY[outcome] + (f" ({note})" if note else rungs[-1].detail)
    if len(rungs) > 1:
        summary += " — chain: " + " → ".join(r.runbook for r in rungs)
    started = ended = None
    try:
        journal.close(ctx.incident_id, outcome.value, summary,
                      runbook=" → ".join(r.runbook for r in rungs) if len(rungs) > 1 else None)
        row = journal.incident(ctx.incident_id)
        started, ended = (row.started, row.ended) if row is not None else (None, None)
    except JournalError as exc:  # the outcome still reaches the operator; the journal shows it in flight
        summary += f" [not journaled: {exc}]"
    report = Report(incident=ctx.incident_id, outcome=outcome, summary=summary, dir=str(ctx.incident_dir),
                    steps=[row for r in rungs for row in r.rows], chain=[r.runbook for r in rungs], verdict=ctx.verdict,
                    started=started, ended=ended)
    if ended is not None:  # a close the journal holds: the directory says the same
        _describe_dir(ctx, journal, report)
    return report


def _describe_dir(ctx: StepContext, journal: Journal, report: Report) -> None:
    """incident.json and events.jsonl in the incident's directory (0600, never over a file already there)."""
    record = {"incident": report.incident, "host": ctx.facts.host, "outcome": report.outcome.value,
              "summary": report.summary, "chain": report.chain, "started": report.started, "ended": report.ended,
              "steps": [row._asdict() for row in report.steps], "facts": ctx.facts.to_record(),
              "verdict": {"diagnosis": report.verdict.diagnosis, "confidence": report.verdict.confidence}
              if report.verdict else None}
    try:
        events = [{"ts": ts, "kind": kind, "step": step, "detail": detail}
                  for ts, kind, step, detail in journal.events(ctx.incident_id)]
        _write_new(ctx.incident_dir / "incident.json", json.dumps(redact_obj(record), indent=2, default=str) + "\n")
        _write_new(ctx.incident_dir / "events.jsonl",
                   "".join(json.dumps(e, default=str) + "\n" for e in events))  # redacted when journaled
    except (OSError, JournalError) as exc:  # the journal holds it all; the directory is a convenience
        ctx.progress(f"the incident directory does not describe itself: {exc}")


def _write_new(path: Path, text: str) -> None:
    fd = modes.create_file(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


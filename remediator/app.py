"""The application layer: one host, one incident, from the lock to the outcome.

Role: own what every face of remediator (the CLI and the auto-heal daemon) must do the same
way — take the host lock, diagnose, choose the runbook (the verdict's, or one given by name or
file), open the incident, run the ladder, dry-run, resume. A face only supplies how to ask (the Approver),
how to show (the Reporter and the diagnosis callbacks) and when to stop (an Event its signals set). One
`heal_host` connects its host once, resolves its facts once, and always returns a `Report`.
Must not: print, prompt, parse arguments, or import click/rich.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from remediator import access, idents, resume
from remediator.detect import facts as factsmod
from remediator.detect.diagnose import diagnose_host
from remediator.detect.probes import Round
from remediator.detect.verdict import Verdict, denials
from remediator.engine import Approver
from remediator.errors import InputError, NoAccess, RemediatorError
from remediator.hosts import connect
from remediator.hosts.port import Host
from remediator.hosts.service import controller
from remediator.incident import (
    IncidentSettings,
    Report,
    Reporter,
    Rung,
    close_incident,
    incident_context,
    nothing_to_do,
    open_incident,
)
from remediator.journal import HostLock, IncidentRow, Journal
from remediator.ladder import heal, runbook_named, runbook_path
from remediator.resume import HEALED_ALONE, CourseKind
from remediator.runbook import Runbook, load_runbook
from remediator.settings import HostConfig, Settings, state_dir_inside
from remediator.structs import Outcome
from remediator.vocab import Diagnosis, EventKind

OnRound = Callable[[Round, Verdict], None]


def stop_on_signals() -> threading.Event:
    """SIGINT and SIGTERM ask for a clean stop between steps instead of killing a step half-way: the event they
    set, for the face's `Faces.stop`."""
    stop = threading.Event()

    def ask(signum: int, _frame: object) -> None:
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, ask)
    return stop


def runbook_arg(arg: str, dirs: Sequence[str] = ()) -> Path:
    """A runbook file, or the name of one (the config's runbook_dirs, then the shipped ones); anything else (a
    5,000-character name, control characters) is InputError naming the grammar (exit 2)."""
    if "/" in arg or arg.endswith((".yaml", ".yml")) or os.path.isfile(arg):  # os.path: a name too long is no file
        return Path(arg)
    return runbook_path(idents.check("runbook name", arg, "runbook"), dirs)


@dataclass
class _Target:
    """One host as one run sees it: connected once, its facts resolved at most once (when first needed)."""

    hcfg: HostConfig
    host: Host
    known: factsmod.Facts | None = None

    @classmethod
    def of(cls, hcfg: HostConfig, facts: factsmod.Facts | None = None) -> _Target:
        return cls(hcfg, connect(hcfg), facts)

    def facts(self) -> factsmod.Facts:
        if self.known is None:
            self.known = factsmod.resolve(self.host)
        return self.known

    def diagnose(self, settings: Settings, on_round: OnRound | None = None, rounds: int | None = None) -> Verdict:
        return diagnose_host(self.host, controller(self.host), self.facts(), settings.probe, on_round=on_round,
                             max_rounds=rounds)

    def access_problems(self) -> list[str]:
        hcfg, sock = self.hcfg, self.hcfg.socket_path
        if why := self.host.denied(sock, write=True):
            return [f"host {hcfg.name}: no access to the Docker socket {sock}: {why} for {access.whoami()}: "
                    f"{access.HOW_DOCKER}"]
        if not self.host.exists(sock) and (where := self.facts().listens_elsewhere()):
            return [f"host {hcfg.name}: the configured docker_host {hcfg.docker_host} does not exist; the running "
                    f"dockerd (pid {self.facts().dockerd_pid}) listens on {where}: set docker_host to it"]
        return []


def diagnose(hcfg: HostConfig, settings: Settings, *, on_round: OnRound | None = None,
             rounds: int | None = None, facts: factsmod.Facts | None = None) -> tuple[factsmod.Facts, Verdict]:
    """Read-only: the host's facts (read now unless given) and its settled verdict."""
    target = _Target.of(hcfg, facts)
    verdict = target.diagnose(settings, on_round, rounds)
    return target.facts(), verdict


def access_problems(hcfg: HostConfig, facts: factsmod.Facts | None = None) -> list[str]:
    """Why this user cannot look at the host at all ([] when it can): the Docker socket closed to it, or missing
    while the running dockerd listens elsewhere. Cheap (a few stats; the facts only when the socket is missing).
    `run` and `daemon` refuse with these lines before anything is opened (exit 2): access is not health."""
    return _Target.of(hcfg, facts).access_problems()


def refuse_no_access(hcfg: HostConfig, verdict: Verdict) -> NoAccess:
    """The error `run` and `daemon` raise for a `no-access` verdict: every denied probe and what to do."""
    return NoAccess([f"host {hcfg.name}: no-access: {line}" for line in denials(verdict)] or [f"host {hcfg.name}: no-access"])


@dataclass(frozen=True)
class Faces:
    """How a face asks and shows: approvals, step reports, diagnosis rounds, the settled verdict, and the
    moment a runbook is chosen (its name and the mode); and `stop`, set when the face is asked to stop (the
    step under way finishes, the incident stays in flight)."""

    approver: Approver
    report: Reporter
    on_round: OnRound | None = None
    on_verdict: Callable[[Verdict], None] = lambda _v: None
    on_runbook: Callable[[Runbook], None] = lambda _rb: None
    stop: threading.Event = field(default_factory=threading.Event)


def heal_host(settings: Settings, host: str, runbook: str, *, dry_run: bool, faces: Faces,
              diagnosed: tuple[factsmod.Facts, Verdict] | None = None) -> Report:
    """One incident on one host. runbook "auto": diagnose first (or take the diagnosis a face just made) and run
    the runbook the verdict selects; when it selects nothing (healthy, degraded, starting, suspect) no incident is
    opened and the Report says so (incident None, the verdict attached). A runbook given by name or file is
    validated before the lock or the journal exist."""
    hcfg = settings.host(host)
    rb = None if runbook == "auto" else load_runbook(runbook_arg(runbook, settings.runbook_dirs))
    target = _Target.of(hcfg, diagnosed[0] if diagnosed else None)
    if problems := target.access_problems():
        raise NoAccess(problems)  # before the journal, the lock or any step: access is not health
    state_dir = Path(settings.state_dir)
    state_dir_apart(settings, [target.facts()])  # read-only; also proves the roots usable; before the journal
    with Journal(state_dir) as journal, HostLock(state_dir, hcfg.name):
        row = journal.in_flight(hcfg.name)
        if row is not None and not dry_run:
            if rb is not None:
                faces.report("warn", None, f"incident {row.id} on this host never ended: resuming it instead of "
                             f"starting {rb.name}")
            return _resume(settings, target, journal, row, faces)
        if row is not None:
            faces.report("warn", None, f"incident {row.id} on this host never ended; `remediator run` resumes it")
        return _new(settings, target, journal, rb, faces, dry_run=dry_run,
                    verdict=diagnosed[1] if diagnosed else None)


def _new(settings: Settings, target: _Target, journal: Journal, rb: Runbook | None, faces: Faces, *,
         dry_run: bool, verdict: Verdict | None) -> Report:
    """A new incident: the runbook given, or the one the verdict (made now unless given) selects."""
    if rb is None:
        verdict = verdict or target.diagnose(settings, faces.on_round)
        faces.on_verdict(verdict)
        if verdict.diagnosis == Diagnosis.NO_ACCESS:
            raise refuse_no_access(target.hcfg, verdict)
        if verdict.runbook is None:
            return nothing_to_do(verdict)
        rb = runbook_named(verdict.runbook, settings.runbook_dirs)
    else:
        verdict = None  # a runbook given by name runs as given: no verdict chose it
    faces.on_runbook(rb)
    ctx = open_incident(host=target.host, runbook=rb, journal=journal, report=faces.report, dry_run=dry_run,
                        config=IncidentSettings.of(settings), verdict=verdict, facts=target.facts())
    return heal(ctx, rb, journal=journal, approver=faces.approver, report=faces.report, dry_run=dry_run,
                stop=faces.stop, max_steps=settings.ladder.max_steps,
                load=lambda name: runbook_named(name, settings.runbook_dirs))


def state_dir_apart(settings: Settings, facts: Sequence[factsmod.Facts] = ()) -> None:
    """The state_dir must not lie in any host's roots: the configured ones (settings checks them by path; here by
    real path, so a state_dir that is a symlink into a root is caught) and the *effective* ones given (from the
    running dockerd and daemon.json). Checked before anything is created in the state_dir."""
    real = os.path.realpath(settings.state_dir)
    roots = [(h.name, r) for h in settings.hosts for r in (h.data_root, h.exec_root)]
    roots += [(f.host, r) for f in facts for r in (f.data_root, f.exec_root)]
    for name, root in roots:
        if state_dir_inside(real, os.path.realpath(root)) or state_dir_inside(settings.state_dir, root):
            raise InputError(f"state_dir {settings.state_dir} lies inside the root {root} of host {name}"
                             + (f" (really {real})" if real != os.path.normpath(settings.state_dir) else "")
                             + ": a runbook there would move the journal and the backups with the state")


def resume_incident(settings: Settings, incident: str, *, faces: Faces) -> Report:
    """`remediator resume ID`: go on with an incident whose operator stopped before it ended."""
    hint = "" if not any(h.name == incident for h in settings.hosts) else (
        f" ({incident!r} is a host: `remediator resume-host {incident}` lets the daemon act on it again after "
        f"`pause`; `remediator run --host {incident}` resumes an incident in flight on it)")
    if not idents.matches("incident id", incident):  # checked before any lookup; the value shown escaped
        raise InputError(f"INCIDENT: no incident {idents.shown(incident)!r}: it is not a valid incident id "
                         f"(expected {idents.INCIDENT.pattern}){hint}")
    state_dir_apart(settings)
    with Journal(Path(settings.state_dir)) as journal:
        row = journal.incident(incident)
        if row is None:
            raise InputError(f"no incident {incident!r}{hint}")
        if row.ended is not None or row.dry_run:
            raise InputError(f"incident {row.id} is not in flight ({row.outcome or 'dry-run'}): nothing to resume")
        hcfg = settings.host(row.host)
        with HostLock(Path(settings.state_dir), hcfg.name):
            return _resume(settings, _Target.of(hcfg), journal, row, faces)


def _resume(settings: Settings, target: _Target, journal: Journal, row: IncidentRow, faces: Faces) -> Report:
    """Rebuild the incident from the journal, look at the host again (it may have changed meanwhile), and go on
    from where its operator stopped: the same rung, the same step outputs, the same approvals if nothing changed."""
    try:
        point = resume.read(journal, row)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    rb = runbook_named(point.runbook, settings.runbook_dirs)
    if point.sha256 and rb.sha256 != point.sha256:
        raise RemediatorError(f"incident {row.id} ran runbook {point.runbook} as it was then (sha256 "
                              f"{point.sha256[:12]}); it has changed since ({rb.sha256[:12]}): put the old runbook "
                              "back to resume it")
    faces.report("resume", None, f"resuming incident {row.id}: its operator stopped {point.where}")
    journal.event(row.id, EventKind.RESUMED, None, where=point.where, pid=os.getpid())
    verdict = target.diagnose(settings, faces.on_round)
    faces.on_verdict(verdict)
    if verdict.diagnosis == Diagnosis.NO_ACCESS:  # the incident stays in flight for a user who may look
        raise refuse_no_access(target.hcfg, verdict)
    journal.event(row.id, EventKind.RESUME_DIAGNOSIS, None, diagnosis=verdict.diagnosis,
                  confidence=verdict.confidence, trace=verdict.trace[-6:])
    faces.on_runbook(rb)
    ctx = incident_context(row.id, row.dir, host=target.host, facts=point.facts, report=faces.report,
                           config=IncidentSettings.of(settings), verdict=verdict)
    course = resume.course(rb, point, verdict)
    journal.event(row.id, EventKind.RESUME_COURSE, None, course=course.why, decision=course.kind)
    faces.report("verdict", None, f"the host now reads {verdict.diagnosis}; {course.why}")
    if course.kind is CourseKind.CLOSE_HEALTHY:
        return close_incident(ctx, journal, [*point.earlier, Rung(rb.name, Outcome.HEALTHY, [])], Outcome.HEALTHY,
                              note=f"{HEALED_ALONE}; nothing was changed")
    return heal(ctx, rb, journal=journal, approver=faces.approver, report=faces.report, dry_run=False,
                stop=faces.stop, max_steps=settings.ladder.max_steps,
                load=lambda name: runbook_named(name, settings.runbook_dirs), point=point, course=course)

"""The application layer: one host, one incident, from the lock to the outcome.

Role: own what every face of remediator (the CLI and the auto-heal daemon) must do the same
way — take the host lock, diagnose, choose the runbook (the verdict's, or one given by name or
file), open the incident, run the ladder, dry-run. A face only supplies how to ask (the Approver)
and how to show (the Reporter and the two diagnosis callbacks).
Must not: print, prompt, parse arguments, or import click/rich.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from remediator import access, idents, resume
from remediator.actions import ACTIONS
from remediator.detect import facts as factsmod
from remediator.detect.diagnose import diagnose_host
from remediator.detect.probes import Round
from remediator.detect.verdict import Verdict, denials
from remediator.engine import Approver, Report, Reporter, Rung, close_incident, incident_context, open_incident
from remediator.errors import InputError, NoAccess, RemediatorError
from remediator.hosts import connect
from remediator.hosts.service import controller
from remediator.journal import HostLock, IncidentRow, Journal
from remediator.ladder import heal, runbook_named, runbook_path
from remediator.runbook import Runbook, Step, load_runbook
from remediator.settings import HostConfig, Settings, state_dir_inside
from remediator.structs import Outcome

OnRound = Callable[[Round, Verdict], None]


def runbook_arg(arg: str, dirs: Sequence[str] = ()) -> Path:
    """A runbook file, or the name of one (the config's runbook_dirs, then the shipped ones); anything else (a
    5,000-character name, control characters) is InputError naming the grammar (exit 2)."""
    if "/" in arg or arg.endswith((".yaml", ".yml")) or os.path.isfile(arg):  # os.path: a name too long is no file
        return Path(arg)
    return runbook_path(idents.check("runbook name", arg, "runbook"), dirs)


def diagnose(hcfg: HostConfig, settings: Settings, *, on_round: OnRound | None = None,
             rounds: int | None = None, facts: factsmod.Facts | None = None) -> tuple[factsmod.Facts, Verdict]:
    """Read-only: the host's facts (read now unless given) and its settled verdict."""
    host = connect(hcfg)
    facts = facts or factsmod.resolve(host)
    return facts, diagnose_host(host, controller(host), facts, settings.probe, on_round=on_round, max_rounds=rounds)


def access_problems(hcfg: HostConfig, facts: factsmod.Facts | None = None) -> list[str]:
    """Why this user cannot look at the host at all ([] when it can): the Docker socket closed to it, or missing
    while the running dockerd listens elsewhere. Cheap (a few stats; the facts only when the socket is missing).
    `run` and `daemon` refuse with these lines before anything is opened (exit 2): access is not health."""
    host = connect(hcfg)
    sock = hcfg.socket_path
    if why := host.denied(sock, write=True):
        return [f"host {hcfg.name}: no access to the Docker socket {sock}: {why} for {access.whoami()}: "
                f"{access.HOW_DOCKER}"]
    if not host.exists(sock):
        facts = facts or factsmod.resolve(host)
        if where := facts.listens_elsewhere():
            return [f"host {hcfg.name}: the configured docker_host {hcfg.docker_host} does not exist; the running "
                    f"dockerd (pid {facts.dockerd_pid}) listens on {where}: set docker_host to it"]
    return []


def refuse_no_access(hcfg: HostConfig, verdict: Verdict) -> NoAccess:
    """The error `run` and `daemon` raise for a `no-access` verdict: every denied probe and what to do."""
    return NoAccess([f"host {hcfg.name}: no-access: {line}" for line in denials(verdict)] or [f"host {hcfg.name}: no-access"])


@dataclass(frozen=True)
class Faces:
    """How a face asks and shows: approvals, step reports, diagnosis rounds, the settled verdict, and the
    moment a runbook is chosen (its name and the mode)."""

    approver: Approver
    report: Reporter
    on_round: OnRound | None = None
    on_verdict: Callable[[Verdict], None] = lambda _v: None
    on_runbook: Callable[[Runbook], None] = lambda _rb: None


def heal_host(settings: Settings, host: str, runbook: str, *, dry_run: bool, faces: Faces,
              diagnosed: tuple[factsmod.Facts, Verdict] | None = None) -> Report | Verdict:
    """One incident on one host. runbook "auto": diagnose first (or take the diagnosis a face just made) and run
    the runbook the verdict selects; the Verdict itself is returned when it selects nothing (healthy, degraded,
    starting, suspect). A runbook given by name or file is validated before the lock or the journal exist."""
    hcfg = settings.host(host)
    dirs = settings.runbook_dirs
    rb = None if runbook == "auto" else load_runbook(runbook_arg(runbook, dirs))
    if problems := access_problems(hcfg, diagnosed[0] if diagnosed else None):
        raise NoAccess(problems)  # before the journal, the lock or any step: access is not health
    state_dir = Path(settings.state_dir)
    host_ = connect(hcfg)
    early = diagnosed[0] if diagnosed else factsmod.resolve(host_)  # read-only; also proves the roots usable
    state_dir_apart(settings, [early])  # before the journal or the lock creates anything in it
    verdict, facts = None, None
    with Journal(state_dir) as journal, HostLock(state_dir, hcfg.name):
        row = journal.in_flight(hcfg.name)
        if row is not None and not dry_run:
            if rb is not None:
                faces.report("warn", None, f"incident {row.id} on this host never ended: resuming it instead of "
                             f"starting {rb.name}")
            return _resume(settings, hcfg, journal, row, faces)
        if row is not None:
            faces.report("warn", None, f"incident {row.id} on this host never ended; `remediator run` resumes it")
        if rb is None:
            facts, verdict = diagnosed or diagnose(hcfg, settings, on_round=faces.on_round, facts=early)
            faces.on_verdict(verdict)
            if verdict.diagnosis == "no-access":
                raise refuse_no_access(hcfg, verdict)
            if verdict.runbook is None:
                return verdict
            rb = runbook_named(verdict.runbook, dirs)
        faces.on_runbook(rb)
        facts = facts or early  # read moments ago, before the lock: once per run
        ctx = open_incident(host=host_, runbook=rb, journal=journal, report=faces.report, dry_run=dry_run,
                            evidence_budget=settings.evidence_budget, verdict=verdict, probe=settings.probe,
                            evidence_max_mb=settings.evidence_max_mb, facts=facts)
        return heal(ctx, rb, journal=journal, approver=faces.approver, report=faces.report, dry_run=dry_run,
                    max_steps=settings.ladder.max_steps, load=lambda name: runbook_named(name, dirs))


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
            return _resume(settings, hcfg, journal, row, faces)


def _resume(settings: Settings, hcfg: HostConfig, journal: Journal, row: IncidentRow, faces: Faces) -> Report:
    """Rebuild the incident from the journal, look at the host again (it may have changed meanwhile), and go on
    from where its operator stopped: the same rung, the same step outputs, the same approvals if nothing changed."""
    try:
        was = resume.read(journal, row)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    rb = runbook_named(was.runbook, settings.runbook_dirs)
    if was.sha256 and rb.sha256 != was.sha256:
        raise RemediatorError(f"incident {row.id} ran runbook {was.runbook} as it was then (sha256 {was.sha256[:12]}); "
                              f"it has changed since ({rb.sha256[:12]}): put the old runbook back to resume it")
    faces.report("resume", None, f"resuming incident {row.id}: its operator stopped {was.where}")
    journal.event(row.id, "resumed", None, where=was.where, pid=os.getpid())
    _facts, verdict = diagnose(hcfg, settings, on_round=faces.on_round)
    faces.on_verdict(verdict)
    if verdict.diagnosis == "no-access":  # the incident stays in flight for a user who may look
        raise refuse_no_access(hcfg, verdict)
    journal.event(row.id, "resume-diagnosis", None, diagnosis=verdict.diagnosis, confidence=verdict.confidence,
                  trace=verdict.trace[-6:])
    faces.on_runbook(rb)
    dirs = settings.runbook_dirs
    ctx = incident_context(row.id, row.dir, host=connect(hcfg), facts=was.facts, report=faces.report,
                           evidence_budget=settings.evidence_budget, verdict=verdict, probe=settings.probe,
                           evidence_max_mb=settings.evidence_max_mb)
    course = _course(rb, was, verdict)
    journal.event(row.id, "resume-course", None, course=course)
    faces.report("verdict", None, f"the host now reads {verdict.diagnosis}; {course}")
    if course.startswith(HEALED_ALONE):
        return close_incident(ctx, journal, [*was.earlier, Rung(rb.name, Outcome.HEALTHY, [])], Outcome.HEALTHY,
                              note=f"{HEALED_ALONE}; nothing was changed")
    return heal(ctx, rb, journal=journal, approver=faces.approver, report=faces.report, dry_run=False,
                max_steps=settings.ladder.max_steps, load=lambda name: runbook_named(name, dirs),
                earlier=was.earlier, progress=was.progress, ended=was.ended)


HEALED_ALONE = "the host recovered while its operator was away"


def _course(rb: Runbook, was: resume.Interrupted, verdict: Verdict) -> str:
    """What a resume does, given how the host reads now. A host that reads healthy and was not changed yet is
    left alone (the incident closes as healthy: no stop of a dockerd that works). One that was changed and reads
    healthy (an admin finished the fix by hand) goes straight to the runbook's verify: the rest is not redone.
    Otherwise the rung goes on from where it stopped, or finishes its rollback."""
    if was.ended is not None or was.progress.rolling_back or verdict.diagnosis != "healthy":
        return f"going on with {rb.name} {was.where.split(' of ')[0]}"
    steps = {s.id: s for s in rb.steps}
    def undoable(step: Step) -> bool:  # the engine's own test for "something to undo" (evidence is not)
        return ACTIONS[step.action].mutates and bool(step.rollback)

    changed = [sid for sid, _data, ch in was.progress.done if ch and undoable(steps[sid])]
    pending = steps.get(was.progress.pending or "")
    if pending is not None and undoable(pending):
        changed.append(pending.id)
    if not changed:
        return f"{HEALED_ALONE}: closing the incident without changing anything"
    ids = [s.id for s in rb.steps]
    after = max(ids.index(sid) for sid in changed)
    verify = next((s.id for s in rb.steps[after + 1:] if s.action == "docker.verify"), None)
    if verify is None:
        return f"going on with {rb.name} {was.where.split(' of ')[0]}"
    was.progress.skip_to, was.progress.skip_why = verify, f"the host reads healthy on resume (changed so far: " \
        f"{', '.join(changed)}); not redone"
    return f"it was changed ({', '.join(changed)}) and reads healthy now: skipping to {verify} to check the containers"

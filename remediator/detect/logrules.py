"""The diagnosis of a log as an ordered list of named rules: the first rule that decides, decides.

Role: pure. Each rule reads the Evidence (detect/logevidence, computed once) and returns a Decision — the
verdict, its confidence, the trace lines that say why, and the input lines it used — or None to pass. The rules
and their order are README "Diagnosis" → "How a log is decided", one bullet per rule; `diagnose --explain` names
the rule that decided and prints the lines it used. A goroutine dump may still override a verdict that names no
fault (detect/dumps.judge, rule `goroutine_dump`).
Must not: read files or talk to a host, or scan the lines again (the evidence has what a rule needs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from remediator.detect import signatures as sigs
from remediator.detect.logevidence import ERROR_LINE, Evidence
from remediator.detect.scan import lines_by_signature
from remediator.detect.signatures import PRIORITY, Match
from remediator.vocab import Diagnosis

WEAK = ("S21-unit-failed", "S15-no-daemon")  # systemd's or a client's view: says it is down, never why
DESTRUCTIVE = (Diagnosis.CONTAINERD_STATE,)  # never concluded from symptoms alone
MOST_LINES = 50  # the lines a decision names: bounded, however many there are


@dataclass(frozen=True)
class Decision:
    verdict: Diagnosis
    confidence: str  # high | medium | low
    trace: list[str]
    decisive: list[Match] = field(default_factory=list)
    lines: tuple[int, ...] = ()  # the input lines the rule read to decide (at most MOST_LINES)
    rule: str = ""  # set by decide(): the name of the rule that returned it


Rule = Callable[[Evidence], Decision | None]


def pick(diagnoses: Iterable[Diagnosis | None]) -> Diagnosis:
    """The diagnosis that takes precedence (signatures.PRIORITY: the least destructive fix that fits, first)."""
    named = [d for d in diagnoses if d]
    return min(named, key=lambda d: PRIORITY.index(d) if d in PRIORITY else len(PRIORITY))


def nos(*groups: Iterable[Match | int]) -> tuple[int, ...]:
    """The line numbers of matches (or numbers), in order, without repeats, at most MOST_LINES."""
    seen = dict.fromkeys(x if isinstance(x, int) else x.line_no for g in groups for x in g)
    return tuple(sorted(seen))[:MOST_LINES]


def _listed(matches: list[Match]) -> str:
    return ", ".join(str(m.line_no) for m in matches[:5])


def cause_in_last_attempt(ev: Evidence) -> Decision | None:
    """A cause line of the last start attempt decides (while it is still going: the one before it)."""
    if not ev.causes:
        return None
    verdict = pick(m.diag for m in ev.causes)
    decisive = [m for m in ev.causes if m.diag == verdict]
    again = {m.signature.id for m in ev.earlier} & {m.signature.id for m in decisive}  # every attempt fails alike
    confidence = "high" if len(decisive) > 1 or ev.symptoms or again else "medium"
    others = sorted({m.diag for m in ev.causes if m.diag} - {verdict})
    trace = [f"cause: {', '.join(sorted({m.signature.id for m in decisive}))} at line(s) {_listed(decisive)} → {verdict}"]
    trace += sorted({m.note for m in decisive if m.note})[:3]
    if others:
        trace.append(f"also seen: {', '.join(others)}; {verdict} takes precedence "
                     f"(the cause whose fix is least destructive and fits, first)")
    if verdict == Diagnosis.CONTAINERD_PIDFILE and not ev.failed:
        confidence = "low"  # a live probe never acts on it alone: dockerd re-uses a containerd that survived
        trace.append("containerd is still running and this start has not failed (yet): dockerd re-uses a live "
                     "containerd, so the pidfile is stale only if the start then times out")
    if ev.limit:
        trace.append(f"systemd's start limit was hit (line {ev.limit[0].line_no}): `systemctl reset-failed` comes "
                     "before the runbook's start")
    return Decision(verdict, confidence, trace, decisive, nos(decisive, ev.limit[:1]))


def _completed(ev: Evidence) -> list[tuple[int, int]]:
    """(start line, ready line) of every start attempt of the excerpt that completed."""
    out, start = [], 0
    for sc in ev.scanned:
        if any(m in sigs.START_MARKERS for m in sc.marks):
            start = sc.line.no
        if start and any(m in sigs.READY_MARKERS for m in sc.marks):
            out.append((start, sc.line.no))
            start = 0
    return out


def start_limit_after_cause(ev: Evidence) -> Decision | None:
    """systemd's start limit was hit and an earlier attempt that did not complete names the cause: that cause."""
    if not ev.limit:
        return None
    done = _completed(ev)  # causes from an attempt that then completed did not stop it
    earlier = [m for m in ev.matches if m.signature.role in ("cause", "panic") and m.diag
               and not any(a <= m.line_no < b for a, b in done)]
    if not earlier:
        return None
    verdict = pick(m.diag for m in earlier)
    decisive = [m for m in earlier if m.diag == verdict]
    return Decision(verdict, "medium", [f"systemd's start limit was hit (line {ev.limit[0].line_no}); the cause is "
                                        f"earlier: {lines_by_signature(decisive)} → {verdict}; `systemctl reset-failed` first"],
                    decisive, nos(ev.limit[:1], decisive))


def _limit_errors(ev: Evidence) -> list[int]:
    """Error lines of the excerpt that are not systemd's own nor the limit's."""
    return [s.line.no for s in ev.scanned if ERROR_LINE.search(s.line.text) and not s.line.proc == "systemd"
            and "Active: failed" not in s.line.text
            and not any(m.signature.role == "limit" or m.signature.id == "S21-unit-failed" for m in s.matches)]


def start_limit_after_unknown_error(ev: Evidence) -> Decision | None:
    """systemd's start limit was hit after an error line no signature explains: unknown (the cause is there)."""
    if not ev.limit or not (errors := _limit_errors(ev)):
        return None
    return Decision(Diagnosis.UNKNOWN, "medium", [
        f"systemd's start limit was hit (line {ev.limit[0].line_no}) after an error no signature explains: the cause "
        "is in this log, but not one remediator knows"], ev.limit, nos(ev.limit[:1], errors))


def start_limit(ev: Evidence) -> Decision | None:
    """systemd's start limit was hit and no line of the excerpt names why: start-limit, never a blind restart."""
    if not ev.limit:
        return None
    return Decision(Diagnosis.START_LIMIT, "medium", [
        f"systemd's start limit was hit (line {ev.limit[0].line_no}) and no line of this excerpt names the cause: "
        "never a blind restart; read the unit's earlier log"], ev.limit, nos(ev.limit))


def unexplained_before_start(ev: Evidence) -> Decision | None:
    """The last attempt never completed and printed an error no signature explains (beside at most a
    'down' line of systemd or a client): unknown — the cause is printed, but not one remediator knows."""
    if ev.ready or not all(m.signature.id in WEAK for m in ev.symptoms) or not ev.unexplained:
        return None
    return Decision(Diagnosis.UNKNOWN, "low", [
        f"error line(s) no known signature explains: {', '.join(str(ln.no) for ln in ev.unexplained[:5])}"
        " — the cause is printed, but it is not one remediator knows"], [], nos(ln.no for ln in ev.unexplained))


def crash_loop(ev: Evidence) -> Decision | None:
    """Restarts (3 unit starts, 2 containerd spawns, or one systemd scheduled restart) and never a completed
    start, no cause printed: crash-loop."""
    restarts = ev.marked("unit_started", "unit_restart")
    spawns = [n for n, m in ev.marks if m.startswith("spawn_")]
    if ev.ready or not (len(restarts) >= 3 or len(spawns) >= 2 or ev.marked("unit_restart")):
        return None
    return Decision(Diagnosis.CRASH_LOOP, "medium", [
        f"{len(restarts) or len(spawns)} start(s) or containerd respawn(s) and never a completed start, no cause "
        "printed: a crash loop"], [], nos(restarts, spawns))


def started_with_container_faults(ev: Evidence) -> Decision | None:
    """The last start completed, nothing failed after it but containers: container-fault, no daemon action."""
    if not ev.ready or ev.after_ready or not ev.containers:
        return None
    return Decision(Diagnosis.CONTAINER_FAULT, "medium", [
        f"the daemon runs (start completed at line {ev.ready[0]}); container-level faults at line(s) "
        f"{_listed(ev.containers)}: no daemon action"], ev.containers, nos(ev.ready[:1], ev.containers))


def stopped_after_start(ev: Evidence) -> Decision | None:
    """The last start completed, nothing failed until the daemon was asked to stop (a signal, systemd's stop job)
    or shut down cleanly: no-fault — it is not running, but no fault stopped it; what failed after the stop began
    (its containers' shims reaped, containerd's connection closing) is the stop's own doing; never `healthy`."""
    if not ev.ready:
        return None
    ends = [n for n in ev.marked("stopping", "shutdown") if n > ev.ready[0]]
    if not ends:
        return None
    failed = [m.line_no for m in ev.after_ready + ev.containers]
    if any(ev.ready[0] < n < ends[0] for n in failed):
        return None  # something failed while it ran: the rules after this one judge it
    return Decision(Diagnosis.NO_FAULT, "medium", [
        f"the last start completed (line {ev.ready[0]}) and the daemon was then stopped (line {ends[0]}): nothing "
        "failed before the stop, but it is not running now"], [], nos(ev.ready[:1], ends[:1]))


def started_and_quiet(ev: Evidence) -> Decision | None:
    """The last start completed and nothing failed after it: healthy."""
    if not ev.ready or ev.after_ready:
        return None
    return Decision(Diagnosis.HEALTHY, "high" if ev.starts else "medium",
                    [f"the last start completed (line {ev.ready[0]}) and nothing failed after it"], [],
                    nos(ev.starts[-1:], ev.ready[:1]))


def symptoms_only(ev: Evidence) -> Decision | None:
    """Only symptoms (something hangs or fails, no line says why): their diagnosis, low confidence — never
    a destructive one (containerd-state from symptoms alone is unknown)."""
    if not ev.symptoms:
        return None
    verdict = pick(m.diag for m in ev.symptoms)
    decisive = [m for m in ev.symptoms if m.diag == verdict]
    trace = [f"only symptoms ({', '.join(sorted({m.signature.id for m in ev.symptoms}))}): {verdict} is a guess, "
             "no cause line"]
    if verdict in DESTRUCTIVE:
        trace.append(f"{verdict} selects a destructive runbook and no line says the state is corrupt: "
                     "never concluded from symptoms alone")
        verdict = Diagnosis.UNKNOWN
    return Decision(verdict, "low", trace, decisive, nos(decisive))


def container_faults_only(ev: Evidence) -> Decision | None:
    """Only container-level faults and nothing wrong with the daemon: container-fault, no daemon action."""
    if not ev.containers:
        return None
    return Decision(Diagnosis.CONTAINER_FAULT, "medium", [
        f"only container-level faults (line(s) {_listed(ev.containers)}) and nothing wrong with the daemon: "
        "no daemon action"], ev.containers, nos(ev.containers))


def unexplained_errors(ev: Evidence) -> Decision | None:
    """Error lines no signature explains: unknown, low confidence."""
    if not ev.unexplained:
        return None
    return Decision(Diagnosis.UNKNOWN, "low", [
        f"error line(s) no known signature explains: {', '.join(str(ln.no) for ln in ev.unexplained[:5])}"], [],
        nos(ln.no for ln in ev.unexplained))


def unexplained_failure(ev: Evidence) -> Decision | None:
    """A line without a log level from the engine's programs (or pasted bare) says something failed and no
    signature explains it: unknown (escalate) rather than no-fault — the fault is printed, not one remediator knows."""
    if not ev.failures:
        return None
    return Decision(Diagnosis.UNKNOWN, "low", [
        f"failure line(s) no known signature explains: {', '.join(str(ln.no) for ln in ev.failures[:5])}"
        " — something failed, but not in a way remediator knows"], [], nos(ln.no for ln in ev.failures))


def no_fault(ev: Evidence) -> Decision | None:
    """No error in the excerpt (it may end before the start completed): no-fault."""
    if not ev.scanned:
        return None
    ends = f"; it ends before the start at line {ev.seg_start} completed" if ev.starts else ""
    return Decision(Diagnosis.NO_FAULT, "medium", ["no error in this excerpt" + ends], [], nos(ev.starts[-1:]))


def empty_log(ev: Evidence) -> Decision:
    """Nothing to read: no-fault, low confidence."""
    return Decision(Diagnosis.NO_FAULT, "low", ["the log is empty"])


RULES: tuple[Rule, ...] = (  # in this order; empty_log decides when none of them does
    cause_in_last_attempt, start_limit_after_cause, start_limit_after_unknown_error, start_limit,
    unexplained_before_start, crash_loop, stopped_after_start, started_with_container_faults, started_and_quiet,
    symptoms_only, container_faults_only, unexplained_errors, unexplained_failure, no_fault,
)
NAMES = tuple(r.__name__ for r in RULES) + (empty_log.__name__,)


def decide(ev: Evidence) -> Decision:
    """The decision of the first rule that decides, named."""
    for rule in RULES:
        if (d := rule(ev)) is not None:
            return replace(d, rule=rule.__name__)
    return replace(empty_log(ev), rule=empty_log.__name__)

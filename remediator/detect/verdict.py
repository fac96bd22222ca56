"""From probe rounds to one verdict with a confidence and a written trace of why and why not.

Role: pure. `classify` reads one round (plus what the daemon log says since the incident began)
and names that round's diagnosis; `Monitor` debounces: a sick verdict needs N consecutive failing
rounds (default 3), a single slow or failed answer never produces one, and a daemon that answers
slowly, or fails now and then, is `degraded` — never hung.
Must not: do I/O (settle() drives a Source that does).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from remediator.clock import SYSTEM, Clock
from remediator.detect import logdiag
from remediator.detect.probes import ACCESS, MISSING_BINARY, OPERATOR_CAUSES, WRONG_SOCKET, Obs, Round
from remediator.detect.signatures import DIAGNOSES, runbook_for

HEALTHY_LIKE = ("healthy", "degraded", "starting")
LABELS = {"_ping": "/_ping", "version": "/version", "info": "/info", "containers": "/containers/json",
          "containerd": "containerd gRPC"}


@dataclass
class RoundView:
    diagnosis: str
    because: list[str]
    against: list[str]
    settled: bool = False  # nothing here can flap: act on this one round (no debounce)


@dataclass
class Verdict:
    diagnosis: str
    confidence: str  # high | medium | low
    runbook: str | None
    streak: int  # consecutive failing rounds at the end
    rounds: int
    trace: list[str]
    signatures: list[str] = field(default_factory=list)
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    subject: str | None = None  # what the log names as broken (a database file, a crashed program), if it does

    @property
    def sick(self) -> bool:
        return DIAGNOSES[self.diagnosis].sick

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.diagnosis, "confidence": self.confidence, "runbook": self.runbook,
                "streak": self.streak, "rounds": self.rounds, "meaning": DIAGNOSES[self.diagnosis].meaning,
                "subject": self.subject,
                "signatures": self.signatures, "trace": self.trace, "observations": self.observations}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _containerd_trouble(ctrd: Obs, layout: str, because: list[str], against: list[str]) -> RoundView:
    if layout not in ("managed", "libcontainerd") and ctrd.outcome in ("refused", "missing"):
        return RoundView("containerd-down", because + ["nothing serves on the external containerd's socket"], against)
    return RoundView("containerd-wedged", because, against)


HOW = {ACCESS: "run as root, or as a member of the group that owns the Docker socket (usually docker)",
       MISSING_BINARY: "install the program, or point the config at it",
       WRONG_SOCKET: "set the host's docker_host to the socket the running dockerd listens on"}


def no_access(r: Round) -> RoundView | None:
    """Access is not health: a probe that failed because of the operator's own environment (Obs.cause, set by
    probes.blame) is no evidence, so the round is `no-access` — whatever a sick verdict the other failures
    would make — naming what was denied and what to do. None when every probe could look."""
    blocked = [o for o in r.obs.values() if o.cause in OPERATOR_CAUSES]
    if not blocked:
        return None
    because = [f"{o.name}: {o.cause}: {o.detail}" for o in blocked]
    because += [f"to do: {HOW[c]}" for c in dict.fromkeys(o.cause for o in blocked)]
    return RoundView("no-access", because, ["not any sick verdict: a probe this user may not run is no evidence "
                                            "that the host is sick; nothing is planned"], settled=True)


def classify(r: Round, log: logdiag.LogVerdict, layout: str, startup_grace: float = 120.0) -> RoundView:
    """The diagnosis of one round; `because` and `against` become the trace."""
    if (blocked := no_access(r)) is not None:
        return blocked
    because: list[str] = []
    against: list[str] = []
    disk, kernel = r["disk"], r["kernel"]
    dockerd, ctrd_proc, ctrd = r["dockerd-proc"], r["containerd-proc"], r["containerd"]
    ping, info, version, containers = r["_ping"], r["info"], r["version"], r["containers"]
    log_cause = log.verdict if log.decisive and log.confidence != "low" else None
    if disk.outcome == "full":
        return RoundView("disk-full", [f"disk: {disk.detail}"], [])
    against.append(f"not disk-full: {disk.detail}")
    d_threads = dockerd.data.get("dstate", 0) + ctrd_proc.data.get("dstate", 0)
    api_ok = all(o.answered for o in (ping, version, info, containers))
    if (kernel.outcome == "hung-task" or d_threads) and not api_ok and dockerd.outcome != "absent":
        because.append(f"kernel: {kernel.detail}" if kernel.outcome == "hung-task" else
                       f"{d_threads} runtime thread(s) in D state while the API does not answer")
        return RoundView("kernel-hang", because, against)
    if kernel.outcome == "hung-task":
        against.append(f"not kernel-hang: the kernel reported a hung task ({kernel.detail[:80]}) but the API answers")
    else:
        against.append("not kernel-hang: no hung-task message" + (", no D-state threads" if not d_threads else ""))
    if dockerd.outcome == "absent":
        because.append(dockerd.detail or "no dockerd process of this host")  # names any look-alike it ignored
        if log_cause:
            because.append(f"log: {'; '.join(log.trace[-2:])}")
            if log.started_ok is False:  # down, and its last start failed for a named cause: that will not flap
                because.append("dockerd is down and its last start attempt failed for this cause: one round is enough")
                return RoundView(log_cause, because, against, settled=True)
            return RoundView(log_cause, because, against)
        return RoundView("dockerd-down", because + ["the log names no cause"], against)
    because.append(f"dockerd {dockerd.detail}")
    api_line = ", ".join(f"{o.name} {o.outcome} {_ms(o.latency)}" for o in (ping, version, info, containers))
    ctrd_ok = ctrd.answered or ctrd.outcome == "na"
    ctrd_line = f"containerd socket: {ctrd.outcome} {_ms(ctrd.latency)}" + (f" ({ctrd.detail})" if ctrd.detail else "")
    if not ping.answered:
        because.append(f"API: {api_line}")
        uptime = dockerd.data.get("uptime", startup_grace)
        young = log.started_ok is not True and dockerd.data.get("state") != "T" and uptime < startup_grace
        if log_cause and young and not log.failed_start:
            because.append(f"dockerd is {uptime:.0f}s old and its start has not failed yet: the log's {log_cause} is "
                           "not acted on while it starts (a containerd that survived is 'still running' on every restart)")
            return RoundView("starting", because, against)
        if log_cause:
            because.append(f"log: {log.trace[-1]}")
            return RoundView(log_cause, because, against)
        restarts = dockerd.data.get("restarts", 0)
        if restarts:
            because.append(f"dockerd restarted {restarts} time(s) while watched and never answered, and the log "
                           "names no cause: restarting it again will not help")
            return RoundView("crash-loop", because, against)
        if young:
            because.append(f"dockerd is {uptime:.0f}s old and its log shows no completed start yet "
                           f"(grace {startup_grace:g}s: loading containers and containerd can take that long)")
            return RoundView("starting", because, against)
        because.append(ctrd_line)
        against.append("not containerd-*: " + ("containerd answers" if ctrd_ok else "containerd does not answer either, "
                                                 "but no containerd signature in the log"))
        return RoundView("dockerd-wedged", because, against)
    if not (version.answered and info.answered):
        because += [f"API: {api_line}", ctrd_line]
        if not ctrd_ok:
            against.append("not dockerd-wedged: /_ping answers; the calls that need containerd hang")
            return _containerd_trouble(ctrd, layout, because, against)
        against.append("not containerd-wedged: containerd answers")
        return RoundView("dockerd-wedged", because, against)
    if not containers.answered:
        because += [f"API: {api_line} (a container lock is held, S18 in docs/signatures.md)", ctrd_line]
        return RoundView("dockerd-wedged", because, against)
    because.append(f"API: {api_line}")
    if ctrd.outcome == "missing" and layout in ("managed", "libcontainerd"):
        # every API call answers, and dockerd's own containerd is not at the socket the facts expect: a layout the
        # facts read wrong, never a wedge (a wedged containerd holds its socket and does not answer)
        return RoundView("degraded", because + [ctrd_line, "the API answers every call, so dockerd's containerd "
                         "serves it; the expected containerd socket is not there (a layout the facts may have "
                         "read wrong): not containerd-wedged, nothing to restart"], against)
    if not ctrd_ok:  # dockerd answers from its own state, but no container can start or stop
        return _containerd_trouble(ctrd, layout, because + [ctrd_line], against)
    slow = [o for o in (ping, version, info, containers, ctrd) if o.outcome == "slow"]
    if slow:
        return RoundView("degraded", because + [f"slow: {', '.join(o.name for o in slow)}"], against)
    return RoundView("healthy", because + [ctrd_line], against)


def denials(v: Verdict) -> list[str]:
    """A `no-access` verdict in words: each probe the operator's environment stopped, then what to do."""
    seen = {n: o for n, o in v.observations.items() if o.get("cause") in OPERATOR_CAUSES}
    return [f"{n}: {o['detail']}" for n, o in seen.items()] + \
        [f"to do: {HOW[c]}" for c in dict.fromkeys(str(o["cause"]) for o in seen.values())]


class Monitor:
    """Debounced verdicts over successive rounds of one host: a sick verdict needs the last
    `debounce` rounds to fail with the same diagnosis (a changing picture stays `suspect`)."""

    def __init__(self, layout: str, debounce: int = 3, window: int = 10, log_lines: int = 20000,
                 startup_grace: float = 120.0) -> None:
        self.layout, self.debounce, self.startup_grace = layout, debounce, startup_grace
        self.views: deque[RoundView] = deque(maxlen=max(window, debounce))
        self.rounds: deque[Round] = deque(maxlen=max(window, debounce))
        self.log: deque[logdiag.Scanned] = deque(maxlen=log_lines)  # daemon log since monitoring began
        self.lines_seen = 0
        self.total = 0

    def feed(self, r: Round) -> Verdict:
        self.total += 1
        new = logdiag.parse_lines(r.log_lines, self.lines_seen + 1)
        self.lines_seen += len(r.log_lines)
        self.log.extend(logdiag.scan_lines(new))  # each line is scanned once, however many rounds follow
        log = logdiag.decide(list(self.log), self.layout)
        view = classify(r, log, self.layout, self.startup_grace)
        self.views.append(view)
        self.rounds.append(r)
        streak = 0
        for v in reversed(self.views):
            if v.diagnosis in HEALTHY_LIKE:
                break
            streak += 1
        recent = list(self.views)[-self.debounce:]
        agree = view.settled or (streak >= self.debounce and all(v.diagnosis == view.diagnosis for v in recent))
        if agree:
            diagnosis = view.diagnosis
        elif streak:
            diagnosis = "suspect"
        elif view.diagnosis == "starting":
            diagnosis = "starting"
        elif any(v.diagnosis != "healthy" for v in recent):
            diagnosis = "degraded"
        else:
            diagnosis = "healthy"
        corroborated = bool(log.decisive) and log.verdict == diagnosis
        confidence = ("high" if agree and (corroborated or len(view.because) >= 3 or diagnosis == "no-access") else
                      "medium" if agree or diagnosis == "healthy" else "low")
        trace = self._trace(diagnosis, view, streak, log)
        subject = next((m.note for m in log.decisive if m.note and m.diag == diagnosis), None)
        return Verdict(diagnosis, confidence, runbook_for(diagnosis, self.layout), streak, self.total, trace,
                       subject=subject,
                       signatures=sorted({m.signature.id for m in log.matches if m.signature.role != "info"}),
                       observations={n: {"outcome": o.outcome, "latency": round(o.latency, 4), "detail": o.detail, **o.data,
                                         **({"cause": o.cause} if o.cause else {})}
                                     for n, o in r.obs.items()})

    def _trace(self, diagnosis: str, view: RoundView, streak: int, log: logdiag.LogVerdict) -> list[str]:
        rounds = list(self.rounds)[-max(streak, 1):]
        lines = []
        for name, label in LABELS.items():
            seen = Counter(r[name].outcome for r in rounds if name in r.obs)
            if seen:
                worst = max((r[name].latency for r in rounds if name in r.obs), default=0.0)
                lines.append(f"{label}: " + ", ".join(f"{k} ×{n}" for k, n in seen.most_common())
                             + f" (slowest {_ms(worst)})")
        if diagnosis == "suspect":
            lines.append(f"{streak} failing round(s); {self.debounce} in a row with the same diagnosis are needed "
                         f"before acting (this one looks like {view.diagnosis})")
        elif diagnosis == "no-access":
            lines.append("one round is enough (no debounce): this user's access does not flap, and nothing is done")
        elif diagnosis == "degraded":
            lines.append(f"answers are slow or intermittent over the last {self.debounce} rounds: degraded, not hung")
        else:
            lines.append(f"{streak} consecutive failing round(s) (debounce {self.debounce})")
        lines += view.because
        lines += [f"why not: {a}" for a in view.against]
        sigs = [m for m in log.matches if m.signature.role in ("cause", "symptom")]
        lines.append(f"log: {len(sigs)} signature line(s) — {log.trace[-1]}" if sigs else "log: no failure signature")
        return lines


class Source(Protocol):
    def round(self) -> Round: ...


def settle(source: Source, monitor: Monitor, *, interval: float, max_rounds: int | None = None,
           on_round: Callable[[Round, Verdict], None] | None = None, clock: Clock = SYSTEM) -> Verdict:
    """Probe until the verdict settles: one round when the host is healthy; while rounds fail,
    until the debounce is met or a good round breaks the streak; never more than max_rounds
    (default 2 × debounce + 1, so a flapping host ends as `degraded` or `suspect`, not in a loop)."""
    limit = max_rounds or 2 * monitor.debounce + 1
    for i in range(limit):
        r = source.round()
        v = monitor.feed(r)
        if on_round:
            on_round(r, v)
        if v.diagnosis != "suspect" or i + 1 == limit:
            return v
        clock.sleep(interval)
    raise AssertionError("unreachable")

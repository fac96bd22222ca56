"""From probe rounds to one verdict with a confidence and a written trace of why and why not.

Role: pure. `classify` (detect/roundrules: an ordered list of named rules) reads one round, plus what the
daemon log says since the incident began, and names that round's diagnosis; `Monitor` debounces: a sick
verdict needs N consecutive failing rounds (default 3), a single slow or failed answer never produces one,
and a daemon that answers slowly, or fails now and then, is `degraded` — never hung.
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
from remediator.detect.diagnoses import DIAGNOSES, runbook_for
from remediator.detect.loglines import parse_lines
from remediator.detect.probes import OPERATOR_CAUSES, Round
from remediator.detect.roundrules import HOW, RoundView
from remediator.detect.roundrules import classify as classify
from remediator.detect.roundrules import ms as _ms
from remediator.detect.scan import Scanned, scan_lines
from remediator.vocab import Diagnosis

HEALTHY_LIKE = (Diagnosis.HEALTHY, Diagnosis.DEGRADED, Diagnosis.STARTING)
LABELS = {"_ping": "/_ping", "version": "/version", "info": "/info", "containers": "/containers/json",
          "containerd": "containerd gRPC"}


@dataclass
class Verdict:
    diagnosis: Diagnosis
    confidence: str  # high | medium | low
    runbook: str | None
    streak: int  # consecutive failing rounds at the end
    rounds: int
    trace: list[str]
    signatures: list[str] = field(default_factory=list)
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    subject: str | None = None  # what the log names as broken (a database file, a crashed program), if it does
    rule: str = ""  # the round rule (roundrules.NAMES) that classified the last round; the debounce may still hold
    # the verdict at suspect or degraded

    @property
    def sick(self) -> bool:
        return DIAGNOSES[self.diagnosis].sick

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.diagnosis, "rule": self.rule, "confidence": self.confidence, "runbook": self.runbook,
                "streak": self.streak, "rounds": self.rounds, "meaning": DIAGNOSES[self.diagnosis].meaning,
                "subject": self.subject,
                "signatures": self.signatures, "trace": self.trace, "observations": self.observations}


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
        self.log: deque[Scanned] = deque(maxlen=log_lines)  # daemon log since monitoring began
        self.lines_seen = 0
        self.total = 0

    def feed(self, r: Round) -> Verdict:
        self.total += 1
        new = parse_lines(r.log_lines, self.lines_seen + 1)
        self.lines_seen += len(r.log_lines)
        self.log.extend(scan_lines(new))  # each line is scanned once, however many rounds follow
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
            diagnosis = Diagnosis.SUSPECT
        elif view.diagnosis == Diagnosis.STARTING:
            diagnosis = Diagnosis.STARTING
        elif any(v.diagnosis != Diagnosis.HEALTHY for v in recent):
            diagnosis = Diagnosis.DEGRADED
        else:
            diagnosis = Diagnosis.HEALTHY
        corroborated = bool(log.decisive) and log.verdict == diagnosis
        confidence = ("high" if agree and (corroborated or len(view.because) >= 3 or diagnosis == Diagnosis.NO_ACCESS) else
                      "medium" if agree or diagnosis == Diagnosis.HEALTHY else "low")
        trace = self._trace(diagnosis, view, streak, log)
        subject = next((m.note for m in log.decisive if m.note and m.diag == diagnosis), None)
        return Verdict(diagnosis, confidence, runbook_for(diagnosis, self.layout), streak, self.total, trace,
                       subject=subject, rule=view.rule,
                       signatures=sorted({m.signature.id for m in log.matches if m.signature.role != "info"}),
                       observations={n: {"outcome": o.outcome, "latency": round(o.latency, 4), "detail": o.detail, **o.data,
                                         **({"cause": o.cause} if o.cause else {})}
                                     for n, o in r.obs.items()})

    def _trace(self, diagnosis: Diagnosis, view: RoundView, streak: int, log: logdiag.LogVerdict) -> list[str]:
        rounds = list(self.rounds)[-max(streak, 1):]
        lines = []
        for name, label in LABELS.items():
            seen = Counter(r[name].outcome for r in rounds if name in r.obs)
            if seen:
                worst = max((r[name].latency for r in rounds if name in r.obs), default=0.0)
                lines.append(f"{label}: " + ", ".join(f"{k} ×{n}" for k, n in seen.most_common())
                             + f" (slowest {_ms(worst)})")
        if diagnosis == Diagnosis.SUSPECT:
            lines.append(f"{streak} failing round(s); {self.debounce} in a row with the same diagnosis are needed "
                         f"before acting (this one looks like {view.diagnosis})")
        elif diagnosis == Diagnosis.NO_ACCESS:
            lines.append("one round is enough (no debounce): this user's access does not flap, and nothing is done")
        elif diagnosis == Diagnosis.DEGRADED:
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
        if v.diagnosis != Diagnosis.SUSPECT or i + 1 == limit:
            return v
        clock.sleep(interval)
    raise AssertionError("unreachable")

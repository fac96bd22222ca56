"""Diagnosis of a daemon log alone: what `remediator diagnose --log` prints, and what the live
verdict reads from the log lines a probe round collected.

Role: parse logrus text, TTY (`FATA[0000] …`), syslog-prefixed and `journalctl -o json` lines
into messages with their line numbers; match the catalogue; find the last start attempt; decide.
Only the last start attempt decides (earlier failed attempts are history, reported in the trace).
Must not: read files or talk to a host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from remediator.detect import signatures as sigs
from remediator.detect.signatures import ANY, PRIORITY, Match, V, runbook_for, version_range_text


@dataclass(frozen=True)
class Line:
    no: int
    text: str


@dataclass
class LogVerdict:
    verdict: str
    confidence: str  # high | medium | low
    matches: list[Match]
    decisive: list[Match]
    versions: tuple[V, V] | None
    runbook: str | None
    trace: list[str] = field(default_factory=list)
    near_misses: list[tuple[int, str, str]] = field(default_factory=list)  # (line, signature id, text)
    started_ok: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "confidence": self.confidence, "runbook": self.runbook,
            "versions": version_range_text(self.versions) if self.versions else None,
            "signatures": [{"id": m.signature.id, "line": m.line_no, "role": m.signature.role,
                            "diagnosis": m.signature.diagnosis, "versions": m.signature.version_text,
                            "runbook": runbook_for(m.signature.diagnosis) if m.signature.diagnosis else None,
                            "text": m.line[:300]} for m in self.matches],
            "decisive": sorted({m.signature.id for m in self.decisive}),
            "near_misses": [{"line": n, "signature": s, "text": t[:300]} for n, s, t in self.near_misses],
            "trace": self.trace,
        }


def _journal_message(raw: str) -> str | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "MESSAGE" not in obj:
        return None
    msg = obj["MESSAGE"]
    if isinstance(msg, list):  # journald emits non-UTF-8 messages as byte arrays
        return bytes(b for b in msg if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    return str(msg)


MAX_LINE = 16 << 10  # catalogue lines are a few hundred characters; the rest of a giant line is noise
WORD = re.compile(r"[a-z0-9_.-]+")
UNESCAPE = re.compile(r'\\(["\\])')


def parse(text: str) -> list[Line]:
    """One Line per non-empty input line; `journalctl -o json` records become their MESSAGE.
    logrus quotes messages (`msg="dial \\"/x\\""`): the escapes are undone so one regex fits all forms."""
    return parse_lines(text.splitlines())


def parse_lines(raws: list[str], first_no: int = 1) -> list[Line]:
    """parse() for lines already split, numbered from first_no (the live monitor numbers across rounds)."""
    out = []
    for i, raw in enumerate(raws, first_no):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        msg = _journal_message(raw) if raw.lstrip().startswith("{") else None
        message = UNESCAPE.sub(r"\1", msg if msg is not None else raw).rstrip()
        out.append(Line(i, message[:MAX_LINE]))  # a hostile multi-megabyte line must not stall the regexes
    return out


def intersect(ranges: list[tuple[V, V]]) -> tuple[V, V] | None:
    lo, hi = ANY
    for a, b in ranges:
        lo, hi = max(lo, a), min(hi, b)
    return (lo, hi) if lo <= hi else None


def pick(diagnoses: list[str]) -> str:
    return min(diagnoses, key=lambda d: PRIORITY.index(d) if d in PRIORITY else len(PRIORITY))


KEYWORDS = [(s.id, [set(WORD.findall(k.lower())) for k in s.keywords]) for s in sigs.SIGNATURES
            if s.role in ("cause", "symptom") and s.id != "fatal-other"]


def near_misses(scanned: list[Scanned], limit: int = 3) -> list[tuple[int, str, str]]:
    """Lines that share words with a cause or symptom signature but match none, best first."""
    scored = []
    for sc in scanned[-5000:]:
        if sc.matches:
            continue
        words = set(WORD.findall(sc.line.text.lower()))
        for sid, keys in KEYWORDS:
            score = max(len(words & k) / len(k) for k in keys)
            if score >= 0.5:
                scored.append((score, sc.line.no, sid, sc.line.text))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    seen, out = set(), []
    for _score, no, sid, text in scored:
        if no not in seen:
            seen.add(no)
            out.append((no, sid, text))
        if len(out) == limit:
            break
    return out


@dataclass(frozen=True)
class Scanned:
    """One line with what the catalogue found in it (scanned once, decided many times)."""

    line: Line
    matches: tuple[Match, ...]
    marks: tuple[str, ...]


def scan_lines(lines: list[Line]) -> list[Scanned]:
    return [Scanned(ln, tuple(Match(s, ln.no, ln.text) for s in sigs.scan_message(ln.text)), tuple(sigs.markers(ln.text)))
            for ln in lines]


def lines_by_signature(matches: list[Match], most: int = 3) -> str:
    """'S10-bolt-corrupt (lines 127, 129, 132 +18 more), S09-dial-managed (line 204)': bounded, however many."""
    by: dict[str, list[int]] = {}
    for m in matches:
        by.setdefault(m.signature.id, []).append(m.line_no)
    parts = []
    for sid, nos in sorted(by.items()):
        more = f" +{len(nos) - most} more" if len(nos) > most else ""
        parts.append(f"{sid} (line{'s' if len(nos) > 1 else ''} {', '.join(map(str, nos[:most]))}{more})")
    return ", ".join(parts)


def diagnose_lines(lines: list[Line], layout: str | None = None) -> LogVerdict:
    return decide(scan_lines(lines), layout)


def decide(scanned: list[Scanned], layout: str | None = None) -> LogVerdict:
    """The verdict of already-scanned lines."""
    matches = [m for s in scanned for m in s.matches]
    marks = [(s.line.no, m) for s in scanned for m in s.marks]
    starts = [n for n, m in marks if m in sigs.START_MARKERS]
    seg_start = starts[-1] if starts else 0
    ready = [n for n, m in marks if m in sigs.READY_MARKERS and n >= seg_start]
    seg = [m for m in matches if m.line_no >= seg_start and m.signature.role != "info"]
    trace = []
    if starts:
        trace.append(f"{len(starts)} start attempt(s); the last begins at line {seg_start}")
    earlier = [m for m in matches if m.line_no < seg_start and m.signature.role == "cause"]
    if earlier:
        trace.append("earlier attempts showed " + lines_by_signature(earlier))
    ranges = [m.signature.versions for m in seg if m.signature.versions != ANY]
    ranges += [sigs.FINGERPRINTS[m] for _, m in marks if m in sigs.FINGERPRINTS]
    versions = intersect(ranges) if ranges else None
    if ranges and versions is None:
        trace.append("signatures from different Docker eras: is this one daemon's log?")
    causes = [m for m in seg if m.signature.role == "cause"]
    symptoms = [m for m in seg if m.signature.role == "symptom" and m.signature.diagnosis]
    after_ready = [m for m in seg if ready and m.line_no > ready[0]]
    if causes:
        verdict = pick([m.signature.diagnosis for m in causes if m.signature.diagnosis])
        decisive = [m for m in causes if m.signature.diagnosis == verdict]
        confidence = "high" if len(decisive) > 1 or symptoms else "medium"
        others = sorted({m.signature.diagnosis for m in causes if m.signature.diagnosis} - {verdict})
        trace.append(f"cause: {', '.join(sorted({m.signature.id for m in decisive}))} at line(s) "
                     f"{', '.join(str(m.line_no) for m in decisive[:5])} → {verdict}")
        if others:
            trace.append(f"also seen: {', '.join(others)}; {verdict} takes precedence "
                         f"(a cause outside containerd's state always wins)")
    elif ready and not after_ready:
        verdict, decisive, confidence = "healthy", [], "high" if starts else "medium"
        trace.append(f"the last start completed (line {ready[0]}) and nothing failed after it")
    elif symptoms:
        verdict = pick([m.signature.diagnosis for m in symptoms if m.signature.diagnosis])
        decisive = [m for m in symptoms if m.signature.diagnosis == verdict]
        confidence = "low"
        trace.append(f"only symptoms ({', '.join(sorted({m.signature.id for m in symptoms}))}): "
                     f"{verdict} is a guess, no cause line")
    else:
        verdict, decisive, confidence = "unknown", [], "low"
        if starts and not ready:
            trace.append(f"the start at line {seg_start} never completed and no known signature explains why")
        elif not scanned:
            trace.append("the log is empty")
        else:
            trace.append("no known signature and no completed start in this log")
    misses = near_misses(scanned) if verdict == "unknown" else []
    return LogVerdict(verdict, confidence, matches, decisive, versions, runbook_for(verdict, layout), trace, misses,
                      started_ok=bool(ready) if starts else None)


def diagnose_text(text: str, layout: str | None = None) -> LogVerdict:
    return diagnose_lines(parse(text), layout)

"""Diagnosis of a daemon log alone: what `remediator diagnose --log` prints, and what the live
verdict reads from the log lines a probe round collected.

Role: the entry of a log's diagnosis. Lines are parsed in detect/loglines, matched in detect/scan, read once
into an Evidence (detect/logevidence) and decided by the first of the named rules of detect/logrules; a
goroutine dump in the text may then override a verdict that names no fault (detect/dumps.judge).
Only the last start attempt decides (earlier failed attempts are history, reported in the trace).
Must not: read files or talk to a host.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from typing import Any

from remediator.detect import dumps, logrules
from remediator.detect import signatures as sigs
from remediator.detect.logevidence import gather
from remediator.detect.loglines import MAX_LINE as MAX_LINE
from remediator.detect.loglines import Line as Line
from remediator.detect.loglines import parse as parse
from remediator.detect.loglines import parse_lines as parse_lines
from remediator.detect.scan import Scanned as Scanned
from remediator.detect.scan import scan_lines as scan_lines
from remediator.detect.signatures import Match, V, runbook_for, version_range_text
from remediator.vocab import Diagnosis


@dataclass
class LogVerdict:
    verdict: Diagnosis
    confidence: str  # high | medium | low
    matches: list[Match]
    decisive: list[Match]
    versions: tuple[V, V] | None
    runbook: str | None
    trace: list[str] = field(default_factory=list)
    near_misses: list[tuple[int, str, str]] = field(default_factory=list)  # (line, signature id, text)
    started_ok: bool | None = None
    layout: str | None = None  # given, or inferred from the log (spawn lines: managed; a containerd unit: external)
    dump: list[str] = field(default_factory=list)  # the goroutine-dump summary, when the text holds one
    failed_start: bool = False  # the last start attempt printed a line that ends it in failure
    rule: str = ""  # the rule that decided (logrules.NAMES, or dumps.RULE)
    rule_lines: tuple[int, ...] = ()  # the input lines that rule used

    def _shown(self, most: int = 200) -> list[Match]:
        """The decisive lines first, then the last `most` others: bounded output for a log of any size."""
        rest = [m for m in self.matches if m not in self.decisive]
        return (self.decisive[:most] + rest[-most:])[:2 * most]

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "confidence": self.confidence, "runbook": self.runbook,
            "versions": version_range_text(self.versions) if self.versions else None,
            "layout": self.layout,
            "signatures": [{"id": m.signature.id, "line": m.line_no, "role": m.signature.role,
                            "diagnosis": m.diag, "versions": m.signature.version_text,
                            "runbook": runbook_for(m.diag) if m.diag else None, "note": m.note or None,
                            "text": m.line[:300]} for m in self._shown()],
            "signatures_total": len(self.matches),
            "decisive": sorted({m.signature.id for m in self.decisive}),
            "near_misses": [{"line": n, "signature": s, "text": t[:300]} for n, s, t in self.near_misses],
            "trace": self.trace,
            "dump_summary": self.dump,
            "rule": self.rule,
            "rule_lines": list(self.rule_lines),
        }


WORD = re.compile(r"[a-z0-9_.-]+")
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


def decide(scanned: list[Scanned], layout: str | None = None) -> LogVerdict:
    """The verdict of already-scanned lines: the evidence computed once, then the first rule that decides."""
    ev = gather(scanned, layout)
    d = logrules.decide(ev)
    misses = near_misses(scanned) if d.verdict == Diagnosis.UNKNOWN else []
    return LogVerdict(d.verdict, d.confidence, ev.shown, d.decisive, ev.versions, runbook_for(d.verdict, ev.layout),
                      ev.notes + d.trace, misses, started_ok=bool(ev.ready) if ev.starts else None, layout=ev.layout,
                      failed_start=bool(ev.failed), rule=d.rule, rule_lines=d.lines)


def diagnose_lines(lines: list[Line], layout: str | None = None) -> LogVerdict:
    return decide(scan_lines(lines), layout)


def diagnose_text(text: str, layout: str | None = None) -> LogVerdict:
    """A pasted log, journal excerpt, or goroutine dump (goroutine-stacks-*.log) — all the same entry."""
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small, acyclic objects: the cycle collector only costs time here
    try:
        v = diagnose_lines(parse(text), layout)
    finally:
        if enabled:
            gc.enable()
    if v.verdict in dumps.OVERRIDABLE and (j := dumps.judge(text)) is not None:
        v.dump = j.summary
        v.trace += j.trace
        if j.verdict is not None:
            v.verdict, v.confidence, v.runbook = j.verdict, "medium", runbook_for(j.verdict, v.layout)
            v.rule, v.rule_lines = dumps.RULE, j.lines
    return v


def rule_doc(name: str) -> str:
    """What a rule says, in one line (its docstring): the words `diagnose --explain` prints."""
    fn = dumps.judge if name == dumps.RULE else next((r for r in (*logrules.RULES, logrules.empty_log)
                                                      if r.__name__ == name), None)
    return " ".join((fn.__doc__ or "").split("\n\n")[0].split()) if fn is not None else ""


def explain(v: LogVerdict, text: str) -> dict[str, Any]:
    """The rule that decided, what it says, and the input lines it used (numbered as `parse` numbers them)."""
    raws = text.splitlines() if v.rule_lines else []
    return {"rule": v.rule, "says": rule_doc(v.rule),
            "lines": [{"line": n, "text": raws[n - 1][:300]} for n in v.rule_lines if 0 < n <= len(raws)]}

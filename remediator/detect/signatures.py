"""Matching log messages against the failure-signature catalogue (detect/catalogue).

Role: the pure scan: which signatures and lifecycle markers one message matches, gated by the literal needles
(detect/scan finds a whole log's needles in one pass; only the signatures owning one run their regexes); the
catch-alls (a bare panic or fatal) only when nothing specific matches. `Match` is one matching line.
The catalogue's data and the diagnoses' descriptions are re-exported here for the callers that read both.
Must not: read files or talk to a host.
"""

from __future__ import annotations

from dataclasses import dataclass

from remediator.detect.catalogue import ANY as ANY
from remediator.detect.catalogue import FINGERPRINTS as FINGERPRINTS
from remediator.detect.catalogue import INIT_STEP_MARKERS as INIT_STEP_MARKERS
from remediator.detect.catalogue import MARKER_NEEDLES, MARKERS
from remediator.detect.catalogue import READY_MARKERS as READY_MARKERS
from remediator.detect.catalogue import SIGNATURES as SIGNATURES
from remediator.detect.catalogue import START_MARKERS as START_MARKERS
from remediator.detect.catalogue import Signature as Signature
from remediator.detect.catalogue import V as V
from remediator.detect.catalogue import version_range_text as version_range_text
from remediator.detect.diagnoses import DIAGNOSES as DIAGNOSES
from remediator.detect.diagnoses import PRIORITY as PRIORITY
from remediator.detect.diagnoses import runbook_for as runbook_for
from remediator.vocab import Diagnosis


@dataclass(frozen=True)
class Match:
    signature: Signature
    line_no: int
    line: str
    resolved: Diagnosis | None = None  # a panic's diagnosis once attributed (its signature has none of its own)
    note: str = ""  # why: the attribution, or the file this line names

    @property
    def diag(self) -> Diagnosis | None:
        return self.resolved or self.signature.diagnosis


GENERIC = ("go-panic", "fatal-other")
SPECIFIC = tuple(s for s in SIGNATURES if s.id not in GENERIC)
CATCH_ALL = tuple(s for s in SIGNATURES if s.id in GENERIC)
# The cheap literal pass: logdiag.needles_by_line finds which needles each line holds (one str.find pass per
# needle over the whole text); only the signatures and markers owning one of them run their regexes.
NEEDLES = sorted({n for sig in SIGNATURES for n in sig.needles} | {n for ns in MARKER_NEEDLES.values() for n in ns})


def needles_in(message: str) -> frozenset[str]:
    """The needles of one message (a single line; many lines go through logdiag.needles_by_line)."""
    return frozenset(n for n in NEEDLES if n in message)


def _owners(found: frozenset[str], index: dict[str, tuple[int, ...]]) -> list[int]:
    return sorted({i for n in found for i in index.get(n, ())})


SIG_BY_NEEDLE = {n: tuple(i for i, s in enumerate(SIGNATURES) if n in s.needles) for n in NEEDLES}
MARKER_NAMES = list(MARKERS)
MARKER_BY_NEEDLE = {n: tuple(i for i, name in enumerate(MARKER_NAMES) if n in MARKER_NEEDLES[name]) for n in NEEDLES}


def scan_message(message: str, found: frozenset[str] | None = None) -> list[Signature]:
    """Signatures matching one message; the catch-alls (a bare panic or fatal) only when nothing specific does."""
    found = needles_in(message) if found is None else found
    if not found:
        return []
    candidates = [SIGNATURES[i] for i in _owners(found, SIG_BY_NEEDLE)]
    hits = [s for s in candidates if s.id not in GENERIC and s.matches(message)]
    if not any(s.role in ("cause", "panic") for s in hits):
        generic = next((s for s in candidates if s.id in GENERIC and s.matches(message)), None)
        if generic is not None:
            hits.append(generic)
    return hits


def markers(message: str, found: frozenset[str] | None = None) -> list[str]:
    found = needles_in(message) if found is None else found
    if not found:
        return []
    names = [MARKER_NAMES[i] for i in _owners(found, MARKER_BY_NEEDLE)]
    return [name for name in names if MARKERS[name].search(message)]


def by_id(sig_id: str) -> Signature:
    return next(s for s in SIGNATURES if s.id == sig_id)

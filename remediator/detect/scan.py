"""What the catalogue finds in each line of a log: scanned once, decided many times.

Role: match parsed lines (detect/loglines) against the signature catalogue with the cheap needle gate, attribute
each panic to the program and database its stack names (detect/attribute), and read the containerd layout the
lines show. The live monitor keeps the scanned lines of every round; the diagnosis reads them (detect/logevidence).
Must not: read files or talk to a host.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, replace

from remediator.detect import attribute
from remediator.detect import signatures as sigs
from remediator.detect.aliases import EMBEDDED_CONTAINERD
from remediator.detect.loglines import Line
from remediator.detect.signatures import Match


@dataclass(frozen=True)
class Scanned:
    """One line with what the catalogue found in it (scanned once, decided many times)."""

    line: Line
    matches: tuple[Match, ...]
    marks: tuple[str, ...]


def needles_by_line(lines: list[Line]) -> dict[int, frozenset[str]]:
    """Which catalogue needles each line holds (index -> needles), found with one str.find pass per needle
    over the joined text: C-speed, so the regexes run only on the few lines that can match."""
    text = "\n".join(ln.text for ln in lines)
    starts = list(itertools.accumulate((len(ln.text) + 1 for ln in lines), initial=0))
    hits: dict[int, set[str]] = {}
    for needle in sigs.NEEDLES:
        i = text.find(needle)
        while i != -1:
            idx = bisect.bisect_right(starts, i) - 1
            hits.setdefault(idx, set()).add(needle)
            i = text.find(needle, starts[idx + 1])  # the rest of this line already counts
    return {i: frozenset(found) for i, found in hits.items()}


def scan_lines(lines: list[Line]) -> list[Scanned]:
    hits = needles_by_line(lines)
    out = []
    for i, ln in enumerate(lines):
        found = hits.get(i)
        out.append(Scanned(ln, tuple(Match(s, ln.no, ln.text) for s in sigs.scan_message(ln.text, found)),
                           tuple(sigs.markers(ln.text, found))) if found else Scanned(ln, (), ()))
    return out


def lines_by_signature(matches: list[Match], most: int = 3) -> str:
    """'S10-ctrd-plugin-db (lines 127, 129, 132 +18 more), S09-dial-managed (line 204)': bounded, however many."""
    by: dict[str, list[int]] = {}
    for m in matches:
        by.setdefault(m.signature.id, []).append(m.line_no)
    parts = []
    for sid, nos in sorted(by.items()):
        more = f" +{len(nos) - most} more" if len(nos) > most else ""
        parts.append(f"{sid} (line{'s' if len(nos) > 1 else ''} {', '.join(map(str, nos[:most]))}{more})")
    return ", ".join(parts)


# lines that are part of a crash's output, not a crash of their own: attributed once per block
FRAME_SIGS = ("S10-panic-frame", "S10-crash-frames", "S10-crash-registers")


def attributed(scanned: list[Scanned]) -> list[Match]:
    """Every match, with each panic attributed (which program crashed, which database) from the lines after it."""
    out: list[Match] = []
    last_panic = -10
    for i, sc in enumerate(scanned):
        for m in sc.matches:
            if m.signature.role != "panic":
                out.append(m if m.signature.subject is None else replace(m, note=f"names {m.signature.subject}"))
                continue
            if m.signature.id in FRAME_SIGS and i - last_panic <= 5:
                last_panic = i  # a frame (or register) of a crash already attributed: the block is one crash
                continue
            last_panic = i
            frames = [x.line.text for x in scanned[i + 1:i + 1 + attribute.STACK_LINES]]
            context = [x.line.text for x in scanned[max(0, i - 40):i]]
            crash = attribute.crash(sc.line.proc, frames, context, m.signature.id == "S10-bolt-panic", sc.line.text)
            out.append(replace(m, resolved=crash.diagnosis, note=crash.why))
    return out


def infer_layout(scanned: list[Scanned]) -> str | None:
    """The containerd layout a log shows: a spawn line means managed; a containerd unit of its own, external."""
    marks = {m for s in scanned for m in s.marks}
    if marks & {"spawn_11", "spawn_12"}:
        return "libcontainerd"
    if marks & {"spawn_1711", "spawn_1809", "spawn_28"}:
        return "managed"
    if any(s.line.proc in attribute.CONTAINERD_PROCS for s in scanned):
        return "external"
    if any(EMBEDDED_CONTAINERD.search(s.line.text) or "namespace=k8s.io" in s.line.text for s in scanned):
        return "external"  # k3s's, rke2's, microk8s's or a CRI containerd (k8s.io): never dockerd's state to clear
    return None

"""The evidence of a scanned log, computed once: which start attempt is the last, what it printed, what
came before it. The rules of detect/logrules read it; none of them scans the lines again.

Role: pure. Only the last start attempt decides: a cause printed before a start that then completed did not
stop it, and while the last attempt is still going the one before it says why they fail. The dead-shim
causes hold only in their context (detect/shims); a cause whose `requires` is absent from the excerpt, and
the consequences of a containerd panic, are not causes.
Must not: read files or talk to a host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property

from remediator.detect import shims
from remediator.detect import signatures as sigs
from remediator.detect.loglines import Line
from remediator.detect.scan import Scanned, attributed, infer_layout, lines_by_signature
from remediator.detect.signatures import ANY, Match, V
from remediator.vocab import Diagnosis

CAUSE_ROLES = ("cause", "panic")
CONSEQUENCES = ("S08-ctrd-died", "S09-dial-external", "S09-grpc-transport")
# containerd's unit failing to start is the consequence of a containerd cause printed beside it (a stall, a crash)
UNIT_CONSEQUENCES = ("S21-ctrd-unit-failed",)
# lines that end a start attempt in failure (dockerd exits, or gives up on its containerd)
TERMINAL = ("fatal-other", "S08-ctrd-start-timeout", "S07-ctrd-connect", "S09-dial-managed", "S09-dial-managed-timeout",
            "S09-dial-external", "S02-fatal-eof", "S03-state-missing", "S04-events-log-nul", "S20-stale-pidfile",
            "S10-volume-db", "S10-network-db", "S10-db-lock", "S10-tag-store", "S10-content-db", "S10-cri-recover",
            "S10-layer-store", "S12-shim-stall")
ERROR_LINE = re.compile(r"level=(?:error|fatal|panic)\b|\b(?:ERRO|FATA|PANI)\[|failed to start daemon|Error starting daemon|"
                        r"unable to configure the Docker daemon|Run '\S*dockerd? (?:COMMAND )?--help'|unknown (?:shorthand )?flag|"
                        r"(?:^|\]: )(?:containerd|dockerd): [a-z]|[Ff]ailed to start containerd|executable file not found|"
                        # a wrapper's tool failing in the engine's unit (snap's, rootless', an entrypoint's shell)
                        r"\b(?:mktemp|mkdir|touch|cp|mv|ln|chmod|chown|mount|umount|modprobe): (?:failed|cannot|can't)\b|"
                        # an OS error printed bare by the engine's program (a Rust or C helper of a fork: balena's)
                        r"\]: (?:No such file or directory|Permission denied|Read-only file system|Input/output error)"
                        r" \(os error \d+\)$")
EXPLAINED_ROLES = ("cause", "panic", "container", "limit", "info")
# A line with no log level that says something failed (a program's bare stderr, a kernel or init line): a failure
# verb or state in the engine's own words. A levelled line counts only at error level (ERROR_LINE).
FAILURE_PHRASE = re.compile(r"(?<![-\w])(?:[Ff]ailed|[Ff]ailure|[Cc]annot|[Cc]an't|[Uu]nable to|[Tt]imed out|[Tt]imeout|"
                            r"stuck for|too (?:fast|quickly)|[Nn]o space left|[Pp]anic|[Ff]atal|[Ee]rror)\b")
# not a failure of the engine: a shell command line (prompt), or the client saying the daemon answered (docker/cli
# cli/command/container/start.go: "Error: failed to start containers: %s" after each daemon error response)
NOT_ENGINE = re.compile(r"^\S{0,40}[#$] |Error response from daemon|^Error: failed to start containers: ")
LEVELLED = re.compile(r"\blevel=|\b(?:DEBU|INFO|WARN|ERRO|FATA|PANI)\[|\]\[[A-Z]\] ")
# the programs of the engine (a journal tag); an untagged line is a pasted stderr of one of them
ENGINE_PROCS = re.compile(r"(?:dockerd?|docker[.-][\w.-]+|containerd(?:-shim[\w.-]*)?|runc|kernel|init|balena[\w.-]*|"
                          r"dockerd-rootless\.sh|rootlesskit)$")


def intersect(ranges: list[tuple[V, V]]) -> tuple[V, V] | None:
    lo, hi = ANY
    for a, b in ranges:
        lo, hi = max(lo, a), min(hi, b)
    return (lo, hi) if lo <= hi else None


@dataclass(frozen=True)
class Evidence:
    """What one excerpt shows, split by start attempt (line numbers are the input's)."""

    scanned: list[Scanned]
    matches: list[Match]  # every match that holds (dead-shim causes out of their context removed)
    shown: list[Match]  # every match, the removed ones with a note saying why
    marks: list[tuple[int, str]]  # (line, marker) of every lifecycle line
    starts: list[int]  # the lines where a start attempt begins
    seg_start: int  # the line where the last attempt begins (0: no start in the excerpt)
    ready: list[int]  # the lines of the last attempt that say the start completed
    seg: list[Match]  # the last attempt's matches (not `info`)
    earlier: list[Match]  # causes and panics of earlier attempts
    survived: list[Match]  # causes and panics the last attempt printed before it completed: not decisive
    causes: list[Match]  # what decides, when anything does
    symptoms: list[Match]
    limit: list[Match]  # systemd's start limit, anywhere in the excerpt
    containers: list[Match]  # container-level faults of the last attempt
    after_ready: list[Match]  # what the last attempt printed after it completed
    failed: list[Match]  # lines that end the last attempt in failure
    layout: str | None
    versions: tuple[V, V] | None
    notes: list[str]  # the trace every verdict begins with (attempts, eras, what was not decisive)

    @cached_property
    def unexplained(self) -> list[Line]:
        """Error lines of the last attempt that no signature explains: scanned only when a rule asks. While the
        last attempt has printed nothing that matters yet (the excerpt ends in it), the one before it says why."""
        return [s.line for s in self.scanned if s.line.no >= self._since and s.line.proc != "systemd" and not any(
            m.signature.role in EXPLAINED_ROLES or m.diag for m in s.matches) and ERROR_LINE.search(s.line.text)]

    @cached_property
    def failures(self) -> list[Line]:
        """Lines of the last attempt without a log level, printed by the engine's programs (or pasted bare), that
        say something failed and that no signature explains: scanned only when a rule asks."""
        return [s.line for s in self.scanned if s.line.no >= self._since and not LEVELLED.search(s.line.text)
                and not NOT_ENGINE.search(s.line.text) and (s.line.proc is None or ENGINE_PROCS.match(s.line.proc)) and not any(
                    m.signature.role in EXPLAINED_ROLES or m.diag for m in s.matches)
                and FAILURE_PHRASE.search(s.line.text)]

    @property
    def _since(self) -> int:
        """Where the attempt that decides begins: the last, or the one before it while the last printed nothing."""
        if not self.ready and not self.seg:
            return max((n for n in self.starts if n < self.seg_start), default=0)
        return self.seg_start

    def marked(self, *names: str) -> list[int]:
        """The lines that carry one of these lifecycle markers."""
        return [n for n, m in self.marks if m in names]


# dockerd lost the containerd it runs: the containerd spawn lines after it are its monitor's restarts, not new starts
LOST_CONTAINERD = ("S25-ctrd-lost",)
DAEMON_STARTS = ("starting", "unit_started", "unit_restart")  # dockerd itself (re)starts


def _respawns(marks: list[tuple[int, str]], lost: list[int]) -> set[int]:
    """The spawn lines that follow a loss of containerd with no start of dockerd between: dockerd's health monitor
    re-running containerd (moby libcontainerd/remote_linux.go handleConnectionChange -> runContainerdDaemon @v1.12)."""
    out: set[int] = set()
    for n, m in marks:
        since = max((x for x in lost if x < n), default=None)
        if since is not None and m.startswith("spawn_") and not any(
                since < k < n and name in DAEMON_STARTS for k, name in marks):
            out.add(n)
    return out


def _segment(marks: list[tuple[int, str]], lost: list[int] | None = None) -> tuple[list[int], int, list[int]]:
    respawned = _respawns(marks, lost) if lost else set()
    starts = [n for n, m in marks if m in sigs.START_MARKERS and n not in respawned]
    seg_start = starts[-1] if starts else 0
    ready = [n for n, m in marks if m in sigs.READY_MARKERS and n >= seg_start]
    early = _early_listen(marks, seg_start)
    return starts, seg_start, [n for n in ready if n not in early]


def _early_listen(marks: list[tuple[int, str]], seg_start: int) -> set[int]:
    """The `API listen on` lines an initialization step follows: Docker <= 1.9 listened first (catalogue
    INIT_STEP_MARKERS), so such a line says the start began, not that it completed."""
    last_step = max((n for n, m in marks if m in sigs.INIT_STEP_MARKERS and n >= seg_start), default=-1)
    return {n for n, m in marks if m == "api_listen" and seg_start <= n < last_step}


def _in_context(scanned: list[Scanned], matches: list[Match], seg_start: int) -> tuple[list[Match], list[Match]]:
    """(the matches that hold, every match as shown): the dead-shim causes hold only in their context."""
    if not any(m.signature.id in shims.IDS for m in matches):
        return matches, matches
    ev = shims.Evidence([(s.line.no, s.line.text, s.marks) for s in scanned])
    held = [ev.plausible(seg_start if m.line_no >= seg_start else 0, m.signature.id, m.line_no) for m in matches]
    return ([m for m, ok in zip(matches, held, strict=True) if ok],
            [m if ok else replace(m, note="no stall at boot around it: not a cause here")
             for m, ok in zip(matches, held, strict=True)])


def _versions(seg: list[Match], marks: list[tuple[int, str]], notes: list[str]) -> tuple[V, V] | None:
    ranges = [m.signature.versions for m in seg if m.signature.versions != ANY]
    ranges += [sigs.FINGERPRINTS[m] for _, m in marks if m in sigs.FINGERPRINTS]
    versions = intersect(ranges) if ranges else None
    if ranges and versions is None:
        notes.append("signatures from different Docker eras: is this one daemon's log?")
    return versions


def _previous_attempt(starts: list[int], seg_start: int, earlier: list[Match], notes: list[str]) -> list[Match]:
    """The causes of the attempt before the last, when the last is still going (or the excerpt ends in it)."""
    prev = max(n for n in starts if n < seg_start) if any(n < seg_start for n in starts) else 0
    causes = [m for m in earlier if m.line_no >= prev and m.diag]
    if causes:
        notes.append(f"the last attempt (line {seg_start}) has not finished; the one before it failed: "
                     f"{lines_by_signature(causes)}")
    return causes


def _held(scanned: list[Scanned], causes: list[Match]) -> list[Match]:
    """The causes that hold: one whose `requires` no line of the excerpt matches is none; a containerd panic
    explains why containerd died and why nobody could dial it (those lines are its consequences)."""
    texts: list[str] | None = None
    for m in [m for m in causes if m.signature.requires is not None]:
        texts = texts if texts is not None else [sc.line.text for sc in scanned]
        pattern = m.signature.requires
        if pattern is not None and not any(pattern.search(t) for t in texts):
            causes.remove(m)  # e.g. a JSON fatal is containerd 0.2's only where containerd is in the picture
    if any(m.signature.role == "panic" and m.diag in (Diagnosis.CONTAINERD_STATE, Diagnosis.CONTAINERD_CRASH)
           for m in causes):
        causes = [m for m in causes if m.signature.id not in CONSEQUENCES]
    if any(m.diag in (Diagnosis.CONTAINERD_STATE, Diagnosis.CONTAINERD_CRASH) for m in causes):
        causes = [m for m in causes if m.signature.id not in UNIT_CONSEQUENCES]
    return causes


def gather(scanned: list[Scanned], layout: str | None = None) -> Evidence:
    """The evidence of already-scanned lines, computed once."""
    marks = [(s.line.no, m) for s in scanned for m in s.marks]
    found = attributed(scanned)
    starts, seg_start, ready = _segment(marks, [m.line_no for m in found if m.signature.id in LOST_CONTAINERD])
    matches, shown = _in_context(scanned, found, seg_start)
    seg = [m for m in matches if m.line_no >= seg_start and m.signature.role != "info"]
    notes = [f"{len(starts)} start attempt(s); the last begins at line {seg_start}"] if starts else []
    earlier = [m for m in matches if m.line_no < seg_start and m.signature.role in CAUSE_ROLES]
    if earlier:
        notes.append("earlier attempts showed " + lines_by_signature(earlier))
    versions = _versions(seg, marks, notes)
    survived = [m for m in seg if m.signature.role in CAUSE_ROLES and ready and m.line_no < ready[0]]
    if survived:
        notes.append(f"not decisive: {lines_by_signature(survived)} came before the start completed (line {ready[0]})")
    causes = [m for m in seg if m.signature.role in CAUSE_ROLES and m.diag and m not in survived]
    if not causes and not ready and earlier and starts:
        causes = _previous_attempt(starts, seg_start, earlier, notes)
    symptoms = [m for m in seg if m.signature.role == "symptom" and m.diag]
    if any("ctrd_booted" in sc.marks for sc in scanned if sc.line.no >= seg_start):
        symptoms = [m for m in symptoms if m.signature.id != "S08-ctrd-terminated"]  # it booted: a normal stop
    return Evidence(
        scanned=scanned, matches=matches, shown=shown, marks=marks, starts=starts, seg_start=seg_start, ready=ready,
        seg=seg, earlier=earlier, survived=survived, causes=_held(scanned, causes), symptoms=symptoms,
        limit=[m for m in matches if m.signature.role == "limit"],
        containers=[m for m in seg if m.signature.role == "container"],
        after_ready=[m for m in seg if ready and m.line_no > ready[0] and m.signature.role != "container"],
        failed=[m for m in seg if m.signature.id in TERMINAL and m not in survived],
        layout=layout or infer_layout(scanned), versions=versions, notes=notes)

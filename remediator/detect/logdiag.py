"""Diagnosis of a daemon log alone: what `remediator diagnose --log` prints, and what the live
verdict reads from the log lines a probe round collected.

Role: parse logrus text, TTY (`FATA[0000] …`), syslog-prefixed and `journalctl -o json` lines
into messages with their line numbers; match the catalogue; find the last start attempt; decide.
Only the last start attempt decides (earlier failed attempts are history, reported in the trace).
Must not: read files or talk to a host.
"""

from __future__ import annotations

import bisect
import functools
import gc
import itertools
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from remediator.detect import attribute, dumps, shims
from remediator.detect import signatures as sigs
from remediator.detect.aliases import EMBEDDED_CONTAINERD
from remediator.detect.signatures import ANY, PRIORITY, Match, V, runbook_for, version_range_text


@dataclass(frozen=True)
class Line:
    no: int
    text: str
    proc: str | None = None  # the program that printed it, from a journald/syslog prefix (dockerd, containerd, kernel…)


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
    layout: str | None = None  # given, or inferred from the log (spawn lines: managed; a containerd unit: external)
    dump: list[str] = field(default_factory=list)  # the goroutine-dump summary, when the text holds one
    failed_start: bool = False  # the last start attempt printed a line that ends it in failure

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
        }


def _journal_message(raw: str) -> str | None:
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # garbage, or nested past the parser's depth: not a journal record
        return None
    if isinstance(obj, dict) and "MESSAGE" not in obj and isinstance(obj.get("msg"), str):
        # dockerd/containerd --log-format=json: {"level":"fatal","msg":"…","time":"…"} -> the logrus text form
        fields = " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) or ' ' in v else v}"
                          for k, v in obj.items() if k not in ("level", "msg", "time") and isinstance(v, str | int | float))
        return f'level={obj.get("level", "info")} msg={json.dumps(obj["msg"])} {fields}'.rstrip()
    if not isinstance(obj, dict) or "MESSAGE" not in obj:
        return None
    msg = obj["MESSAGE"]
    if isinstance(msg, list):  # journald emits non-UTF-8 messages as byte arrays
        return bytes(b for b in msg if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    return str(msg)


MAX_LINE = 16 << 10  # catalogue lines are a few hundred characters; the rest of a giant line is noise
WORD = re.compile(r"[a-z0-9_.-]+")
UNESCAPE = re.compile(r'\\(["\\])')
PREFIX = re.compile(r"(?:^|\s)(?:([A-Za-z][\w.@-]{0,40})\[\d+\]|(kernel)):\s|\]\[([\w.-]{1,40})\]\[[A-Z]\] ")  # + Desktop


def _unescaped(m: re.Match[str]) -> str:
    return m.group(1)


def parse(text: str) -> list[Line]:
    """One Line per non-empty input line; `journalctl -o json` records become their MESSAGE.
    logrus quotes messages (`msg="dial \\"/x\\""`): the escapes are undone so one regex fits all forms."""
    return parse_lines(text.splitlines())


def parse_lines(raws: list[str], first_no: int = 1) -> list[Line]:
    """parse() for lines already split, numbered from first_no (the live monitor numbers across rounds)."""
    out = []
    for i, raw in enumerate(raws, first_no):
        message = raw[:4 * MAX_LINE].rstrip()  # cut first: a hostile 50 MB line costs no more than a long one
        if not message:
            continue
        if message.lstrip().startswith("{"):
            msg = _journal_message(message)
            message = message if msg is None else msg.rstrip()
        if "\\" in message:  # logrus escapes: \" and \\ (a plain replace when there is no \\, the common case)
            message = UNESCAPE.sub(_unescaped, message) if "\\\\" in message else message.replace('\\"', '"')
        message = message[:MAX_LINE]  # a hostile giant line must not stall the regexes
        head = message[:160]
        m = PREFIX.search(head) if ("[" in head or "kernel:" in head) else None
        out.append(Line(i, message, (m.group(1) or m.group(2) or m.group(3)).lower() if m else None))
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


def diagnose_lines(lines: list[Line], layout: str | None = None) -> LogVerdict:
    return decide(scan_lines(lines), layout)


def _attributed(scanned: list[Scanned]) -> list[Match]:
    """Every match, with each panic attributed (which program crashed, which database) from the lines after it."""
    out: list[Match] = []
    last_panic = -10
    for i, sc in enumerate(scanned):
        for m in sc.matches:
            if m.signature.role != "panic":
                out.append(m if m.signature.subject is None else replace(m, note=f"names {m.signature.subject}"))
                continue
            if m.signature.id == "S10-panic-frame" and i - last_panic <= 5:
                continue  # the runtime's own frame of a panic whose line is already attributed
            last_panic = i
            frames = [x.line.text for x in scanned[i + 1:i + 1 + attribute.STACK_LINES]]
            context = [x.line.text for x in scanned[max(0, i - 40):i]]
            crash = attribute.crash(sc.line.proc, frames, context, m.signature.id == "S10-bolt-panic", sc.line.text)
            out.append(replace(m, resolved=crash.diagnosis or None, note=crash.why))
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


CONSEQUENCES = ("S08-ctrd-died", "S09-dial-external", "S09-grpc-transport")
# lines that end a start attempt in failure (dockerd exits, or gives up on its containerd)
TERMINAL = ("fatal-other", "S08-ctrd-start-timeout", "S07-ctrd-connect", "S09-dial-managed", "S09-dial-managed-timeout",
            "S09-dial-external", "S02-fatal-eof", "S03-state-missing", "S04-events-log-nul", "S20-stale-pidfile",
            "S10-volume-db", "S10-network-db", "S10-db-lock", "S10-tag-store", "S10-content-db", "S10-cri-recover",
            "S10-layer-store", "S12-shim-stall")
DESTRUCTIVE = ("containerd-state",)  # never concluded from symptoms alone
ERROR_LINE = re.compile(r"level=(?:error|fatal|panic)\b|\b(?:ERRO|FATA|PANI)\[|failed to start daemon|Error starting daemon|"
                        r"unable to configure the Docker daemon|Run '\S*dockerd? (?:COMMAND )?--help'|unknown (?:shorthand )?flag|"
                        r"^(?:containerd|dockerd): [a-z]|[Ff]ailed to start containerd|executable file not found|"
                        # a wrapper's tool failing in the engine's unit (snap's, rootless', an entrypoint's shell)
                        r"\b(?:mktemp|mkdir|touch|cp|mv|ln|chmod|chown|mount|umount|modprobe): (?:failed|cannot|can't)\b|"
                        # an OS error printed bare by the engine's program (a Rust or C helper of a fork: balena's)
                        r"\]: (?:No such file or directory|Permission denied|Read-only file system|Input/output error)"
                        r" \(os error \d+\)$")
WEAK = ("S21-unit-failed", "S15-no-daemon")  # systemd's or a client's view: says it is down, never why


def _segment(scanned: list[Scanned]) -> tuple[list[int], int, list[int]]:
    marks = [(s.line.no, m) for s in scanned for m in s.marks]
    starts = [n for n, m in marks if m in sigs.START_MARKERS]
    seg_start = starts[-1] if starts else 0
    ready = [n for n, m in marks if m in sigs.READY_MARKERS and n >= seg_start]
    return starts, seg_start, ready


def _completed_segments(scanned: list[Scanned]) -> list[tuple[int, int]]:
    """(start line, ready line) of every start attempt that completed."""
    out, start = [], 0
    for sc in scanned:
        if any(m in sigs.START_MARKERS for m in sc.marks):
            start = sc.line.no
        if start and any(m in sigs.READY_MARKERS for m in sc.marks):
            out.append((start, sc.line.no))
            start = 0
    return out


def decide(scanned: list[Scanned], layout: str | None = None) -> LogVerdict:
    """The verdict of already-scanned lines. Only the last start attempt decides; a cause printed before a
    start that then completed did not stop it; systemd's start limit defers to any cause in the excerpt."""
    matches = _attributed(scanned)
    marks = [(s.line.no, m) for s in scanned for m in s.marks]
    starts, seg_start, ready = _segment(scanned)
    shown = matches
    if any(m.signature.id in shims.IDS for m in matches):  # the dead-shim causes hold only in their context
        ev = shims.Evidence([(s.line.no, s.line.text, s.marks) for s in scanned])
        held = [ev.plausible(seg_start if m.line_no >= seg_start else 0, m.signature.id, m.line_no) for m in matches]
        matches = [m for m, ok in zip(matches, held, strict=True) if ok]
        shown = [m if ok else replace(m, note="no stall at boot around it: not a cause here")
                 for m, ok in zip(shown, held, strict=True)]
    seg = [m for m in matches if m.line_no >= seg_start and m.signature.role != "info"]
    trace = []
    if starts:
        trace.append(f"{len(starts)} start attempt(s); the last begins at line {seg_start}")
    earlier = [m for m in matches if m.line_no < seg_start and m.signature.role in ("cause", "panic")]
    if earlier:
        trace.append("earlier attempts showed " + lines_by_signature(earlier))
    ranges = [m.signature.versions for m in seg if m.signature.versions != ANY]
    ranges += [sigs.FINGERPRINTS[m] for _, m in marks if m in sigs.FINGERPRINTS]
    versions = intersect(ranges) if ranges else None
    if ranges and versions is None:
        trace.append("signatures from different Docker eras: is this one daemon's log?")
    layout = layout or infer_layout(scanned)
    survived = [m for m in seg if m.signature.role in ("cause", "panic") and ready and m.line_no < ready[0]]
    if survived:
        trace.append(f"not decisive: {lines_by_signature(survived)} came before the start completed (line {ready[0]})")
    causes = [m for m in seg if m.signature.role in ("cause", "panic") and m.diag and m not in survived]
    if not causes and not ready and earlier and starts:
        # the last attempt is still going (or the excerpt ends in it): the attempt before says why they fail
        prev = max(n for n in starts if n < seg_start) if any(n < seg_start for n in starts) else 0
        causes = [m for m in earlier if m.line_no >= prev and m.diag]
        if causes:
            trace.append(f"the last attempt (line {seg_start}) has not finished; the one before it failed: "
                         f"{lines_by_signature(causes)}")
    symptoms = [m for m in seg if m.signature.role == "symptom" and m.diag]
    limit = [m for m in matches if m.signature.role == "limit"]
    containers = [m for m in seg if m.signature.role == "container"]
    after_ready = [m for m in seg if ready and m.line_no > ready[0] and m.signature.role != "container"]

    @functools.cache
    def unexplained() -> list[Line]:  # error lines no signature explains: a scan of the segment, only when needed
        return [s.line for s in scanned if s.line.no >= seg_start and s.line.proc != "systemd" and not any(
            m.signature.role in ("cause", "panic", "container", "limit", "info") or m.diag for m in s.matches)
            and ERROR_LINE.search(s.line.text)]
    restarts = sum(1 for _, m in marks if m in ("unit_started", "unit_restart"))
    spawns = sum(1 for _, m in marks if m.startswith("spawn_"))
    texts: list[str] | None = None
    for m in [m for m in causes if m.signature.requires is not None]:
        texts = texts if texts is not None else [sc.line.text for sc in scanned]
        pattern = m.signature.requires
        if pattern is not None and not any(pattern.search(t) for t in texts):
            causes.remove(m)  # e.g. a JSON fatal is containerd 0.2's only where containerd is in the picture
    if any("ctrd_booted" in sc.marks for sc in scanned if sc.line.no >= seg_start):
        symptoms = [m for m in symptoms if m.signature.id != "S08-ctrd-terminated"]  # it booted: a normal stop
    failed = [m for m in seg if m.signature.id in TERMINAL and m not in survived]
    if any(m.signature.role == "panic" and m.diag in ("containerd-state", "containerd-crash") for m in causes):
        # containerd panicked: that is why it died and why nobody could dial it
        causes = [m for m in causes if m.signature.id not in CONSEQUENCES]
    decisive: list[Match] = []
    if causes:
        verdict = pick([m.diag for m in causes if m.diag])
        decisive = [m for m in causes if m.diag == verdict]
        again = {m.signature.id for m in earlier} & {m.signature.id for m in decisive}  # every attempt fails alike
        confidence = "high" if len(decisive) > 1 or symptoms or again else "medium"
        others = sorted({m.diag for m in causes if m.diag} - {verdict})
        trace.append(f"cause: {', '.join(sorted({m.signature.id for m in decisive}))} at line(s) "
                     f"{', '.join(str(m.line_no) for m in decisive[:5])} → {verdict}")
        trace += sorted({m.note for m in decisive if m.note})[:3]
        if others:
            trace.append(f"also seen: {', '.join(others)}; {verdict} takes precedence "
                         f"(the cause whose fix is least destructive and fits, first)")
        if verdict == "containerd-pidfile" and not failed:
            confidence = "low"  # a live probe never acts on it alone: dockerd re-uses a containerd that survived
            trace.append("containerd is still running and this start has not failed (yet): dockerd re-uses a live "
                         "containerd, so the pidfile is stale only if the start then times out")
        if limit:
            trace.append(f"systemd's start limit was hit (line {limit[0].line_no}): `systemctl reset-failed` comes "
                         "before the runbook's start")
    elif limit:
        done = _completed_segments(scanned)  # causes from an attempt that then completed did not stop it
        earlier_causes = [m for m in matches if m.signature.role in ("cause", "panic") and m.diag
                          and not any(a <= m.line_no < b for a, b in done)]
        if earlier_causes:
            verdict = pick([m.diag for m in earlier_causes if m.diag])
            decisive, confidence = [m for m in earlier_causes if m.diag == verdict], "medium"
            trace.append(f"systemd's start limit was hit (line {limit[0].line_no}); the cause is earlier: "
                         f"{lines_by_signature(decisive)} → {verdict}; `systemctl reset-failed` first")
        elif any(ERROR_LINE.search(s.line.text) and not s.line.proc == "systemd" and "Active: failed" not in s.line.text
                 for s in scanned if not any(m.signature.role == "limit" or m.signature.id == "S21-unit-failed"
                                             for m in s.matches)):
            verdict, decisive, confidence = "unknown", limit, "medium"
            trace.append(f"systemd's start limit was hit (line {limit[0].line_no}) after an error no signature "
                         "explains: the cause is in this log, but not one remediator knows")
        else:
            verdict, decisive, confidence = "start-limit", limit, "medium"
            trace.append(f"systemd's start limit was hit (line {limit[0].line_no}) and no line of this excerpt names "
                         "the cause: never a blind restart; read the unit's earlier log")
    elif not ready and all(m.signature.id in WEAK for m in symptoms) and unexplained():
        verdict, confidence = "unknown", "low"
        trace.append(f"error line(s) no known signature explains: {', '.join(str(ln.no) for ln in unexplained()[:5])}"
                     " — the cause is printed, but it is not one remediator knows")
    elif (restarts >= 3 or spawns >= 2 or any(m == "unit_restart" for _, m in marks)) and not ready:
        verdict, decisive, confidence = "crash-loop", [], "medium"
        trace.append(f"{restarts or spawns} start(s) or containerd respawn(s) and never a completed start, no cause "
                     "printed: a crash loop")
    elif ready and not after_ready:
        if containers:
            verdict, decisive, confidence = "container-fault", containers, "medium"
            trace.append(f"the daemon runs (start completed at line {ready[0]}); container-level faults at line(s) "
                         f"{', '.join(str(m.line_no) for m in containers[:5])}: no daemon action")
        else:
            verdict, confidence = "healthy", "high" if starts else "medium"
            trace.append(f"the last start completed (line {ready[0]}) and nothing failed after it")
    elif symptoms:
        verdict = pick([m.diag for m in symptoms if m.diag])
        decisive = [m for m in symptoms if m.diag == verdict]
        confidence = "low"
        trace.append(f"only symptoms ({', '.join(sorted({m.signature.id for m in symptoms}))}): "
                     f"{verdict} is a guess, no cause line")
        if verdict in DESTRUCTIVE:
            trace.append(f"{verdict} selects a destructive runbook and no line says the state is corrupt: "
                         "never concluded from symptoms alone")
            verdict = "unknown"
    elif containers:
        verdict, decisive, confidence = "container-fault", containers, "medium"
        trace.append(f"only container-level faults (line(s) {', '.join(str(m.line_no) for m in containers[:5])}) "
                     "and nothing wrong with the daemon: no daemon action")
    elif unexplained():
        verdict, confidence = "unknown", "low"
        trace.append(f"error line(s) no known signature explains: {', '.join(str(ln.no) for ln in unexplained()[:5])}")
    elif scanned:
        verdict, confidence = "no-fault", "medium"
        trace.append("no error in this excerpt" + (f"; it ends before the start at line {seg_start} completed"
                                                   if starts else ""))
    else:
        verdict, confidence = "no-fault", "low"
        trace.append("the log is empty")
    misses = near_misses(scanned) if verdict == "unknown" else []
    return LogVerdict(verdict, confidence, shown, decisive, versions, runbook_for(verdict, layout), trace, misses,
                      started_ok=bool(ready) if starts else None, layout=layout, failed_start=bool(failed))


LONG_WAIT = re.compile(r"goroutine \d+ (?:[gm]p?=\S+ )*\[[^\]\n]{1,80}, \d+ minutes")
CONTAINERD_TEXT = re.compile(r"\b(?:docker-)?containerd\[\d+\]|github\.com/docker/containerd/|github\.com/containerd/containerd/")
DOCKERD_TEXT = re.compile(r"\bdockerd\[\d+\]|github\.com/docker/docker/|github\.com/moby/moby/")
LOCK_FRAMES = ("sync.(*Mutex).Lock", "sync.(*RWMutex).Lock", "sync.(*RWMutex).RLock", "sync.runtime_SemacquireMutex")
GRPC_WAIT = ("(*Stream).waitOnHeader", "(*clientStream).RecvMsg", "(*ClientConn).Invoke")
FRAGMENT = 5  # goroutines: a pasted excerpt of a dump, not a whole one (a whole one is judged by its requests)
CONTAINERD_FRAMES = ("github.com/docker/containerd/", "github.com/containerd/containerd/")


def _fragment(summary: dumps.DumpSummary, why: list[str], owner: str | None) -> tuple[str | None, list[str]]:
    """A few pasted stacks: a daemon goroutine held minutes on a lock, a containerd reply, or a syscall."""
    for g in summary.groups:
        own = [f for f in g.frames if f.startswith(("github.com/docker/", "github.com/moby/", "github.com/containerd/"))]
        if not (own or owner) or g.max_minutes < 1 or g.streaming:
            continue
        held = (g.blocked or any(f.endswith(LOCK_FRAMES) for f in g.frames)
                or (g.max_minutes >= 10 and (any(w in f for f in g.frames for w in GRPC_WAIT) or g.state.startswith("syscall"))))
        if not held:
            continue
        who = "containerd" if any(f.startswith(CONTAINERD_FRAMES) for f in own) else "dockerd" if own else owner
        return f"{who}-wedged", [f"{g.count} {who} goroutine(s) held {g.max_minutes} minutes in [{g.state}] "
                                 f"on {g.waits_on}: {dumps.short((own or list(g.frames))[0])}"]
    return None, why


OVERRIDABLE = ("no-fault", "unknown", "healthy", "dockerd-down", "container-fault")


def diagnose_text(text: str, layout: str | None = None) -> LogVerdict:
    """A pasted log, journal excerpt, or goroutine dump (goroutine-stacks-*.log) — all the same entry."""
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small, acyclic objects: the cycle collector only costs time here
    try:
        v = diagnose_lines(parse(text), layout)
    finally:
        if enabled:
            gc.enable()
    if v.verdict in OVERRIDABLE and (dumps.looks_like_dump(text) or LONG_WAIT.search(text)):
        summary = dumps.summarize(dumps.parse(text.splitlines()))
        wedged, why = dumps.verdict(summary)
        if wedged is None and summary.panic is None and summary.goroutines <= FRAGMENT:
            owner = "dockerd" if DOCKERD_TEXT.search(text) else "containerd" if CONTAINERD_TEXT.search(text) else None
            wedged, why = _fragment(summary, why, owner)
        v.dump = dumps.render(summary)
        if wedged is not None:
            v.trace.append(f"goroutine dump: {summary.goroutines} goroutines, {summary.requests_waiting} API request(s) "
                           f"parked for minutes → {wedged}")
            v.trace += why
            v.verdict, v.confidence, v.runbook = wedged, "medium", runbook_for(wedged, v.layout)
        else:
            v.trace += [f"goroutine dump: {line}" for line in why]
    return v

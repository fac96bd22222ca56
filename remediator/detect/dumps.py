"""Goroutine dumps: which goroutines of a Docker daemon wait, on what, and for how long.

Role: a Go goroutine dump (runtime/traceback.go format, read by detect/dumpparse: dockerd's
`goroutine-stacks-<ts>.log` or one pasted into its log, containerd's `containerd.<pid>.stacks.log`, a Go panic
or fatal error trace). Group identical stacks, name what each group waits on, and decide whether API requests
are parked for minutes (dockerd-wedged) or the process panicked (and in which database). `judge` is the log
diagnosis's last rule, `goroutine_dump`: a dump may turn a verdict that names no fault into a wedge.
Must not: read files or talk to a host; raise on garbage. Work is linear in the input and what is kept
is capped (goroutines, frames per goroutine, characters per line and per function name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from remediator.detect.dumpparse import MAX_FRAMES as MAX_FRAMES
from remediator.detect.dumpparse import MAX_GOROUTINES as MAX_GOROUTINES
from remediator.detect.dumpparse import MAX_LINE as MAX_LINE
from remediator.detect.dumpparse import Goroutine as Goroutine
from remediator.detect.dumpparse import package, plumbing
from remediator.detect.dumpparse import parse as parse
from remediator.detect.dumpparse import short as short
from remediator.vocab import Diagnosis

_HEADER_ANY = re.compile(r"goroutine \d+ (?:[gm]p?=\S+ )*\[[^\]\n]{1,200}\]:")
_PANIC_ANY = re.compile(r"(?:^|\n|\\n|\]: )[\t ]*(?:panic: |fatal error: )")


@dataclass(frozen=True)
class Group:
    """Goroutines with one stack (state, frames and creator alike)."""

    state: str
    frames: tuple[str, ...]
    created_by: str | None
    minutes: tuple[int, ...]  # one per goroutine, longest first
    first_id: int
    waits_on: str  # `container lock`, `containerd reply`, `fifo`, … or the top frame outside the standard library
    blocked: bool  # waits_on is a known blocking resource, not a channel, timer or socket that may rightly idle
    request: bool  # an API request handler is on the stack
    streaming: bool  # an endpoint that rightly stays open for hours (events, logs -f, attach, wait, build …)

    @property
    def count(self) -> int:
        return len(self.minutes)

    @property
    def max_minutes(self) -> int:
        return self.minutes[0]

    @property
    def min_minutes(self) -> int:
        return self.minutes[-1]

    def parked(self, min_minutes: int = 1) -> int:
        """How many of these are API requests stuck at least min_minutes (a stream idling is not stuck)."""
        if not self.request or (self.streaming and not self.blocked):
            return 0
        return sum(1 for m in self.minutes if m >= min_minutes)


@dataclass(frozen=True)
class DumpSummary:
    goroutines: int
    groups: tuple[Group, ...]  # longest wait first, then the biggest
    requests: int  # API request goroutines in flight
    requests_waiting: int  # of those, parked at least threshold_minutes
    threshold_minutes: int
    panic: str | None = None
    panic_frames: tuple[str, ...] = ()



# --- what a stack waits on -----------------------------------------------------------------------

_CONTAINER_PKGS = ("github.com/docker/docker/container", "github.com/moby/moby/v2/daemon/container")
_DAEMON_PKGS = ("github.com/docker/docker/daemon", "github.com/moby/moby/v2/daemon")
_CONTAINER_LOCKERS = ("ontainer", "Inspect", "killWithSignal", "ProcessEvent", "killPossiblyDeadProcess")
_LOCK_FRAMES = ("(*Mutex).Lock", "(*Mutex).lockSlow", "(*RWMutex).Lock", "(*RWMutex).RLock",
                "runtime_SemacquireMutex", "runtime_SemacquireRWMutex")
_GRPC_WAIT = ("grpc.invoke", "grpc.Invoke", ").Invoke", ").RecvMsg", ").recvMsg", "waitOnHeader", "waitForResponse")
_CONTAINERD_CLIENT = ("libcontainerd", "github.com/containerd/containerd", "github.com/docker/containerd")
_CONTAINERD_EVENTS = ("processEventStream", "eventsSubscribeClient", "Subscribe", "startEventsMonitor")
_IDLE = ("select", "chan receive", "chan send", "IO wait", "sleep", "sync.Cond.Wait", "sync.WaitGroup.Wait")
_BOLT = ("go.etcd.io/bbolt.", "github.com/boltdb/bolt.", "github.com/etcd-io/bbolt.")
_API = ("/api/server/router/", "/api/server/httputils.", "/api/server/middleware.", "akeHTTPHandler", "akeHttpHandler",
        "net/http.HandlerFunc.ServeHTTP", "net/http.serverHandler.ServeHTTP")
_STREAMING = {"getEvents", "getContainersLogs", "getServicesLogs", "getTaskLogs", "postContainersAttach",
              "wsContainersAttach", "postContainerExecStart", "postContainersWait", "getContainersStats", "postBuild",
              "postImagesCreate", "postImagesPush", "getImagesGet", "postImagesLoad", "getContainersExport",
              "postSession", "postPluginsPull", "postPluginsPush", "postPluginsUpgrade"}


def _has(frames: tuple[str, ...], *subs: str) -> bool:
    return any(s in f for f in frames for s in subs)


_COMPONENTS = (  # what a lock or a wait belongs to, by the packages on the stack
    ("bolt lock/db", _BOLT),
    ("netlink", ("vishvananda/netlink",)),
    ("network controller", ("libnetwork",)),
    ("exec", ("/daemon/exec.", ".(*Daemon).ContainerExec")),
)


def _lock_owner(caller: str) -> str:
    pkg, name = package(caller), short(caller)
    if pkg in _CONTAINER_PKGS or (pkg in _DAEMON_PKGS and any(w in name for w in _CONTAINER_LOCKERS)):
        return "container lock"
    return next((label for label, marks in _COMPONENTS if _has((caller,), *marks)), f"lock in {name}")


def _remote(frames: tuple[str, ...]) -> str | None:
    """A call to another process that has not answered: containerd, a shim, a plugin, or a fifo's other end."""
    if _has(frames, *_GRPC_WAIT) and _has(frames, *_CONTAINERD_CLIENT) and not _has(frames, *_CONTAINERD_EVENTS):
        return "containerd reply"
    if _has(frames, "ttrpc.(*Client).Call", "ttrpc.(*Client).dispatch"):
        return "shim reply"
    if _has(frames, "fifo.OpenFifo", "fifo.openFifo") or (_has(frames, "Fifo") and _has(frames, "os.OpenFile", "syscall.Open")):
        return "fifo"
    if _has(frames, "/pkg/plugins.(*Client)", "/volume/drivers."):
        if _has(frames, "/volume/"):
            return "volume plugin"
        return "network plugin" if _has(frames, "libnetwork") else "authz plugin" if _has(frames, "authorization") else "plugin"
    return None


def _waits_on(state: str, frames: tuple[str, ...]) -> tuple[str, bool]:
    """A short name of what the stack waits on, and whether that is a known blocking resource (a lock or an
    unanswered call always is; a component's goroutine in select, chan receive, IO wait or sleep is idling)."""
    top = next((i for i, f in enumerate(frames) if not plumbing(f)), None)
    if top is not None and _has(frames[:top], *_LOCK_FRAMES):
        return _lock_owner(frames[top]), True
    if remote := _remote(frames):
        return remote, True
    if component := next((label for label, marks in _COMPONENTS if _has(frames, *marks)), None):
        return component, component == "bolt lock/db" or not state.startswith(_IDLE)
    if _has(frames, *_GRPC_WAIT) and _has(frames, *_CONTAINERD_CLIENT):
        return "containerd events", False  # the event subscription: waiting is its job
    if top is not None:
        return short(frames[top]), False
    return (short(frames[0]), False) if frames else ("?", False)


def _method(frame: str) -> str:
    return frame.removesuffix("-fm").rstrip(")").rsplit(".", 1)[-1]


def summarize(goroutines: Iterable[Goroutine], threshold_minutes: int = 1) -> DumpSummary:
    """Identical stacks grouped, what each waits on, API requests in flight and parked, and the panic if any."""
    stacks: dict[tuple[str, tuple[str, ...], str | None], list[Goroutine]] = {}
    panicked: Goroutine | None = None
    for g in goroutines:
        stacks.setdefault((g.state, g.frames, g.created_by), []).append(g)
        if panicked is None and g.panic is not None:
            panicked = g
    groups = []
    for (state, frames, created_by), members in stacks.items():
        waits_on, blocked = _waits_on(state, frames)
        groups.append(Group(state, frames, created_by, tuple(sorted((g.minutes for g in members), reverse=True)),
                            members[0].id, waits_on, blocked, request=_has(frames, *_API),
                            streaming=any(_method(f) in _STREAMING for f in frames)))
    groups.sort(key=lambda g: (-g.max_minutes, -g.count, g.frames))
    return DumpSummary(
        goroutines=sum(g.count for g in groups), groups=tuple(groups),
        requests=sum(g.count for g in groups if g.request),
        requests_waiting=sum(g.parked(threshold_minutes) for g in groups), threshold_minutes=threshold_minutes,
        panic=panicked.panic if panicked else None, panic_frames=panicked.frames if panicked else ())


def looks_like_dump(text_or_lines: str | Iterable[str]) -> bool:
    """Cheap: at least two goroutine headers, or one after a `panic:` / `fatal error:` line."""
    chunks = [text_or_lines] if isinstance(text_or_lines, str) else text_or_lines
    headers, panicked = 0, False
    for chunk in chunks:
        headers += sum(1 for _ in islice(_HEADER_ANY.finditer(chunk), 2))
        if headers >= 2:
            return True
        panicked = panicked or bool(_PANIC_ANY.search(chunk))
        if panicked and headers:
            return True
    return False


# --- verdicts and text ---------------------------------------------------------------------------

_DAEMONS = (("github.com/docker/", "github.com/moby/moby/", "main."), ("github.com/containerd/containerd",))


def _own(frames: tuple[str, ...]) -> list[str]:
    """The frames of the daemon's own code (dockerd's, else containerd's), else all outside the standard library."""
    for prefixes in _DAEMONS:
        if own := [f for f in frames if f.startswith(prefixes)]:
            return own
    return [f for f in frames if not plumbing(f)]


def _chain(frames: tuple[str, ...], n: int = 3) -> str:
    return " ← ".join(short(f) for f in (_own(frames) or list(frames))[:n]) or "?"


def _where(frames: tuple[str, ...]) -> str:
    """Where a panic happened: its innermost frame outside the standard library, then the daemon's own callers."""
    inner = next((f for f in frames if not plumbing(f)), None)
    own = _own(frames)
    if inner is None or inner in own[:1]:
        return _chain(frames, 4)
    return f"{short(inner)} ← … ← {_chain(frames, 3)}"


def _span(lo: int, hi: int) -> str:
    return f"{hi}" if lo == hi else f"{lo}–{hi}"


def _line(g: Group) -> str:
    return f"{g.count} × [{g.state}, {_span(g.min_minutes, g.max_minutes)} minutes] on {g.waits_on}: {_chain(g.frames)}"


def verdict(summary: DumpSummary, min_minutes: int = 1, min_requests: int = 1) -> tuple[Diagnosis | None, list[str]]:
    """(Diagnosis.DOCKERD_WEDGED, why) when API requests are parked for minutes, else (None, reasons).
    A panic is never a wedge: it is reported as one (see panic_owner)."""
    if summary.panic is not None:
        return None, [f"panic, not a wedge: {summary.panic}", f"at {_where(summary.panic_frames)}"]
    if not summary.goroutines:
        return None, ["no goroutine in the input"]
    parked = [(g, [m for m in g.minutes if m >= min_minutes]) for g in summary.groups if g.parked(min_minutes)]
    total = sum(len(ms) for _, ms in parked)
    blocked = [g for g in summary.groups if g.blocked and not g.request and g.max_minutes >= min_minutes]
    if total < max(min_requests, 1):
        return None, [f"{summary.requests} API request(s) in flight, {total} parked ≥ {min_minutes} minute(s) "
                      f"(a wedge needs {max(min_requests, 1)}) among {summary.goroutines} goroutines"] + \
                     [f"longest blocked, not a request: {_line(g)}" for g in blocked[:1]]
    # what holds them is blocked at least as long as the longest of them, and likely not much longer
    longest = max(ms[0] for _, ms in parked)
    holder = min((g for g in blocked if g.max_minutes >= longest), key=lambda g: g.max_minutes, default=None)
    why = [f"{len(ms)} request goroutine{'s' if len(ms) > 1 else ''} parked {_span(ms[-1], ms[0])} minutes on "
           f"{g.waits_on}: {_chain(g.frames)}" for g, ms in parked[:5]]
    if len(parked) > 5:
        why.append(f"… and {sum(len(ms) for _, ms in parked[5:])} more in {len(parked) - 5} other stacks")
    return Diagnosis.DOCKERD_WEDGED, why + ([f"also blocked, not a request: {_line(holder)}"] if holder else [])


_BUILDKIT = ("moby/buildkit", "builder-next")
_OWNERS = (  # bolt's caller names the database
    ("dockerd-local-kv.db", ("libnetwork", "docker/libkv", "/libkv/")),
    ("dockerd-volumes-metadata.db", ("docker/docker/volume", "moby/moby/v2/daemon/volume")),
    ("dockerd-buildkit", _BUILDKIT),
    ("containerd-meta.db", ("containerd/containerd/metadata", "containerd/containerd/v2/core/metadata",
                            "containerd/containerd/plugins/metadata", "containerd/containerd/v2/plugins/metadata",
                            "containerd/containerd/services/server")),
)


def panic_owner(summary: DumpSummary) -> str | None:
    """The database (or component) a panic's frames name, or None when they name none."""
    frames = summary.panic_frames
    if summary.panic is None:
        return None
    if _has(frames, *_BOLT):  # only bolt's nearest caller counts: a snapshotter's metadata.db is called from containerd's metadata
        first = next((i for i, f in enumerate(frames) if _has((f,), *_BOLT)), 0)
        caller = next((f for f in frames[first:] if not _has((f,), *_BOLT) and not plumbing(f)), "")
        return next((owner for owner, marks in _OWNERS if _has((caller,), *marks)), None)
    return "dockerd-buildkit" if _has(frames, *_BUILDKIT) else None


def _top(frames: tuple[str, ...]) -> list[str]:
    """Up to 6 frames to show: the two it blocks in, then the daemon's own code ("…" where frames are left out)."""
    own = set(_own(frames))
    picked = [i for i in range(min(2, len(frames)))] + [i for i in range(2, len(frames)) if frames[i] in own][:4]
    out: list[str] = []
    for prev, i in zip([-1, *picked], picked, strict=False):
        if i > prev + 1:
            out.append("        …")
        out.append(f"      {frames[i]}")
    return out


def render(summary: DumpSummary, limit: int = 10) -> list[str]:
    """Plain text for an evidence bundle's dump-summary: parked requests first, then other requests,
    then other blocked stacks, then the rest (each longest wait first)."""
    out = [f"{summary.goroutines} goroutines in {len(summary.groups)} distinct stacks; {summary.requests} API requests "
           f"in flight, {summary.requests_waiting} parked ≥ {summary.threshold_minutes} minute(s)"]
    if summary.panic is not None:
        out += [f"panic: {summary.panic}", *_top(summary.panic_frames)]

    def order(g: Group) -> int:
        return 0 if g.parked(summary.threshold_minutes) else 1 if g.request else 2 if g.blocked else 3

    shown = sorted(summary.groups, key=order)[:limit]
    for g in shown:
        minutes = f", {_span(g.min_minutes, g.max_minutes)} minutes" if g.max_minutes else ""
        tag = " (API request)" if g.request else ""
        out.append(f"  {g.count} × [{g.state}{minutes}] waits on {g.waits_on}{tag}  (e.g. goroutine {g.first_id})")
        out += _top(g.frames)
        if g.created_by:
            out.append(f"      created by {g.created_by}")
    if len(summary.groups) > len(shown):
        out.append(f"  … {len(summary.groups) - len(shown)} more stacks")
    return out


# --- the log diagnosis's dump rule ---------------------------------------------------------------

RULE = "goroutine_dump"
OVERRIDABLE = (Diagnosis.NO_FAULT, Diagnosis.UNKNOWN, Diagnosis.HEALTHY, Diagnosis.DOCKERD_DOWN,
               Diagnosis.CONTAINER_FAULT)  # verdicts that name no fault a dump could explain better
LONG_WAIT = re.compile(r"goroutine \d+ (?:[gm]p?=\S+ )*\[[^\]\n]{1,80}, \d+ minutes")
CONTAINERD_TEXT = re.compile(r"\b(?:docker-)?containerd\[\d+\]|github\.com/docker/containerd/|github\.com/containerd/containerd/")
DOCKERD_TEXT = re.compile(r"\bdockerd\[\d+\]|github\.com/docker/docker/|github\.com/moby/moby/")
FRAGMENT = 5  # goroutines: a pasted excerpt of a dump, not a whole one (a whole one is judged by its requests)
_OWN_PREFIXES = ("github.com/docker/", "github.com/moby/", "github.com/containerd/")
_CONTAINERD_FRAMES = ("github.com/docker/containerd/", "github.com/containerd/containerd/")


@dataclass(frozen=True)
class Judgement:
    verdict: Diagnosis | None  # dockerd-wedged, containerd-wedged, or None: the dump explains nothing
    trace: list[str]
    summary: list[str]  # render(): the dump-summary
    lines: tuple[int, ...]  # the input lines of the goroutine headers the verdict rests on


def _held(g: Group) -> bool:
    """A goroutine held on a lock, or ten minutes or more on a containerd reply, in a syscall, or on a semaphore
    (Go prints [semacquire] for sync.WaitGroup.Wait and a contended Mutex: runtime/sema.go waitReasonSemacquire)."""
    return (g.blocked or any(f.endswith(_LOCK_FRAMES) for f in g.frames)
            or (g.max_minutes >= 10 and (_has(g.frames, *_GRPC_WAIT) or g.state.startswith(("syscall", "semacquire")))))


_IDLE_PREFIXES = ("runtime.", "os/signal.")  # Go's own machinery: every Go daemon has it parked for hours


def _idle(g: Group) -> bool:
    """A goroutine whose frames are all Go's runtime or signal loop (goroutine 17 `[syscall, N minutes, locked to
    thread] runtime.goexit`, `os/signal.signal_recv`): parked there in every healthy Go daemon, never a wedge."""
    return bool(g.frames) and all(f.startswith(_IDLE_PREFIXES) for f in g.frames)


def _fragment(summary: DumpSummary, owner: str | None) -> tuple[Diagnosis, str, Group] | None:
    """A few pasted stacks: a daemon goroutine held minutes on a lock, a containerd reply, or a syscall."""
    for g in summary.groups:
        own = [f for f in g.frames if f.startswith(_OWN_PREFIXES)]
        if not (own or owner) or g.max_minutes < 1 or g.streaming or not _held(g) or _idle(g):
            continue
        who = "containerd" if any(f.startswith(_CONTAINERD_FRAMES) for f in own) else "dockerd" if own else owner
        wedged = Diagnosis.CONTAINERD_WEDGED if who == "containerd" else Diagnosis.DOCKERD_WEDGED
        return wedged, (f"{g.count} {who} goroutine(s) held {g.max_minutes} minutes in [{g.state}] "
                        f"on {g.waits_on}: {short((own or list(g.frames))[0])}"), g
    return None


def _header_lines(raws: list[str], groups: list[Group]) -> tuple[int, ...]:
    """The input lines (numbered from 1) that hold these groups' first goroutine headers."""
    wanted = {f"goroutine {g.first_id} " for g in groups}
    return tuple(i for i, raw in enumerate(raws, 1) if "goroutine " in raw and any(w in raw for w in wanted))[:50]


def judge(text: str) -> Judgement | None:
    """A goroutine dump in the text overrides a verdict that names no fault: API requests parked for minutes, or a
    pasted fragment of a few stacks held minutes on a lock, a containerd reply or a syscall, is a wedge.

    None when the text holds no dump; a Judgement without a verdict when the dump explains nothing."""
    if not (looks_like_dump(text) or LONG_WAIT.search(text)):
        return None
    raws = text.splitlines()
    summary = summarize(parse(raws))
    wedged, why = verdict(summary)
    used = [g for g in summary.groups if g.parked(1)][:5]
    if wedged is None and summary.panic is None and summary.goroutines <= FRAGMENT:
        owner = "dockerd" if DOCKERD_TEXT.search(text) else "containerd" if CONTAINERD_TEXT.search(text) else None
        if (found := _fragment(summary, owner)) is not None:
            wedged, why, used = found[0], [found[1]], [found[2]]
    if wedged is None:
        return Judgement(None, [f"goroutine dump: {line}" for line in why], render(summary), ())
    head = (f"goroutine dump: {summary.goroutines} goroutines, {summary.requests_waiting} API request(s) "
            f"parked for minutes → {wedged}")
    return Judgement(wedged, [head, *why], render(summary), _header_lines(raws, used))

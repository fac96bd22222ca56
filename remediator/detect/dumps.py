"""Goroutine dumps: which goroutines of a Docker daemon wait, on what, and for how long.

Role: read a Go goroutine dump (runtime/traceback.go format) as dockerd writes it on SIGUSR1
(`goroutine-stacks-<ts>.log`, or its log between `=== BEGIN goroutine stack dump ===` and
`=== END goroutine stack dump ===`: plain, journald/syslog-prefixed, `journalctl -o json`, or one logrus
`msg="..."` with `\\n` escapes that journald may have cut into pieces), containerd's
`containerd.<pid>.stacks.log`, or a Go panic / fatal error trace. Group identical stacks, name what each
group waits on, and decide whether API requests are parked for minutes (dockerd-wedged) or the process
panicked (and in which database).
Must not: read files or talk to a host; raise on garbage. Work is linear in the input and what is kept
is capped (goroutines, frames per goroutine, characters per line and per function name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

MAX_GOROUTINES = 100_000
MAX_FRAMES = 64
MAX_LINE = 4096  # a header or frame line is far shorter; the rest of a giant line is noise
MAX_NAME = 512

_PREFIX = re.compile(  # `Jun  2 19:33:36 host dockerd[1234]: `, `2021-03-01T12:55:03+0800 host dockerd[4230]: `
    r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[\d.,]*(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?:(?:\S+ )?[\w.@/-]+\[\d+\]|\S+ [\w.@/-]+): ?")
_MSG = re.compile(r'(?:^|\s)msg="')
_ESC = "\\n"  # a newline escaped inside a logrus message
_DUMPISH = re.compile(r"\\n\s*(?:goroutine \d|created by |\\t)|\.go:\d+ \+0x")
_UNQUOTED = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*')
_HEADER = re.compile(r"goroutine (\d+)(?: [gm]p?=\S+)* \[([^\]]*)\]:?")
_HEADER_ANY = re.compile(r"goroutine \d+ (?:[gm]p?=\S+ )*\[[^\]\n]{1,200}\]:")
_PANIC = re.compile(r"(?:panic: |fatal error: |http: panic serving \S*: )(.*)")
_PANIC_ANY = re.compile(r"(?:^|\n|\\n|\]: )[\t ]*(?:panic: |fatal error: )")
_MINUTES = re.compile(r"(\d+) minutes?")
_OFFSET = re.compile(r"\+0x[0-9a-f]+")
_NAME = re.compile(r"[^\s\"'=]+")


@dataclass(frozen=True)
class Goroutine:
    id: int
    state: str  # `semacquire`, `chan receive`, `sync.Mutex.Lock`, `running` (no minutes, no `locked to thread`)
    minutes: int  # how long it has been blocked; Go prints it from 1 minute on, else 0
    frames: tuple[str, ...]  # function names, innermost first, vendor and GOPATH prefixes and arguments stripped
    created_by: str | None = None
    panic: str | None = None  # the `panic:` / `fatal error:` message printed just before this goroutine


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


# --- lines ---------------------------------------------------------------------------------------

def _clean(raw: str) -> str:
    """One raw log line without its journald/syslog prefix (and out of its `journalctl -o json` record)."""
    text = raw.rstrip("\r\n")
    first = text[:1]
    if first in "\t " or first.islower():  # the hot path: a frame or file line as Go wrote it
        return text
    if first == "{" and '"MESSAGE"' in text:
        try:
            msg = json.loads(text).get("MESSAGE")
        except (ValueError, AttributeError, RecursionError):
            msg = None
        if isinstance(msg, str):
            text = msg
        elif isinstance(msg, list):  # journald's form of a non-UTF-8 message
            text = bytes(b for b in msg if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    if text[:1].isupper() or text[:1].isdigit():  # where a syslog or ISO timestamp can begin
        if m := _PREFIX.match(text[:200]):
            text = text[m.end():]
    if text[:1] in ("\0", "^", "#"):
        text = text.lstrip("\0").removeprefix("^@")
        if text.startswith("#011"):  # rsyslog writes a tab as #011
            text = "\t" + text[4:]
    return text


def _unescape(s: str) -> str:
    return s.replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")


def _logical(raws: Iterable[str]) -> Iterator[str]:
    """The dump's own lines: prefixes stripped, logrus messages unescaped and their journald pieces rejoined."""
    pending: str | None = None  # the unfinished last line of an escaped message still open
    for raw in raws:
        text = _clean(raw)
        if pending is None and _ESC not in text:  # the common case: a plain line
            yield text
            continue
        msg = _MSG.search(text, 0, 256)
        if msg and _ESC in text:  # a message carrying a multi-line text: the dump itself
            if pending is not None:
                yield _unescape(pending)
            body, pending = text[msg.end():], ""
        elif pending is not None and not msg and (_ESC in text or '"' in text):
            body = text  # journald cut the message: this is its next piece
        elif not msg and _ESC in text and _DUMPISH.search(text, 0, MAX_LINE):
            if pending is not None:
                yield _unescape(pending)
            body, pending = text, ""  # a piece of a message whose beginning is not in the input
        else:
            if pending is not None:
                yield _unescape(pending)
                pending = None
            yield text
            continue
        end = m.end() if (m := _UNQUOTED.match(body)) else 0
        closed = end < len(body) and body[end] == '"'
        parts = (pending + (body[:end] if closed else body)).split(_ESC)
        yield from (_unescape(p) for p in parts[:-1])
        pending = parts[-1][:MAX_LINE]
        if closed:
            yield _unescape(pending)
            pending = None
    if pending is not None:
        yield _unescape(pending)


# --- frames --------------------------------------------------------------------------------------

def _package(frame: str) -> str:
    """`github.com/docker/docker/daemon` of `github.com/docker/docker/daemon.(*Daemon).containerInspect`."""
    paren = frame.find("(")
    slash = frame.rfind("/", 0, paren if paren >= 0 else len(frame))
    dot = frame.find(".", slash + 1)
    return frame[:dot] if dot > 0 else frame


def short(frame: str) -> str:
    """A frame without its package's directories: `daemon.(*Daemon).containerInspect`."""
    return frame[_package(frame).rfind("/") + 1:]


def _plumbing(frame: str) -> bool:
    """Go's standard library (no dot in the first path element) and golang.org/x: how, not what, it waits."""
    pkg = _package(frame)
    return ("." not in pkg.split("/", 1)[0] and pkg != "main") or pkg.startswith("golang.org/x/")


def _normal(name: str) -> str:
    name = _OFFSET.sub("", name[:MAX_NAME])
    while (i := name.find("/vendor/")) >= 0:  # github.com/docker/docker/vendor/github.com/boltdb/bolt → github.com/boltdb/bolt
        start = name.rfind("(", 0, i) + 1
        name = name[:start] + name[i + len("/vendor/"):]
    if name.startswith("/") and "/src/" in name:  # a GOPATH path: /go/src/github.com/…
        name = name[name.rfind("/src/") + len("/src/"):]
    return name


def _function(line: str) -> str | None:
    """The function of a frame's first line (`pkg.(*T).M(0xc4201, ...)`), or None if it is not one.
    Go prints no parenthesis inside an argument list, so the list is the last `(` on (possibly truncated)."""
    paren = line.rfind("(")
    name = line[:paren] if paren > 0 and ")" not in line[paren:-1] else line
    if ("." not in name and name != "panic") or not _NAME.fullmatch(name):  # `panic({0x5611da793340?, 0xc000445c40?})`
        return None
    return _normal(name) if "/vendor/" in name or "+0x" in name or name[0] == "/" else name[:MAX_NAME]


def _state(inner: str) -> tuple[str, int]:
    parts = [p.strip() for p in inner.split(",")]
    minutes = next((int(m.group(1)) for p in parts if (m := _MINUTES.fullmatch(p))), 0)
    rest = [p for p in parts if p and not _MINUTES.fullmatch(p) and p != "locked to thread"]
    return ", ".join(rest) or "?", minutes


def parse(lines: Iterable[str]) -> list[Goroutine]:
    """Every goroutine in the input, in order. Tolerates prefixes, interleaved log lines, truncation and garbage."""
    out: list[Goroutine] = []
    head: Goroutine | None = None  # the goroutine being read (its frames gather in `frames`)
    frames: list[str] = []
    created_by: str | None = None
    panic: str | None = None
    since_panic = 0

    def close() -> None:
        nonlocal head
        if head is not None:
            out.append(Goroutine(head.id, head.state, head.minutes, tuple(frames), created_by, head.panic))
            head = None

    for line in _logical(lines):
        s = line[:MAX_LINE].strip()
        since_panic += 1
        if not s or s.startswith("# "):  # a blank line ends a goroutine; `# source:` lines are fixture comments
            close()
        elif s.startswith("goroutine ") and (h := _HEADER.fullmatch(s)):
            close()
            if len(out) >= MAX_GOROUTINES:
                break
            state, minutes = _state(h.group(2))
            if since_panic > 50:
                panic = None  # a `panic:` line far from any goroutine was only a log message
            head, frames, created_by, panic = Goroutine(int(h.group(1)), state, minutes, (), panic=panic), [], None, None
        elif s.startswith(("panic: ", "fatal error: ", "http: panic serving ")) and (p := _PANIC.match(s)):
            close()
            if panic is None or since_panic > 50:  # `panic: X [recovered]` then `panic: Y`: X is what happened first
                panic, since_panic = p.group(1).strip(), 0
        elif head is None or s[0] in "/.<?" or ":" in s:
            continue  # outside a goroutine; the file:line of the frame above (a function line has no colon); `...`
        elif s.startswith("created by "):
            created_by = _normal(s[len("created by "):].split(" in goroutine ")[0])
        elif name := _function(s):
            if len(frames) < MAX_FRAMES:
                frames.append(name)
        else:
            close()  # something else: this goroutine, or the dump, ended
    close()
    return out


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
    pkg, name = _package(caller), short(caller)
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
    top = next((i for i, f in enumerate(frames) if not _plumbing(f)), None)
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
    return [f for f in frames if not _plumbing(f)]


def _chain(frames: tuple[str, ...], n: int = 3) -> str:
    return " ← ".join(short(f) for f in (_own(frames) or list(frames))[:n]) or "?"


def _where(frames: tuple[str, ...]) -> str:
    """Where a panic happened: its innermost frame outside the standard library, then the daemon's own callers."""
    inner = next((f for f in frames if not _plumbing(f)), None)
    own = _own(frames)
    if inner is None or inner in own[:1]:
        return _chain(frames, 4)
    return f"{short(inner)} ← … ← {_chain(frames, 3)}"


def _span(lo: int, hi: int) -> str:
    return f"{hi}" if lo == hi else f"{lo}–{hi}"


def _line(g: Group) -> str:
    return f"{g.count} × [{g.state}, {_span(g.min_minutes, g.max_minutes)} minutes] on {g.waits_on}: {_chain(g.frames)}"


def verdict(summary: DumpSummary, min_minutes: int = 1, min_requests: int = 1) -> tuple[str | None, list[str]]:
    """("dockerd-wedged", why) when API requests are parked for minutes, else (None, reasons).
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
    return "dockerd-wedged", why + ([f"also blocked, not a request: {_line(holder)}"] if holder else [])


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
        caller = next((f for f in frames[first:] if not _has((f,), *_BOLT) and not _plumbing(f)), "")
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

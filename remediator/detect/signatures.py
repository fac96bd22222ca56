"""The failure-signature catalogue of the dockerd/containerd family (DOMAIN.md §3), Docker 1.11 → 28.

Role: data (one row per known log pattern: regexes, role, the diagnosis it supports, the Docker
versions that print it) and the pure scan that matches log messages against it.
Roles: `cause` names what is wrong and decides a diagnosis; `symptom` says something hangs or
fails but not why (it supports a diagnosis only when nothing better is known); `info` is
benign or self-healing and never drives a verdict; `marker` is a lifecycle line (start, ready,
version fingerprint). Must not: read files or talk to a host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

V = tuple[int, int]
ANY: tuple[V, V] = ((1, 11), (99, 99))


@dataclass(frozen=True)
class Signature:
    id: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
    role: str  # cause | symptom | info | marker
    diagnosis: str | None
    versions: tuple[V, V]
    keywords: tuple[str, ...]  # cheap substrings that make a line a near-miss candidate
    exclude: re.Pattern[str] | None = None

    def matches(self, message: str) -> bool:
        if self.exclude is not None and self.exclude.search(message):
            return False
        return any(p.search(message) for p in self.patterns)

    @property
    def version_text(self) -> str:
        return version_range_text(self.versions)


def version_text(v: V) -> str:
    """Docker's own spelling: 1.12, 17.03, 18.09; minor 99 means any minor of that major (27.x)."""
    major, minor = v
    if minor == 99:
        return f"{major}.x"
    return f"{major}.{minor:02d}" if major >= 17 else f"{major}.{minor}"


def version_range_text(r: tuple[V, V]) -> str:
    lo, hi = r
    if hi == ANY[1]:
        return f"{version_text(lo)}+" if lo != ANY[0] else "any"
    return f"{version_text(lo)}–{version_text(hi)}"


def _s(id_: str, title: str, patterns: list[str], role: str, diagnosis: str | None, versions: tuple[V, V],
       keywords: tuple[str, ...], exclude: str | None = None) -> Signature:
    return Signature(id_, title, tuple(re.compile(p) for p in patterns), role, diagnosis, versions, keywords,
                     re.compile(exclude) if exclude else None)


FATAL_NOT_DAEMON = r"(?:Error starting daemon|Failed to connect to containerd|failed to start daemon)"

SIGNATURES: tuple[Signature, ...] = (
    # ---- containerd 0.2.x restore (the seed incident), 1.11-17.10 -------------------------------------
    _s("S02-fatal-eof", "containerd 0.2 restore hit an empty state.json/process.json: fatal EOF",
       [r"level=fatal msg=\"?(?:unexpected )?EOF\"?\s*$", r"FATA\[\d+\] (?:unexpected )?EOF\s*$"],
       "cause", "containerd-state", ((1, 11), (17, 10)), ("fatal", "FATA", "EOF")),
    _s("S02-read-past-events", "containerd 0.2 replayed its events log (debug; precedes a restore fatal)",
       [r"containerd: read past events\"?\s+count=\d+"], "symptom", "containerd-state", ((1, 11), (17, 10)),
       ("read past events",)),
    _s("S03-state-missing", "containerd 0.2 state dir lacks a file (stale state after reboot or live-restore)",
       [r"open \S+/libcontainerd/containerd/[0-9a-f]{64}/\S+: no such file or directory"],
       "cause", "containerd-state", ((1, 11), (17, 10)), ("libcontainerd/containerd/",)),
    _s("S04-events-log-nul", "containerd 0.2 events.log tail is NUL-padded after a host crash",
       [r"invalid character '\\{1,2}x00' looking for beginning of value"],
       "cause", "containerd-state", ((1, 11), (17, 10)), ("invalid character", "x00")),
    _s("S05-state-dropped", "containerd 0.2.6+ dropped a bad container state and went on (self-healed)",
       [r"containerd: (?:failed to load container,removing state di(?:re)?ctory|container has no process running,removing state directory)"],
       "info", None, ((17, 3), (17, 10)), ("removing state",)),
    _s("S14-ctrd-unavailable", "dockerd lost its containerd 0.2/1.0 connection (containerd died or restarts)",
       [r"rpc error: code = (?:14|Unavailable) desc = (?:grpc: the connection is unavailable|transport is closing)",
        r"connection error: desc = \"transport: dial unix:?/*\S+?containerd\.sock: timeout\"",
        r"containerd: container not started"],
       "symptom", "containerd-state", ((1, 12), (18, 6)), ("Unavailable", "transport is closing", "not started")),
    # ---- managed containerd 1.x connect / start, 17.11+ ---------------------------------------------
    _s("S07-ctrd-connect", "dockerd cannot reach its managed containerd 1.0/1.1 (stale pid or wedged)",
       [r"Failed to connect to containerd: failed to dial \"[^\"]+\": (?:context deadline exceeded|dial unix \S+: timeout)",
        r"libcontainerd: docker-containerd is still running\"?(?:.*?\bpid=\d+)?"],
       "cause", "containerd-state", ((17, 11), (18, 6)), ("Failed to connect to containerd", "still running")),
    _s("S08-ctrd-start-timeout", "managed containerd did not answer within 15 s of its start",
       [r"(?:failed|Failed) to start containerd: timeout waiting for containerd to start",
        r"(?<!docker-)containerd is still running\"?.*\bpid=\d+"],
       "cause", "containerd-state", ((18, 9), (99, 99)), ("timeout waiting for containerd", "still running")),
    _s("S09-dial-managed", "dockerd gave up dialing its managed containerd's socket",
       [r"(?:failed to start daemon|Error starting daemon): failed to dial \"\S*/containerd/(?:docker-)?containerd\.sock\""],
       "cause", "containerd-state", ((17, 11), (99, 99)), ("failed to dial", "containerd.sock"),
       exclude=r"failed to dial \"/(?:var/)?run/containerd/containerd\.sock\""),
    _s("S09-dial-external", "the system containerd (/run/containerd) does not serve; fix containerd first",
       [r"(?:failed to start daemon|Error starting daemon): failed to dial \"/(?:var/)?run/containerd/containerd\.sock\""],
       "cause", "containerd-down", ((18, 9), (99, 99)), ("failed to dial", "/run/containerd")),
    _s("S09-grpc-transport", "gRPC could not connect to a containerd socket",
       [r"addrConn\.createTransport failed to connect to .*?/\S*containerd\.sock.*?(?:connection refused|no such file or directory|timeout)"],
       "symptom", "containerd-down", ((18, 9), (99, 99)), ("createTransport",)),
    # ---- bolt databases -----------------------------------------------------------------------------
    _s("S10-bolt-corrupt", "a bbolt database is corrupt (containerd meta.db when next to containerd lines)",
       [r"panic: (?:invalid page type|page \d+ already freed|invalid freelist page|"
        r"freepages: failed to get all reachable pages|invalid page allocation)",
        r"\b(?:invalid database|checksum error)\b"],
       "cause", "containerd-state", ((17, 11), (99, 99)), ("invalid", "page", "bolt"),
       exclude=r"volume store metadata|network controller|local-kv"),
    _s("S10-volume-db", "dockerd cannot open volumes/metadata.db (corrupt, or another dockerd holds its lock)",
       [r"error while opening volume store metadata database(?: \([^)]*\))?: .+"],
       "cause", "persistent-db", ANY, ("volume store",)),
    _s("S10-network-db", "libnetwork's local-kv.db cannot be opened",
       [r"Error initializing network controller: .+"], "cause", "persistent-db", ANY, ("network controller",)),
    # ---- restore / rpc (1.13+, containerd 1.x-2.x) ---------------------------------------------------
    _s("S11-restore-failed", "dockerd could not re-attach a container (fifo missing = a partial cleanup)",
       [r"Failed to restore (?:container )?[0-9a-f]{64} with containerd: .+", r"failed to restore container with containerd",
        r"failed to open (?:stdout|stderr) fifo: error creating fifo \S+: no such file or directory"],
       "symptom", "containerd-state", ((1, 13), (99, 99)), ("restore", "fifo")),
    _s("S12-shim-reload", "containerd skipped or cleaned a shim while reloading tasks (self-healing)",
       [r"(?:loading tasks in namespace|failed to load shim|cleaning up after shim disconnected|shim disconnected|"
        r"cleaning leaked shim process|failed to delete task|failed to clean up after shim disconnected)"],
       "info", None, ((17, 11), (99, 99)), ("shim",)),
    _s("S13-rpc-deadline", "containerd or a shim does not answer in time",
       [r"rpc error: code = (?:4|DeadlineExceeded) desc = context deadline exceeded",
        r"operation timeout: context deadline exceeded"],
       "symptom", "containerd-wedged", ((1, 12), (99, 99)), ("deadline exceeded",)),
    # ---- client side -------------------------------------------------------------------------------
    _s("S15-no-daemon", "the client found nothing listening on the Docker socket",
       [r"Cannot connect to the Docker daemon at \S+\. Is the docker daemon running\?"],
       "symptom", "dockerd-down", ANY, ("Cannot connect to the Docker daemon",)),
    _s("S15-client-timeout", "the client connected but the daemon never answered",
       [r"Read timed out\. \(read timeout=\d+\)", r"Error response from daemon: i/o timeout"],
       "symptom", "dockerd-wedged", ANY, ("timed out", "i/o timeout")),
    # ---- storage / kernel --------------------------------------------------------------------------
    _s("S16-devicemapper", "devicemapper udev cookie never completed, or a busy device on remove",
       [r"Driver devicemapper failed to remove root filesystem [0-9a-f]+: Device is Busy",
        r"systemd-udevd\[\d+\]: .*?dm-\d+ timeout; kill it", r"_Cfunc_dm_udev_wait"],
       "cause", "storage-driver", ((1, 11), (24, 99)), ("devicemapper", "dm-")),
    _s("S17-hung-task", "the kernel reports a container-runtime task blocked (kernel-level hang)",
       [r"INFO: task (?:dockerd|docker|containerd|containerd-shim[\w-]*|docker-containerd[\w-]*|runc|docker-runc):\d+ "
        r"blocked for more than \d+ seconds\."],
       "cause", "kernel-hang", ANY, ("blocked for more than",)),
    _s("S17-netdev-refcount", "a network device cannot be freed (netns teardown hang)",
       [r"unregister_netdevice: waiting for \S+ to become free\. Usage count = -?\d+"],
       "cause", "kernel-hang", ANY, ("unregister_netdevice",)),
    _s("S17-filesystem", "the backing filesystem is unfit or failing (d_type, overlay readlink, fs errors)",
       [r"the backing \w+ filesystem is formatted without d_type support",
        r"returned error: readlink /var/lib/docker/overlay2.*: invalid argument",
        r"XFS .* Shutting down filesystem|EXT4-fs error|Buffer I/O error"],
       "cause", "storage-driver", ANY, ("d_type", "readlink", "XFS", "EXT4-fs", "I/O error")),
    _s("disk-full", "a write failed because the filesystem is full",
       [r"no space left on device"], "cause", "disk-full", ANY, ("space left",)),
    _s("S20-stale-pidfile", "a pidfile of a dead dockerd blocks the start",
       [r"(?:pid file found|failed to start daemon), ensure docker is not running or delete \S+"],
       "cause", "stale-pidfile", ANY, ("pid file", "ensure docker is not running")),
    _s("S21-unit-restarts", "systemd restarted docker/containerd too often, or its main process died",
       [r"(?:docker|containerd)\.service: Start request repeated too quickly",
        r"(?:docker|containerd)\.service: Main process exited, code=\w+, status=\S+",
        r"Failed to start Docker Application Container Engine"],
       "symptom", "dockerd-down", ANY, (".service",)),
    _s("S22-pleg", "kubelet sees the runtime hang (PLEG not healthy / runtime down)",
       [r"PLEG is not healthy: pleg (?:was last seen active \S+ ago; threshold is \S+|has yet to be successful)",
        r"container runtime is down"], "symptom", "dockerd-wedged", ANY, ("PLEG", "runtime is down")),
    # ---- fatal catch-all: a fatal line no better signature explains ----------------------------------
    _s("fatal-other", "dockerd or containerd logged a fatal error not in this catalogue",
       [r"level=fatal msg=", r"FATA\[\d+\] ", r"failed to start daemon: ", r"Error starting daemon: "],
       "symptom", None, ANY, ("fatal",)),
)

MARKERS: dict[str, re.Pattern[str]] = {name: re.compile(p) for name, p in {
    "starting": r"msg=\"?Starting up\"?",
    "loading_start": r"Loading containers: start\.",
    "loading_done": r"Loading containers: done\.",
    "init_done": r"Daemon has completed initialization",
    "api_listen": r"API listen on \S+",
    "shutdown": r"Daemon shutdown complete|Force shutdown daemon",
    "spawn_11": r"\bNew containerd process, pid: \d+",
    "spawn_12": r"libcontainerd: new containerd process, pid: \d+",
    "spawn_1711": r"libcontainerd: started new docker-containerd process",
    "spawn_1809": r"libcontainerd: started new containerd process",
    "spawn_28": r"(?<!libcontainerd: )started new containerd process",
    "ctrd_booted": r"containerd successfully booted in [\d.]+s",
    "dump_dockerd": r"goroutine stacks written to \S+",
    "dump_containerd": r"goroutine stack dump written to \S+",
}.items()}

# Which Docker versions print each spawn marker (DOMAIN §3 "version fingerprint from logs alone").
FINGERPRINTS: dict[str, tuple[V, V]] = {
    "spawn_11": ((1, 11), (1, 11)), "spawn_12": ((1, 12), (17, 10)), "spawn_1711": ((17, 11), (18, 6)),
    "spawn_1809": ((18, 9), (27, 99)), "spawn_28": ((28, 0), (99, 99)),
}
START_MARKERS = ("starting", "spawn_11", "spawn_12", "spawn_1711")  # a new start attempt begins
READY_MARKERS = ("init_done", "api_listen", "loading_done")


@dataclass(frozen=True)
class Match:
    signature: Signature
    line_no: int
    line: str


def scan_message(message: str) -> list[Signature]:
    """Signatures matching one message; the fatal catch-all only when nothing specific does."""
    hits = [s for s in SIGNATURES if s.id != "fatal-other" and s.matches(message)]
    if not any(s.role == "cause" for s in hits) and SIGNATURES[-1].matches(message):
        hits.append(SIGNATURES[-1])
    return hits


def markers(message: str) -> list[str]:
    return [name for name, p in MARKERS.items() if p.search(message)]


def by_id(sig_id: str) -> Signature:
    return next(s for s in SIGNATURES if s.id == sig_id)


@dataclass(frozen=True)
class Diagnosis:
    name: str
    meaning: str
    runbook: str | None  # the runbook that treats it; None = nothing to do
    sick: bool = True


DIAGNOSES: dict[str, Diagnosis] = {d.name: d for d in (
    Diagnosis("healthy", "every probe answers in time", None, sick=False),
    Diagnosis("degraded", "the daemon answers, but slowly or not every time: watch, do not restart", None, sick=False),
    Diagnosis("suspect", "failing, but not for enough consecutive rounds to act on", None, sick=False),
    Diagnosis("starting", "dockerd is young and has not finished its start yet: wait", None, sick=False),
    Diagnosis("dockerd-wedged", "dockerd is alive but its API does not answer; containerd and the disk are fine",
              "dockerd-restart"),
    Diagnosis("dockerd-down", "dockerd is not running and its log names no cause", "dockerd-restart"),
    Diagnosis("stale-pidfile", "a pidfile of a dead dockerd blocks its start", "dockerd-restart"),
    Diagnosis("containerd-wedged", "containerd does not answer on its socket (dockerd's containerd calls hang)",
              "dockerd-restart"),
    Diagnosis("crash-loop", "dockerd keeps restarting without ever answering, for no known reason", "escalate"),
    Diagnosis("containerd-state", "containerd's runtime state or metadata is corrupt: the seed incident",
              "docker-libcontainerd"),
    Diagnosis("containerd-down", "the external containerd does not serve: fix containerd first", "escalate"),
    Diagnosis("disk-full", "the data-root or exec-root filesystem is full: a restart makes it worse", "escalate"),
    Diagnosis("kernel-hang", "kernel-level hang (D-state threads, hung-task reports): needs a reboot", "escalate"),
    Diagnosis("persistent-db", "a persistent dockerd database is corrupt or locked: a person must decide", "escalate"),
    Diagnosis("storage-driver", "the storage driver or filesystem is failing", "escalate"),
    Diagnosis("unknown", "unhealthy, and no known signature explains it: keep the evidence, escalate", "escalate"),
)}
# Causes outside containerd's state win over containerd-state (invariant 9: the fix must fit the cause).
PRIORITY = ("disk-full", "kernel-hang", "storage-driver", "persistent-db", "containerd-down", "stale-pidfile",
            "containerd-state", "containerd-wedged", "crash-loop", "dockerd-wedged", "dockerd-down")
LAYOUT_BOUND = {"containerd-wedged": ("managed", "libcontainerd")}  # restarting dockerd restarts *its* containerd


def runbook_for(diagnosis: str, layout: str | None = None) -> str | None:
    """The runbook a diagnosis selects on a host with this containerd layout."""
    d = DIAGNOSES[diagnosis]
    bound = LAYOUT_BOUND.get(diagnosis)
    if d.runbook and bound and layout is not None and layout not in bound:
        return "escalate"
    return d.runbook

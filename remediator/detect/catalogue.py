"""The failure-signature catalogue of the dockerd/containerd family (docs/signatures.md), Docker 1.11 → 28: data.

Role: one row per known log pattern (regexes, role, the diagnosis it supports, the Docker versions that print
it, the source that prints the text, the literal needles every match contains) and the lifecycle markers
(start, ready, spawn lines that fingerprint a Docker era). The scan that matches lines against it is
detect/signatures; what each diagnosis means and selects is detect/diagnoses.
Roles: `cause` names what is wrong and decides a diagnosis; `symptom` says something hangs or fails but not
why (it supports a diagnosis only when nothing better is known); `panic` is a crash attributed from its stack;
`container` is one container's fault; `limit` is systemd's start limit; `info` is benign or self-healing and
never drives a verdict. Must not: hold behaviour beyond a row's own regex test; read files or talk to a host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediator.detect.aliases import CONTAINERD_PROGRAMS, ENGINE_WORDS, MANAGED_SOCK_FILE, UNIT_WORDS
from remediator.vocab import Diagnosis as D

V = tuple[int, int]
ANY: tuple[V, V] = ((1, 11), (99, 99))


@dataclass(frozen=True)
class Signature:
    id: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
    role: str  # cause | symptom | info | marker
    diagnosis: D | None
    versions: tuple[V, V]
    keywords: tuple[str, ...]  # cheap substrings that make a line a near-miss candidate
    exclude: re.Pattern[str] | None = None
    subject: str | None = None  # the file this signature names (relative to the data-root)
    source: str = ""  # where the printed text comes from (repository file @ tag)
    needles: tuple[str, ...] = ()  # literal words one of which every match contains: no regex runs without one
    requires: re.Pattern[str] | None = None  # a cause only if some line of the excerpt also matches this

    def matches(self, message: str) -> bool:
        """The regexes alone (scan_message checks the needles first, in one pass for every signature)."""
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


def _s(id_: str, title: str, patterns: list[str], role: str, diagnosis: D | None, versions: tuple[V, V],
       keywords: tuple[str, ...], exclude: str | None = None, subject: str | None = None, source: str = "",
       needles: tuple[str, ...] = (), requires: str | None = None) -> Signature:
    return Signature(id_, title, tuple(re.compile(p) for p in patterns), role, diagnosis, versions, keywords,
                     re.compile(exclude) if exclude else None, subject, source, needles,
                     re.compile(requires) if requires else None)


FATAL_NOT_DAEMON = r"(?:Error starting daemon|Failed to connect to containerd|failed to start daemon)"
# <exec-root>/containerd/… of a dockerd-managed containerd; never the system one, k3s's or rke2's
MANAGED_SOCK = rf"(?!(?:unix://)?/(?:var/)?run/(?:containerd|k3s|rke2)/)(?:unix://)?/[^\s\"]*/containerd/{MANAGED_SOCK_FILE}"
SYSTEM_SOCK = r"/(?:var/)?run/containerd/containerd\.sock"
BOLT_PANIC = (r"panic: (?:invalid page type|page \d+ already freed|cannot free page \d|invalid freelist page|"
              r"freepages: failed to get all reachable pages|invalid page allocation|"
              r"assertion failed: (?:Page expected to be|write: circular dependency|page \d+|.*?(?:pgid|overflow|freelist))|"
              r"(?:root bucket |freelist )?pgid \(\d+\) above high water mark|bolt\.DB\.meta\(\): invalid meta pages|"
              r"misplaced bucket header|inode overflow|invalid childAt)")
KUBELET_GO = r"\b(?:remote_runtime|kuberuntime_\w+|kubelet|pod_workers|generic)\.go:\d+\] "  # glog lines of kubelet
UNIT = rf"(?<![\w@.-])[\w@.-]{{0,60}}?{UNIT_WORDS}[\w@.-]{{0,60}}?\.(?:service|socket)"  # anchored, bounded: no backtracking
# devicemapper refusing a new device because its thin pool is below dm.min_free_space: the pool is full, not broken
DM_MIN_FREE = r"Thin Pool has \d+ free (?:data|metadata) blocks which is less than minimum required"
# ENOSPC from mount(2) itself (overlay2's Get, runc mounting into a rootfs): the kernel's mount table limit
# (fs/namespace.c count_mounts -> -ENOSPC past fs.mount-max), not a full disk; overlay2 then unmounts what it never
# mounted and logs EINVAL (daemon/graphdriver/overlay2/overlay.go Get's deferred cleanup @v20.10.24)
MOUNT_ENOSPC = r"(?:error creating overlay mount to|mounting \S+ to rootfs)\b.*no space left on device"
OVERLAY_UNMOUNT_UNMOUNTED = r"error unmounting \S+/merged: invalid argument"

SIGNATURES: tuple[Signature, ...] = (
    # ---- containerd 0.2.x restore (the seed incident), 1.11-17.10 -------------------------------------
    _s("S02-fatal-eof", "containerd 0.2 restore hit an empty state.json/process.json: fatal EOF",
       [r"level=fatal msg=\"?(?:unexpected )?EOF\"?\s*$", r"FATA\[\d+\] (?:unexpected )?EOF\s*$"],
       "cause", D.CONTAINERD_STATE, ((1, 11), (17, 10)), ("fatal", "FATA", "EOF"),
       source="containerd supervisor/supervisor.go restore() + logrus.Fatal @v0.2.4",
       needles=('EOF',)),
    _s("S02-read-past-events", "containerd 0.2 replayed its events log (debug; precedes a restore fatal)",
       [r"containerd: read past events\"?\s+count=\d+"], "info", None, ((1, 11), (17, 10)),
       ("read past events",), source="containerd supervisor/supervisor.go setupEventLog @v0.2.4",
       needles=('read past events',)),
    _s("S03-state-missing", "containerd 0.2 state dir lacks a file (stale state after reboot or live-restore)",
       [r"open \S+/libcontainerd/containerd/[0-9a-f]{64}/\S+: no such file or directory"],
       "cause", D.CONTAINERD_STATE, ((1, 11), (17, 10)), ("libcontainerd/containerd/",),
       exclude="removing state", source="containerd runtime/container.go Load/readProcessState @v0.2.4",
       needles=('libcontainerd/containerd/',)),
    _s("S04-events-log-nul", "containerd 0.2 events.log tail is NUL-padded after a host crash",
       [r"invalid character '\\{1,2}x00' looking for beginning of value"],
       "cause", D.CONTAINERD_STATE, ((1, 11), (17, 10)), ("invalid character", "x00"),
       source="containerd supervisor/supervisor.go setupEventLog json decode @v0.2.x",
       needles=('x00',)),
    _s("S04-state-decode", "containerd 0.2 cannot decode its events log or a state file (written by another version)",
       [r"(?:level=fatal msg=\"?|FATA\[\d+\] )(?:json: cannot unmarshal|unexpected end of JSON input|invalid character)"],
       "cause", D.CONTAINERD_STATE, ((1, 11), (17, 10)), ("unmarshal", "JSON"),
       exclude=r"configure the Docker daemon|daemon\.json|config file", requires=r"\bcontainerd\b(?!\.sock)",
       source="containerd supervisor/supervisor.go setupEventLog / runtime Load json decode @v0.2.x (containerd#387)",
       needles=("cannot unmarshal", "unexpected end of JSON input", "invalid character")),
    _s("S05-state-dropped", "containerd 0.2.6+ dropped a bad container state and went on (self-healed)",
       [r"containerd: (?:failed to load container,removing state di(?:re)?ctory|container has no process running,removing state directory)"],
       "info", None, ((17, 3), (17, 10)), ("removing state",), source="containerd PR #410 (v0.2.6)",
       needles=('removing state',)),
    _s("S14-ctrd-unavailable", "dockerd lost its containerd 0.2/1.0 connection (containerd died or restarts)",
       [r"rpc error: code = (?:14|Unavailable) desc = (?:grpc: the connection is unavailable|transport is closing)",
        r"connection error: desc = \"transport: dial unix:?/*\S+?containerd\.sock: timeout\"",
        r"containerd: container not started"],
       "symptom", D.CONTAINERD_STATE, ((1, 12), (18, 6)), ("Unavailable", "transport is closing", "not started"),
       source="moby libcontainerd/remote_linux.go handleConnectionChange @v1.12.3",
       needles=('code = 14', 'code = Unavailable', 'transport: dial', 'container not started')),
    # ---- managed containerd 1.x connect / start, 17.11+ ---------------------------------------------
    _s("S07-ctrd-pidfile", "the managed containerd's pidfile names a live process that does not answer "
       "(a reused pid: prove it, remove the pidfile, restart)",
       [r"(?:docker-)?containerd is still running\"?(?:.*?\bpid=\d+)?",
        r"libcontainerd: previous instance of containerd still alive \(\d+\)"],
       "cause", D.CONTAINERD_PIDFILE, ((17, 3), (99, 99)), ("still running", "still alive"),
       source="moby libcontainerd/supervisor/remote_daemon.go startContainerd (getContainerdPid: any live pid counts) "
              "@v17.11-v28; libcontainerd/remote_unix.go @v17.06",
       needles=('still running', 'still alive')),
    _s("S07-ctrd-connect", "dockerd cannot reach its managed containerd 1.0/1.1 (crashed, wedged, or a stale pid)",
       [r"Failed to connect to containerd: failed to dial \"[^\"]+\": (?:context deadline exceeded|dial unix:?\s?\S+: timeout)"],
       "symptom", D.CONTAINERD_CRASH, ((17, 11), (18, 6)), ("Failed to connect to containerd",),
       source="moby libcontainerd/remote_daemon.go New (errors.Wrap 'Failed to connect to containerd') @v17.11-v18.06",
       needles=('Failed to connect to containerd',)),
    _s("S08-ctrd-start-timeout", "the managed containerd did not answer within 15 s of its start",
       [r"(?:failed|Failed) to start containerd: timeout waiting for containerd to start"],
       "symptom", D.CONTAINERD_CRASH, ((18, 9), (99, 99)), ("timeout waiting for containerd",),
       source="moby libcontainerd/supervisor/remote_daemon.go Start (startupTimeout 15s) @v18.09-v28",
       needles=('timeout waiting for containerd',)),
    _s("S08-ctrd-died", "the managed containerd crashed (signal or exit status)",
       [r"containerd did not exit successfully\"?.*?error=\"?(?:signal: (?:segmentation fault|aborted|bus error|"
        r"illegal instruction|trace/breakpoint trap)|exit status [1-9])"],
       "cause", D.CONTAINERD_CRASH, ((17, 11), (99, 99)), ("did not exit successfully",),
       source="moby libcontainerd/supervisor/remote_daemon.go startContainerd cmd.Wait reaper @v17.11-v28",
       needles=('did not exit successfully',)),
    _s("S09-dial-managed", "the managed containerd runs but its metadata services failed to load (meta.db)",
       [rf"(?:failed to start daemon|Error starting daemon): failed to dial \"{MANAGED_SOCK}\": unknown service "
        r"containerd\.services\.\S+: not implemented"],
       "cause", D.CONTAINERD_STATE, ((18, 9), (99, 99)), ("failed to dial", "not implemented"),
       source="moby daemon/daemon.go NewDaemon 'failed to dial %q' @v18.09-v28; containerd services register only "
              "when the metadata plugin loads",
       needles=('not implemented',)),
    _s("S09-dial-managed-timeout", "dockerd gave up dialing its managed containerd's socket",
       [rf"(?:failed to start daemon|Error starting daemon): failed to dial \"{MANAGED_SOCK}\": (?!unknown service)"],
       "symptom", D.CONTAINERD_CRASH, ((17, 11), (99, 99)), ("failed to dial", "containerd.sock"),
       source="moby daemon/daemon.go NewDaemon @v18.09-v28",
       needles=('failed to dial',)),
    _s("S09-dial-external", "the system containerd (/run/containerd) does not serve; fix containerd first",
       [rf"failed to dial \"{SYSTEM_SOCK}\"",
        rf"dial unix {SYSTEM_SOCK}: connect: (?:connection refused|no such file or directory)"],
       "cause", D.CONTAINERD_DOWN, ((18, 9), (99, 99)), ("failed to dial", "/run/containerd"),
       source="moby daemon/daemon.go NewDaemon (WithTimeout 60s) @v19.03.7-v28",
       needles=('run/containerd/containerd.sock',)),
    _s("S09-sock-missing", "containerd's socket does not exist (seen by a client or ls): nothing serves it",
       [r"(?:cannot access|stat|lstat) '?\S*containerd\.sock'?: [Nn]o such file or directory"],
       "symptom", D.CONTAINERD_DOWN, ANY, ("containerd.sock",), source="coreutils ls / Go os.Stat ENOENT",
       needles=("containerd.sock",)),
    _s("S08-ctrd-terminated", "the managed containerd was terminated by dockerd before it said it had booted",
       [r"received signal\"?\s+module=containerd signal=terminated"],
       "symptom", D.CONTAINERD_CRASH, ((17, 11), (99, 99)), ("received signal",),
       source="containerd cmd/containerd handleSignals @v1.0-v1.7; moby supervisor stops it after its start timeout",
       needles=("signal=terminated",)),
    _s("S09-grpc-transport", "gRPC could not connect to the system containerd's socket",
       [rf"addrConn\.createTransport failed to connect to .*?{SYSTEM_SOCK}.*?(?:connection refused|no such file or directory)"],
       "symptom", D.CONTAINERD_DOWN, ((18, 9), (99, 99)), ("createTransport",), source="grpc clientconn.go createTransport",
       needles=('createTransport',)),
    _s("S09-grpc-managed", "gRPC cannot connect to the managed containerd's socket (containerd slow, dying or gone)",
       [rf"createTransport failed to connect to \{{?unix://{MANAGED_SOCK}"],
       "symptom", D.CONTAINERD_CRASH, ((18, 9), (99, 99)), ("createTransport",),
       source="grpc clientconn.go createTransport; moby libcontainerd/supervisor monitorDaemon @v18.09-v28",
       needles=("createTransport",)),
    _s("S07-ctrd-kill-restart", "dockerd's health check found its managed containerd unresponsive and kills it",
       [r"killing and restarting containerd"], "symptom", D.CONTAINERD_WEDGED, ((17, 11), (99, 99)), ("killing",),
       source="moby libcontainerd/supervisor/remote_daemon.go monitorDaemon (after SIGUSR1 for a dump) @v17.11-v28",
       needles=("killing and restarting containerd",)),
    _s("S10-cri-recover", "containerd's CRI plugin cannot recover its persisted state (/var/lib/containerd) and exits",
       [r"Failed to run CRI service\"?.*?failed to recover state"], "cause", D.CONTAINERD_STATE, ((18, 9), (99, 99)),
       ("recover state",), source="containerd pkg/cri/server/restart.go recover() via service.go Run @v1.5-v1.7, "
       "internal/cri/server @v2.0", needles=("failed to recover state",)),
    # ---- bolt databases: which process, which file ----------------------------------------------------
    _s("S10-bolt-panic", "a bbolt database is corrupt: the panicking process and its stack name the file",
       [BOLT_PANIC], "panic", None, ((1, 11), (99, 99)), ("page", "freelist", "assertion"),
       source="bbolt freelist.go (*freelist).free, cursor.go search, page.go fastCheck @v1.3.7, db.go freepages; "
              "boltdb/bolt @v1.3.1",
       needles=('panic: ',)),
    _s("S10-ctrd-plugin-db", "containerd's metadata plugin cannot open meta.db (invalid database / checksum)",
       [r"failed to load plugin\"? \"?io\.containerd\.[\w.]+\"?.*?error=\"?(?:[^\"]*: )?(?:invalid database|version mismatch|checksum error)",
        r"(?:invalid database|version mismatch|checksum error)\"?.*?\bid=io\.containerd\."],
       "cause", D.CONTAINERD_STATE, ((17, 11), (99, 99)), ("failed to load plugin", "invalid database"),
       source="containerd services/server/server.go 'failed to load plugin %s' @v1.2-v1.7; bbolt errors.go ErrInvalid",
       needles=('invalid database', 'version mismatch', 'checksum error')),
    _s("S10-volume-db", "dockerd cannot open volumes/metadata.db (corrupt, or another dockerd holds its lock)",
       [r"error while opening volume store metadata database(?: \([^)]*\))?: .+"],
       "cause", D.DOCKERD_DB, ANY, ("volume store",), subject="volumes/metadata.db",
       source="moby volume/service/store.go NewStore (bolt Timeout 1s) @v18.09-v28; volume/store/store.go @v17.x",
       needles=('volume store metadata database',)),
    _s("S10-network-db", "libnetwork's local-kv.db cannot be read (corrupt or locked)",
       [r"Error initializing network controller: .*?(?:invalid (?:database|page|freelist)|version mismatch|checksum error|bolt|"
        r"\btimeout\b|page \d+|freelist|circular dependency|local-kv)",
        r"Error creating default \"?bridge\"? network: (?:failed to allocate gateway|.*?[Aa]ddress already in use)",
        r"(?:libkv|kvstore)/(?:store/)?boltdb"],
       "cause", D.DOCKERD_DB, ANY, ("network controller",), subject="network/files/local-kv.db",
       source="moby daemon/daemon.go 'Error initializing network controller: %v'; libnetwork datastore.go @v20.10-v28",
       needles=('network controller', 'bridge', 'boltdb')),
    _s("S10-db-lock", "dockerd's bolt database open timed out: another dockerd holds its lock (1.11-1.12 print no file)",
       [r"(?:Error starting daemon|failed to start daemon): timeout\"?\s*$"], "cause", D.DOCKERD_DB, ((1, 11), (99, 99)),
       ("timeout",), subject="volumes/metadata.db (or another of dockerd's bolt files, locked by a second dockerd)",
       source="bolt ErrTimeout 'timeout' from flock (bolt_unix.go); moby volume/store/store.go New @v1.11-v1.12 "
              "returns it unwrapped", needles=("timeout",)),
    _s("S10-tag-store", "dockerd's own image/tag store file is corrupt",
       [r"Couldn't create (?:Tag store|reference store repository): .+",
        r"(?:Error starting daemon|failed to start daemon): .*?(?:repositories\.json|"
        r"repositories-\w+|layerdb|imagedb).*?(?:unexpected end of JSON input|invalid character)"],
       "cause", D.DOCKERD_DB, ANY, ("Tag store",), subject="image/<driver>/repositories.json (repositories-<driver> before 1.10)",
       source="moby graph/tags.go NewTagStore @v1.3-v1.9; daemon/daemon.go NewDaemon \"Couldn't create reference store "
              "repository: %s\" (reference/store.go) @v17.x-v28", needles=("Tag store", "reference store", "JSON", "invalid character")),
    _s("S10-content-db", "dockerd's content store metadata.db cannot be opened",
       [r"error opening bolt db for content metadata store", r"fscache: failed to open database file"],
       "cause", D.DOCKERD_DB, ((20, 10), (99, 99)), ("bolt db",), subject="content/metadata.db",
       source="moby daemon/content.go configureLocalContentStore @v20.10",
       needles=('bolt db', 'fscache')),
    # ---- restore / rpc (1.13+, containerd 1.x-2.x) ---------------------------------------------------
    _s("S11-restore-failed", "dockerd could not re-attach a container (fifo missing = a partial cleanup)",
       [r"Failed to restore (?:container )?[0-9a-f]{64} with containerd: .+", r"failed to restore container with containerd",
        r"failed to open (?:stdout|stderr) fifo: error creating fifo \S+: no such file or directory"],
       "symptom", D.CONTAINERD_STATE, ((1, 13), (99, 99)), ("restore", "fifo"), source="moby daemon/daemon.go restore",
       needles=('estore', 'fifo')),
    _s("S12-shim-reload", "containerd skipped or cleaned a shim while reloading tasks at start (self-healing)",
       [r"(?:loading tasks in namespace|failed to load shim|cleaning leaked shim process)"],
       "info", None, ((17, 11), (99, 99)), ("shim",), source="containerd runtime/v2/shim_load.go @v1.7.0",
       needles=('loading tasks', 'failed to load shim', 'leaked shim')),
    _s("S12-container", "one container's shim or task died, was cleaned up, or failed, while the daemon runs",
       [r"(?:cleaning up after shim disconnected|failed to clean up after shim disconnected|cleaning up dead shim|"
        r"failed to delete task|failed to delete shim|shim reaped|cleaning up after (?:dead shim|shim dead)|"
        r"failed to process event|failed to delete failed start container|"
        r"[Ff]ailed to exit within \S+(?: seconds)? of (?:signal|kill)|attach failed with error|"
        r"cleanup: failed to delete container from containerd|stream copy error|"
        r"topic=/tasks/oom|TaskOOM|invoked oom-killer|Memory cgroup out of memory|"
        r"OCI runtime (?:create|start|exec) failed|starting container process caused|"
        r"Handler for \w+ /(?:v[\d.]+/)?containers/(?!json)[\w.-]+/\w+ returned error: (?!No such |Conflict)|"
        r"error waiting for container: context canceled|oci runtime error|Cannot start service \S+: OCI runtime|"
        r"error getting events from daemon: net/http: request canceled|"
        r"\bcontainer oom [0-9a-f]{12,}|containerd: deleting container|copy shim log|event not sent to subscriber|"
        r"containerd: container not found|"
        r"oom-kill:constraint=CONSTRAINT_MEMCG|failed to initialize logging driver: |"
        r"/tasks/(?:exit|oom) \{[^}]*\"exit_status\":[1-9]|"
        r"failed to handle container TaskExit event|\b(?:get state|collecting metrics) for [0-9a-f]{64}\b)"],
       "container", None, ((17, 11), (99, 99)), ("shim", "task", "oom"),
       source="containerd runtime/v2/shim.go cleanupAfterDeadShim, binary.go Delete @v1.3-v2.2; docker/cli "
              "container run's companions 'error waiting for container' / 'error getting events from daemon' "
              "(cli/command/container/utils.go @v17.03, run.go @v18+) when the container fails to start; moby "
              "libcontainerd/remote/client.go processEvent, daemon/stop.go, daemon/attach.go; linux mm/oom_kill.c "
              "dump_oom_summary 'oom-kill:constraint=CONSTRAINT_MEMCG' (a cgroup's limit, v4.19+); moby "
              "container/container.go StartLogger 'failed to initialize logging driver' @v17.x-v28; containerd "
              "services/tasks/local.go getProcessState 'get state for %s' (one task's shim did not answer) and Metrics "
              "'collecting metrics for %s' (one task's stats), "
              "pkg/cri/server/events.go 'failed to handle container TaskExit event %+v' (one container's exit, "
              "retried by its backoff) @v1.2-v1.7",
       needles=('shim', 'task', 'TaskExit event', 'get state for', 'collecting metrics for',
                'failed to process event', 'failed start container', 'xit within', 'attach failed',
                'cleanup: failed', 'stream copy', 'oom', 'OOM', 'out of memory', 'OCI runtime', 'container process',
                'Handler for', 'container oom', 'deleting container', 'exit_status', 'not sent to subscriber',
                'error waiting for container', 'oci runtime error', 'error getting events from daemon',
                'container not found', 'logging driver')),
    _s("S13-rpc-deadline", "containerd or a shim does not answer in time",
       [r"rpc error: code = (?:4|DeadlineExceeded) desc = context deadline exceeded",
        r"converting task to protobuf\"?\s+error=\"?context (?:canceled|deadline exceeded)"],
       "symptom", D.CONTAINERD_WEDGED, ((1, 12), (99, 99)), ("deadline exceeded",),
       source="grpc status codes; containerd services/tasks/local.go addTasks 'converting task to protobuf' when a "
              "shim's State call outlives its caller @v1.2-v1.7",
       exclude=KUBELET_GO + r".*rpc error: code = 4 ", needles=('code = 4', 'DeadlineExceeded', 'converting task to protobuf')),
    _s("S22-dockershim-deadline", "an old kubelet's runtime calls time out: its runtime is dockershim, so dockerd hangs",
       [KUBELET_GO + r".*rpc error: code = 4 desc = context deadline exceeded"],
       "symptom", D.DOCKERD_WEDGED, ANY, ("runtime service",),
       source="kubernetes pkg/kubelet/remote/remote_runtime.go (grpc-go printed numeric codes before v1.6, i.e. "
              "kubelets of the dockershim era)", needles=("code = 4",)),
    # ---- client side -------------------------------------------------------------------------------
    _s("S15-no-daemon", "the client found nothing listening on the Docker socket",
       [rf"Cannot connect to the {ENGINE_WORDS} daemon at \S+\. Is the {ENGINE_WORDS} daemon running\?",
        r"Cannot connect to the Docker daemon\. Is (?:'docker -d'|'docker daemon'|the docker daemon) running on this host\?",
        r"dial unix \S*/(?:docker|balena(?:-engine)?)\.sock: (?:connect: )?no such file or directory\. Are you trying to "
        r"connect to a TLS-enabled daemon without TLS\?"],
       "symptom", D.DOCKERD_DOWN, ANY, ("Cannot connect to the Docker daemon",),
       source="docker/cli client errors (cli/command/cli.go); moby api/client/utils.go errConnectionFailed @v1.8-v1.12; "
              "balena-engine's client ('the balenaEngine daemon', detect/aliases.py); the 1.x client's dial error "
              "'%v. Are you trying to connect to a TLS-enabled daemon without TLS?' on its socket dial (api/client/utils.go "
              "clientRequest @v1.6-v1.7)",
       needles=('Cannot connect to the ', 'TLS-enabled daemon without TLS')),
    _s("S15-client-timeout", "the client connected but the daemon never answered",
       [r"Read timed out\. \(read timeout=\d+\)", r"Error response from daemon: i/o timeout",
        r"operation timeout: context deadline exceeded", r"\(Client\.Timeout exceeded while awaiting headers\)"],
       "symptom", D.DOCKERD_WEDGED, ANY, ("timed out", "i/o timeout", "operation timeout"),
       source="docker-py/requests; kubelet dockershim operation timeout",
       needles=('Read timed out', 'i/o timeout', 'operation timeout', 'Client.Timeout')),
    # ---- storage / kernel --------------------------------------------------------------------------
    _s("S16-devicemapper", "devicemapper failing (udev cookie never completed, busy device, thin pool)",
       [r"Driver devicemapper failed to remove root filesystem [0-9a-f]+: Device is Busy",
        r"systemd-udevd\[\d+\]: .*?dm-\d+ timeout; kill it", r"_Cfunc_dm_udev_wait",
        r"devmapper: (?:Error|Unable|Thin Pool|Base Device UUID|Can't set task|Error activating)",
        r"devicemapper: Error running \w+",
        r"error initializing graphdriver: .*?devmapper",
        r"\bError device (?:setupBaseImage|loadMetaData): "],
       "cause", D.STORAGE_DRIVER, ((1, 11), (24, 99)), ("devicemapper", "dm-", "devmapper", "Error device"),
       source="moby daemon/graphdriver/devmapper/deviceset.go @v17.x; pkg/devicemapper/devmapper.go "
              "'devicemapper: Error running deviceCreate (%s)' @v1.x-v18.09; deviceset.go initDevmapper's debug "
              "'Error device setupBaseImage: %s' / 'Error device loadMetaData: %s' (the pool cannot be set up) @v0.7-v1.9",
       exclude=DM_MIN_FREE,
       needles=('devicemapper', 'dm-', '_Cfunc_dm_udev_wait', 'devmapper', 'Error device')),
    _s("S17-overlay-probe", "the overlay driver is not available and dockerd tries the next driver of its priority "
       "list (a probe, benign unless no driver initializes)",
       [r"'overlay' not found as a supported filesystem on this host"], "info", None, ((1, 9), (17, 12)),
       ("not found as a supported filesystem",),
       source="moby daemon/graphdriver/overlay/overlay.go Init (supportsOverlay: logrus.Error, then "
              "graphdriver.ErrNotSupported, which graphdriver.New's priority loop skips) @v1.9-v17.12",
       needles=("not found as a supported filesystem",)),
    _s("S17-data-root-read-only", "dockerd's data-root is on a read-only filesystem (remounted read-only after I/O "
       "errors, or mounted so): nothing a restart fixes, escalate",
       [r"\b(?:mkdir|open|create|rename|remove|unlinkat|symlink) /var/lib/docker(?:/\S*)?: read-only file system"],
       "cause", D.UNKNOWN, ANY, ("read-only file system",),
       source="Go syscall.EROFS ('read-only file system') from os.MkdirAll/OpenFile under the data-root, returned "
              "through moby's API (daemon/daemon.go prepareTempDir sets TMPDIR=<data-root>/tmp, where the builder's "
              "ioutils.TempDir('', 'docker-builder') creates its context @v17.x-v19.03)",
       needles=("read-only file system",)),
    _s("S17-hung-task", "the kernel reports a task blocked for minutes (kernel-level hang)",
       [r"INFO: task .{1,40}?:\d+ blocked for more than \d+ seconds",
        r"\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message",
        r"\btask:\S+\s+state:D\b",
        r"\b(?:dockerd|docker|containerd[\w-]*|docker-containerd[\w-]*|runc|docker-runc)\s+D\s+(?:[0-9a-f]{8,16}\s+)?\d+\s+\d+\s+\d+\s+0x"],
       "cause", D.KERNEL_HANG, ANY, ("blocked for more than", "hung_task", "state:D"),
       source="linux kernel/hung_task.c check_hung_task; sched_show_task",
       needles=('blocked for more than', 'hung_task_timeout_secs', 'state:D', ' D ')),
    _s("S17-netdev-refcount", "a network device cannot be freed (netns teardown hang)",
       [r"unregister_netdevice: waiting for \S+ to become free\. Usage count = -?\d+"],
       "cause", D.KERNEL_HANG, ANY, ("unregister_netdevice",), source="linux net/core/dev.c netdev_wait_allrefs",
       needles=('unregister_netdevice',)),
    _s("S17-kernel-frames", "kernel stack frames of a task blocked in netns, filesystem or RCU code",
       [r"\b(?:copy_net_ns|cleanup_net|xfs_buf_iowait|xfs_log_force\w*|xfs_buf_lock|rwsem_down_(?:read|write)\w*|"
        r"ovl_sync_fs|rtnl_lock|rtnl_dellink|__synchronize_srcu|synchronize_srcu\w*|synchronize_net|jbd2_log_wait_commit)"
        r"\+0x[0-9a-f]+/0x[0-9a-f]+"],
       "symptom", D.KERNEL_HANG, ANY, ("+0x",), source="linux call traces (hung_task, /proc/<pid>/stack)",
       needles=('+0x',)),
    _s("S17-filesystem", "the backing filesystem is unfit or failing (d_type, overlay readlink, fs errors)",
       [r"the backing \w+ filesystem is formatted without d_type support",
        r"returned error: readlink /var/lib/docker/overlay2.*: invalid argument",
        r"overlayfs: upper fs (?:does not support|needs to support) d_type",
        r"XFS .* Shutting down filesystem|EXT4-fs error|Buffer I/O error",
        r"error initializing graphdriver: (?!.*(?:devmapper|unknown option|invalid option|[Uu]nsupported option))",
        r"/(?:overlay2?|aufs|btrfs|zfs|vfs)/[0-9a-f]{12,}\S*: (?:invalid argument|operation not supported|"
        r"structure needs cleaning|input/output error|no such device)"],
       "cause", D.STORAGE_DRIVER, ANY, ("d_type", "readlink", "XFS", "EXT4-fs", "I/O error", "graphdriver"),
       source="moby daemon/graphdriver/overlay2/overlay.go; linux fs/overlayfs; overlayutils.ErrDTypeNotSupported is "
              "only a warning before 17.12 ('Running without d_type support will no longer be supported in Docker "
              "17.12', the daemon starts) and fatal from 17.12 ('... are not supported'): the warning is excluded",
       exclude=rf"{OVERLAY_UNMOUNT_UNMOUNTED}|without d_type support will (?:no longer|not) be supported",
       needles=('d_type', 'readlink', 'Shutting down filesystem', 'EXT4-fs error', 'Buffer I/O error', 'graphdriver',
                '/overlay', '/aufs/', '/btrfs/', '/zfs/', '/vfs/')),
    _s("disk-full", "a write failed because the filesystem is full",
       [r"no space left on device"], "cause", D.DISK_FULL, ANY, ("space left",),
       exclude=r"inotify|fs\.inotify|too many open files|" + MOUNT_ENOSPC, source="ENOSPC",
       needles=('no space left on device',)),
    _s("S20-stale-pidfile", "a pidfile of a dead dockerd blocks the start",
       [r"(?:pid file found|failed to start daemon), ensure docker is not running or delete \S+",
        r"pid file found, ensure docker\b"],
       "cause", D.STALE_PIDFILE, ANY, ("pid file", "ensure docker is not running"),
       source="moby pkg/pidfile/pidfile.go New @v17.11-v23; cmd/dockerd/daemon.go @v24+",
       needles=('ensure docker is not running', 'pid file found')),
    _s("S21-start-limit", "systemd stopped restarting the unit (start limit hit): it needs reset-failed",
       [rf"{UNIT}: Start request repeated too quickly", rf"start request repeated too quickly for {UNIT}",
        rf"{UNIT} start request repeated too quickly",
        r"start-limit-hit", r"Result: start-limit\b", r"service-start-limit-hit"],
       "limit", D.START_LIMIT, ANY, ("repeated too quickly", "start-limit"),
       source="systemd src/core/unit.c unit_test_start_limit; unit_log_failure 'Failed with result'",
       needles=('repeated too quickly', 'start-limit')),
    _s("S21-unit-failed", "systemd saw dockerd or containerd exit or fail to start",
       [rf"{UNIT}: [Mm]ain process exited, code=\w+, status=\S+",
        rf"Failed to start (?:\S+\.service - )?{ENGINE_WORDS} Application Container Engine",
        rf"{UNIT}: Scheduled restart job, restart counter is at \d+", rf"{UNIT}: Service hold-off time over",
        rf"Unit {UNIT} entered failed state", rf"{UNIT}: Unit entered failed state", rf"{UNIT}: Failed with result",
        rf"(?:--|░░) Subject: (?:Unit {UNIT} has failed|A start job for unit {UNIT} has failed)",
        r"Active: failed \(Result: ", r"Main PID: \d+ \(code=(?:exited|killed|dumped), status=\d+"],
       "symptom", D.DOCKERD_DOWN, ANY, (".service", "Main PID"),
       source="systemd src/core/service.c service_sigchld_event, job.c JOB_FAILED, catalog be02cf68",
       needles=('rocess exited', 'Failed to start', 'Scheduled restart job', 'hold-off time over', 'failed state',
                'Failed with result', 'Subject:', 'Active: failed', 'Main PID:')),
    _s("S21-start-timeout", "systemd killed dockerd because its start took longer than the unit allows",
       [rf"{UNIT}: Start operation timed out", r"start operation timed out\. Terminating"], "cause", D.UNKNOWN, ANY,
       ("timed out",), source="systemd src/core/service.c service_timer (TimeoutStartSec)",
       needles=("Start operation timed out", "start operation timed out")),
    _s("S22-pleg", "kubelet sees the runtime hang (PLEG not healthy / runtime down)",
       [r"PLEG is not healthy: pleg (?:was last seen active \S+ ago; threshold is \S+|has yet to be successful)",
        r"container runtime is down"], "symptom", D.DOCKERD_WEDGED, ANY, ("PLEG", "runtime is down"),
       source="kubernetes pkg/kubelet/pleg/generic.go Healthy",
       needles=('PLEG is not healthy', 'container runtime is down')),
    _s("go-panic", "a Go program crashed (panic, fatal error, signal): the stack names which",
       [r"(?:^|: |\s)panic: (?!.*\[recovered\])", r"(?:^|: |\s)fatal(?: error)?: ", r"\[signal SIG[A-Z]+",
        r"SIGSEGV: segmentation violation", r"unexpected signal during runtime execution"],
       "panic", None, ANY, ("panic", "fatal"), exclude=r"level=\w+ msg=|\b(?:INFO|WARN|ERRO|DEBU|FATA)\[",
       source="go runtime/panic.go printpanics, fatal, dopanic_m",
       needles=('panic: ', 'fatal', '[signal SIG', 'SIGSEGV', 'unexpected signal')),
    # ---- issue 16: classes the held-out sets missed (dockerd's JSON stores, dead shims, benign 4xx) ------
    _s("S10-layer-store", "dockerd's layer store references a layer whose metadata is gone (layerdb after a power loss)",
       [r"(?:Error starting daemon|failed to start daemon): (?:.*: )?(?:layer|mount) does not exist",
        r"/image/\w+/layerdb/(?:sha256/)?[0-9a-f]{64}/(?:cache-id|diff|parent|size)\"?: no such file or directory"],
       "cause", D.DOCKERD_DB, ANY, ("layer does not exist", "layerdb"), subject="image/<driver>/layerdb",
       source="moby layer/layer.go ErrLayerDoesNotExist / ErrMountDoesNotExist, returned by layer/layer_store.go "
              "loadLayer/loadMount and layer/migration.go (NewDaemon) @v1.10-v28",
       needles=("does not exist", "layerdb/")),
    _s("S10-container-store", "dockerd cannot load a container's own JSON (config.v2.json, hostconfig.json) after a crash",
       [r"[Ff]ailed to load container(?: mount)?\b.*?(?:config\.v2\.json|hostconfig\.json|unexpected end of JSON input|"
        r"cannot unmarshal|invalid character|(?:layer|mount) does not exist)"],
       "cause", D.DOCKERD_DB, ANY, ("load container",), subject="containers/<id>/config.v2.json",
       source="moby daemon/daemon.go restore 'Failed to load container %v: %v' @v1.11-v20.10, "
              "'failed to load container' (error field) @v23-v28; container/container.go FromDisk json decode",
       needles=("ailed to load container",)),
    _s("S07-bolt-lock-wait", "containerd's metadata plugin waits for meta.db's file lock (another containerd holds it): "
       "not corruption, never a state clear",
       [r"waiting for response from boltdb open"], "cause", D.UNKNOWN, ((18, 9), (99, 99)), ("boltdb open",),
       source="containerd metadata/plugin/plugin.go (plugins/metadata/plugin.go @v2) init: a 10 s timer around "
              "bolt.Open, which blocks on flock(2) while another process has meta.db open, then "
              "Warn('waiting for response from boltdb open') @v1.2-v2.1",
       needles=("boltdb open",)),
    _s("S20-ctrd-socket-create", "containerd cannot create its own socket (its run directory is gone): containerd down",
       [r"can't create unix socket \S*containerd\.sock: "], "cause", D.CONTAINERD_DOWN, ((1, 11), (17, 10)),
       ("can't create unix socket",),
       source="moby pkg/listeners Init 'can't create unix socket %s: %v', vendored by containerd 0.2 main.go "
              "startServer (docker 1.11-17.10's containerd; containerd#625)",
       needles=("can't create unix socket",)),
    _s("S12-shim-stall", "containerd's start ran out of time while it reloaded the tasks of dead shims (its runtime state)",
       [r"containerd[\w@.-]{0,40}\.service: [Ss]tart operation timed out",
        r"(?:[Ff]ailed to start containerd: )?timeout waiting for containerd to start",
        r"Failed to connect to containerd: failed to dial \"[^\"]+\": context deadline exceeded",
        rf"(?:failed to start daemon|Error starting daemon): failed to dial \"{MANAGED_SOCK}\": context deadline exceeded"],
       "cause", D.CONTAINERD_STATE, ((17, 11), (99, 99)), ("timed out", "timeout waiting for containerd"),
       requires=r"cleaning up dead shim|cleaning up after shim disconnected|failed to load shim|loading tasks in namespace",
       source="containerd runtime/v2/manager.go loadTasks -> cleanupAfterDeadShim ('cleaning up after shim "
              "disconnected', binary.go 'cleaning up dead shim') in the io.containerd.runtime.v2.task plugin's init, "
              "before containerd serves @v1.5-v1.7 (containerd#7037, #5699, #13848); moby libcontainerd/supervisor "
              "startupTimeout 15s; systemd service_timer (TimeoutStartSec)",
       needles=("tart operation timed out", "timeout waiting for containerd", "context deadline exceeded")),
    _s("S12-shim-boot-stall", "containerd's boot blocked a minute or more on one dead shim of the previous boot",
       [r"cleaning up after shim disconnected|cleaning up dead shim"], "cause", D.CONTAINERD_STATE, ((17, 11), (99, 99)),
       ("shim",), requires=r"time=\"?\d{4}-",  # the gap is read from logrus timestamps
       source="containerd runtime/v2/manager.go loadTasks -> cleanupAfterDeadShim, run in the "
       "io.containerd.runtime.v2.task plugin's init before containerd serves @v1.5-v1.7 (containerd#5597, #5699, #5783: "
       "minutes to hours per boot); decided only with the timing check in logdiag (a gap >= 60 s during boot)",
       needles=("cleaning up",)),
    _s("S23-client-benign", "a client asked for what does not exist or conflicts (a 4xx answer): the daemon answered",
       [r"returned error: (?:No such (?:container|image|exec instance|volume|network)|Conflict)",
        r"Error response from daemon: (?:No such (?:container|image|exec instance|volume|network|object)|Conflict\. |"
        r"pull access denied|manifest for \S+ not found|manifest unknown|[Cc]ontainer \S+ is not running)",
        r"Unable to find image '\S+' locally"],
       "info", None, ANY, ("No such", "Conflict"),
       source="moby api/server/server.go makeHTTPHandler logs every handler error @v1.x-v17.x, only status >= 500 "
              "@v18.09+ (moby#29056, #31655); errdefs NotFound/Conflict; docker/cli run.go pull on 'Unable to find image'",
       needles=("No such ", "Conflict", "pull access denied", "manifest ", "is not running", "Unable to find image")),
    _s("S10-panic-frame", "an old Go runtime's panic frame with the panic line cut off: a crash, the stack says whose",
       [r"^\s*panic\(0x[0-9a-f]+, 0x[0-9a-f]+\)$"], "panic", None, ANY, ("panic(",),
       source="go runtime/panic.go gopanic frame in tracebacks (Go <= 1.16 prints 'panic(0x..., 0x...)')",
       needles=("panic(0x",)),
    # ---- issue 16, set G: by the subsystem that failed (which store, which program, which unit) ----------
    _s("S25-ctrd-lost", "dockerd's event stream from its running containerd 0.2 broke: containerd died (dockerd restarts it)",
       [r"libcontainerd: failed to receive event from containerd: rpc error: code = (?:13|Internal) desc = transport is closing"],
       "cause", D.CONTAINERD_CRASH, ((1, 12), (17, 10)), ("failed to receive event",),
       source="moby libcontainerd/remote_linux.go handleEventStream @v1.12 (remote_unix.go @v17.03): logged unless dockerd "
              "closed the connection itself; handleConnectionChange then kills and re-runs containerd "
              "('libcontainerd: new containerd process')", needles=("failed to receive event from containerd",)),
    _s("S10-cri-sandbox-lost", "containerd's CRI recovery finds sandboxes in its store that its sandbox controller lost "
       "(its two persisted stores disagree after an unclean stop)",
       [r"failed to recover sandbox state\"?\s+error=\"?unable to find sandbox \S+ not found"],
       "cause", D.CONTAINERD_STATE, ANY, ("recover sandbox state",),
       source="containerd internal/cri/server/restart.go recover() 'failed to recover sandbox state' with the controller's "
              "'unable to find sandbox %q: not found' (podsandbox/sandbox_status.go) @v2.0; a CRI line is never dockerd's "
              "managed containerd (moby starts it with the cri plugin disabled), so the layout is external: escalate",
       needles=("failed to recover sandbox state",)),
    _s("S16-dm-space-zero", "docker info: devicemapper's thin pool has no data or metadata space left",
       [r"^\s*(?:Data|Metadata) Space Available: 0(?:\.0+)? ?B\s*$"], "cause", D.DISK_FULL, ((1, 8), (18, 9)),
       ("Space Available",), source="moby daemon/graphdriver/devmapper/driver.go Status 'Data Space Available' "
       "(units.HumanSize of the pool's free blocks) @v1.8-v18.09", needles=("Space Available: 0",)),
    _s("S12-frozen-task", "a task sits in the cgroup freezer (a frozen or freezing container), not a kernel I/O hang",
       [r"\b__refrigerator\+0x[0-9a-f]+/0x[0-9a-f]+"], "container", None, ANY, ("refrigerator",),
       source="linux kernel/freezer.c __refrigerator (where the cgroup freezer parks a task; runc/containerd freeze a "
              "container's cgroup to pause or kill it)", needles=("__refrigerator",)),
    _s("S21-unit-cannot-run", "systemd or an init script could not run the engine's program at all (its socket, "
       "environment file, pre-start task, binary or the service manager itself failed): restarting dockerd cannot help",
       [rf"Failed to listen on (?:{ENGINE_WORDS}|{UNIT})", rf"{UNIT}: Failed to load environment files",
        rf"{UNIT}: Failed to run '[\w-]+' task", rf"{UNIT}: Failed with result 'resources'",
        rf"{UNIT}: Failed at step \w+ spawning", r"\S*/(?:dockerd|docker|balenad|containerd)\S* not present or not executable",
        r"Failed to get D-Bus connection: "],
       "cause", D.UNKNOWN, ANY, ("Failed to listen", "environment files", "not present"),
       source="systemd src/core/socket.c ('Failed to listen on %s.'), execute.c ('Failed to load environment files', "
              "'Failed at step %s spawning'), service.c (\"Failed to run '%s' task\", result 'resources'), systemctl "
              "('Failed to get D-Bus connection: %m' @v219-v234); moby contrib/init/sysvinit-debian/docker "
              "('$DOCKERD not present or not executable')",
       needles=("Failed to listen on", "Failed to load environment files", "task: ", "'resources'", "Failed at step",
                "not present or not executable", "Failed to get D-Bus connection")),
    _s("S24-exit-error", "dockerd's start ended with an error (its shutdown line carries it): the cause is printed",
       [r"msg=\"?Daemon shutdown complete\"?\s+error="], "cause", D.UNKNOWN, ((29, 0), (99, 99)), ("shutdown complete",),
       source="moby daemon/command/daemon.go start(): the deferred 'Daemon shutdown complete' carries retErr unless it "
              "is context.Canceled @5f3c4002 (Docker 29)", needles=("Daemon shutdown complete",)),
    _s("S15-api-emfile", "dockerd runs but cannot accept API connections: it is out of file descriptors",
       [r"http: Accept error: accept (?:unix \S*/(?:docker|balena-engine|balena)\.sock|tcp \S*:237[56]): accept4?: "
        r"too many open files"], "cause", D.DOCKERD_WEDGED, ANY, ("Accept error",),
       source="go net/http server.go (*Server).Serve 'http: Accept error: %v; retrying in %v' on the API listeners "
              "dockerd serves (unix docker.sock, tcp 2375/2376)", needles=("http: Accept error",)),
    _s("S20-ssd-running", "the init script will not start dockerd: its pidfile names a live process, yet no daemon answers",
       [r"^\S*/(?:dockerd|docker|balenad)\S* already running\.$"], "cause", D.STALE_PIDFILE, ANY, ("already running",),
       requires=rf"Cannot connect to the {ENGINE_WORDS} daemon",
       source="dpkg utils/start-stop-daemon.c ('%s already running.' when the --pidfile's pid runs the --exec binary), "
              "run by moby contrib/init/sysvinit-debian/docker (output appended to /var/log/docker.log) @v1.x-v17.x; "
              "Docker < 1.11's client is the same binary, so a reused pid matches", needles=(" already running.",)),
    _s("S10-crash-frames", "a containerd program printed raw Go stack frames: it crashed (the panic line may be cut off)",
       [rf"\b(?:{'|'.join(re.escape(p) for p in CONTAINERD_PROGRAMS)})\[\d+\]: \s*(?:\S+\.go:\d+(?: \+0x[0-9a-f]+)?|"
        r"[\w.\-/*()]+\((?:0x[0-9a-f]+(?:, ?0x[0-9a-f]+)*(?:, \.\.\.)?|\.\.\.)\))$"], "panic", None, ANY, ("+0x",),
       source="go runtime/traceback.go printed to stderr on a crash (journald tags each line with the program); a "
              "SIGUSR1 dump is one log entry or a file, never raw frames; f() frames are left to their neighbours", needles=(".go:", "(0x", "(...)")),
    _s("S10-crash-registers", "a Go program's runtime dumped the CPU registers: it crashed on a signal",
       [r"(?:^|: )(?:r\d{1,2}|fp|ip|sp|lr|pc|cpsr|fault|rax|rbx|rcx|rdx|rdi|rsi|rbp|rsp|rip|rflags|cs|fs|gs)\s{2,}"
        r"0x[0-9a-f]+$"], "panic", None, ANY, ("0x",),
       source="go runtime/signal_arm.go, signal_amd64.go dumpregs (after 'unexpected signal during runtime execution')",
       needles=("  0x",)),
    # ---- issue 16, set I: the units around the engine, Docker Desktop's backend, pre-1.0 and old clients -----
    _s("S21-ctrd-unit-failed", "systemd could not start containerd's own unit: nothing serves the socket dockerd needs",
       [r"Failed to start (?:\S+\.service - )?containerd container runtime\b",
        r"containerd[\w@.-]{0,40}\.service: [Cc]ontrol process exited, code="],
       "cause", D.CONTAINERD_DOWN, ANY, ("containerd container runtime", "control process exited"),
       source="containerd containerd.service 'Description=containerd container runtime' (Type=notify) with systemd "
              "src/core/job.c 'Failed to start %s.' and service.c 'Control process exited'; a containerd panic is the "
              "cause when it printed one (logevidence.CONSEQUENCES)",
       needles=("containerd container runtime", "ontrol process exited")),
    _s("S21-ctrd-unit-stopping", "systemd is stopping containerd's unit while dockerd waits to re-subscribe to it",
       [r"Stopping (?:\S+\.service - )?containerd container runtime\.\.\."], "cause", D.CONTAINERD_DOWN, ANY,
       ("Stopping containerd",), requires=r"Waiting for containerd to be ready to restart event processing",
       source="systemd src/core/job.c 'Stopping %s...' of containerd.service ('containerd container runtime'); moby "
              "libcontainerd/remote/client.go processEventStream 'Failed to get event' then 'Waiting for containerd to "
              "be ready to restart event processing' @v19.03-v28 (waitServe polls until containerd serves again)",
       needles=("containerd container runtime...",)),
    _s("S21-unit-dependency", "the engine's start job failed because a unit it requires failed: dockerd never ran",
       [rf"{UNIT}: Job {UNIT}/start failed with result 'dependency'",
        rf"Dependency failed for {ENGINE_WORDS} Application Container Engine"], "cause", D.UNKNOWN, ANY,
       ("dependency",), source="systemd src/core/job.c job_done_messages JOB_DEPENDENCY ('Dependency failed for %s.') "
       "and job_log_done_status (\"Job %s/%s failed with result '%s'.\"); the failed requirement's own lines, when "
       "shown, name the cause (containerd-down takes precedence)", needles=("'dependency'", "Dependency failed for")),
    _s("S21-no-socket-activation", "dockerd was given -H fd:// but not started by systemd's socket unit: no listener",
       [r"ServeAPI error: No sockets found", r"no sockets found via socket activation"], "cause", D.UNKNOWN, ANY,
       ("No sockets found", "socket activation"),
       source="moby pkg/systemd/listendfd.go ListenFD 'No sockets found' -> 'ServeAPI error' @v1.7-v1.12; "
              "daemon/listeners/listeners_linux.go listenFD 'no sockets found via socket activation: make sure the "
              "service was started by systemd' (cmd/dockerd 'Failed to load listeners: %v') @v17.x-v28",
       needles=("No sockets found", "no sockets found via socket activation")),
    _s("S27-bridge-create", "Docker < 1.0 could not create its docker0 bridge (kernel bridge support, ip tool)",
       [r"^Error creating bridge: .*\(output: "], "cause", D.UNKNOWN, ((0, 1), (0, 9)), ("Error creating bridge",),
       source="moby network.go CreateBridgeIface 'Error creating bridge: %s (output: %s)' @v0.6.0",
       needles=("Error creating bridge: ",)),
    _s("S26-desktop-engine", "Docker Desktop's backend could not start its engine VM or WSL distro: not a dockerd fault",
       [r"failed to start docker engine: dockerd failed to start: ", r"Failed to (?:deploy|check) distro\b",
        r"\[Engines\s*\]\[Error\s*\] Start failed with "], "cause", D.UNKNOWN, ANY, ("distro", "docker engine"),
       source="Docker Desktop (closed source) backend, as its own .NET frames name it: Docker.Engines.WSL2."
              "WSL2Provisioning.DeployDistroAsync / LinuxWSL2Engine.DoStartAsync (docker/for-win#7300, #11385, #13462)",
       needles=("failed to start docker engine", " distro", "Start failed with")),
    _s("S15-unit-watchdog", "systemd's watchdog killed the engine's unit (SIGABRT): the engine stopped answering",
       [rf"{UNIT}: Watchdog timeout \(limit [^)]+\)!", rf"{UNIT}: Killing process \d+ \(\S+\) with signal SIGABRT"],
       "symptom", D.DOCKERD_WEDGED, ANY, ("Watchdog timeout", "SIGABRT"), exclude=r"containerd[\w@.-]*\.service: ",
       source="systemd src/core/service.c service_dispatch_watchdog 'Watchdog timeout (limit %s)!' then the kill with "
              "WatchdogSignal= (SIGABRT by default; unit.c 'Killing process %d (%s) with signal SIG%s.'); balena.service "
              "runs under WatchdogSec with balena-healthcheck (meta-balena#2327, #2363)",
       needles=("Watchdog timeout", "with signal SIGABRT")),
    # ---- fatal catch-all: a fatal line no better signature explains ----------------------------------
    # ---- set J (issue 16): classes its first score missed ----------------------------------------------
    _s("S16-dm-pool-min-free", "devicemapper refuses a new device: its thin pool is below dm.min_free_space (full)",
       [r"devmapper: " + DM_MIN_FREE + r" \d+ free"], "cause", D.DISK_FULL, ((1, 10), (24, 99)),
       ("Thin Pool has",), source="moby daemon/graphdriver/devmapper/deviceset.go checkThinPool @v17.06.0-ce "
       "('devmapper: Thin Pool has %v free data blocks which is less than minimum required %v free data blocks')",
       needles=("less than minimum required",)),
    _s("S12-container-create", "one container could not be created, started or removed (its task, its start "
       "timeout, its mount, its root filesystem) while the daemon answers",
       [r"failed to create task for container: ", r"containerd: container did not start before the specified timeout",
        r"Handler for POST /(?:v[\d.]+/)?containers/create returned error: (?!No such |Conflict)",
        r"driver \"?(?!devicemapper)\w+\"? failed to remove root filesystem", OVERLAY_UNMOUNT_UNMOUNTED],
       "container", None, ANY, ("create", "did not start", "remove root filesystem", "unmounting"),
       source="moby libcontainerd/remote/client.go NewTask 'failed to create task for container' @v24.0.0; containerd "
              "0.2 supervisor ErrContainerStartTimeout (runtime/runtime.go @v0.2.x, its --start-timeout); moby "
              "api/server/router/container postContainersCreate via httputils 'Handler for %s %s returned error'; "
              "daemon/images/service.go 'driver %q failed to remove root filesystem' @v20.10.24; overlay2 Get's "
              "deferred unmount of a never-mounted merged dir @v20.10.24",
       needles=("failed to create task for container", "did not start before the specified timeout",
                "/create returned error", "failed to remove root filesystem", "error unmounting")),
    _s("S17-soft-lockup", "the kernel's watchdog found a CPU stuck in kernel code (soft lockup): a kernel-level hang",
       [r"BUG: soft lockup - CPU#\d+ stuck for \d+s! \[",
        r"\bPID: \d+ Comm: \S{1,40} Tainted: [A-Z ]{0,40}?L\b"], "cause", D.KERNEL_HANG, ANY, ("soft lockup", "Tainted:"),
       source="linux kernel/watchdog.c watchdog_timer_fn 'BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]' and "
              "add_taint(TAINT_SOFTLOCKUP); kernel/panic.c taint_flags 'L' in dump_stack_print_info's "
              "'CPU: %d PID: %d Comm: %.20s %s' header (a task dump after a soft lockup)",
       needles=("soft lockup", "Tainted:")),
    _s("S21-upstart-respawn-limit", "upstart stopped respawning the engine's job (its respawn limit): nothing restarts it",
       [rf"\binit: [\w.-]*{UNIT_WORDS}[\w.-]* respawning too fast, stopped"], "limit", D.START_LIMIT, ANY,
       ("respawning too fast",), source="upstart init/job_process.c job_process_terminated "
       "'%s respawning too fast, stopped' (job_catch_runaway) @upstart 1.x",
       needles=("respawning too fast",)),
    _s("S02-notify-oom-gone", "containerd 0.2 could not watch OOM events of a container whose process is already "
       "gone (benign: the restore goes on)",
       [r"containerd: notify OOM events\"?\s+error=\"?open /proc/\d+/cgroup: no such file or directory"],
       "info", None, ((1, 11), (17, 10)), ("notify OOM",),
       source="containerd supervisor/supervisor.go restore() 'containerd: notify OOM events' after MonitorOOM @v0.2.x",
       needles=("notify OOM events",)),
    _s("S15-client-connect-error", "the 1.12-era client's request to the Docker socket failed (nothing serves it)",
       [r"An error occurred trying to connect: \w+ \S*docker\.sock\S*: .*?(?:connection reset by peer|"
        r"connection refused|no such file or directory)"],
       "symptom", D.DOCKERD_DOWN, ((1, 10), (1, 13)), ("error occurred trying to connect",),
       source="docker engine-api client/request.go sendClientRequest 'An error occurred trying to connect: %v' "
              "(vendored in moby @v1.12.1)", needles=("An error occurred trying to connect",)),
    _s("S28-cri-cni-unconfigured", "containerd's CRI plugin found no CNI network config (Kubernetes pod networking, "
       "which Docker does not use; containerd itself runs)",
       [r"failed to (?:load cni during init|reload cni configuration after receiving fs change event)"],
       "info", None, ANY, ("cni",),
       source="containerd pkg/cri/server/cni_conf_syncer.go newCNINetConfSyncer/syncLoop @v1.6.0 "
              "(pkg/cri/sbserver @v1.7.0, internal/cri/server @v2.0.0)",
       needles=("load cni during init", "reload cni configuration")),
    _s("S28-ctrd-plugin-skipped", "containerd logged a plugin it skips on purpose (its init returned ErrSkipPlugin) "
       "at error level: benign, containerd goes on",
       [r"error=\"?[^\"]*: skip plugin\"?"], "info", None, ANY, ("skip plugin",),
       source="containerd tracing/plugin/otlp.go 'failed to initialize a tracing processor %q' on the otlp "
              "plugin's 'no OpenTelemetry endpoint: %w' ErrSkipPlugin @v1.6.0-v1.7.x",
       needles=(": skip plugin",)),
    _s("S28-logger-close", "dockerd could not close a container's log driver after serving its logs or an attach "
       "(one container's log file; the daemon goes on)",
       [r"Error closing logger: "], "info", None, ANY, ("closing logger",),
       source="moby daemon/logs.go ContainerLogs @v17.03.0-ce; daemon/attach.go @v19.03-v24",
       needles=("Error closing logger",)),
    _s("fatal-other", "dockerd or containerd logged a fatal error not in this catalogue",
       [r"level=fatal msg=", r"FATA\[\d+\] ", r"failed to start daemon: ", r"Error starting daemon: "],
       "symptom", None, ANY, ("fatal",), source="logrus Fatal; cmd/dockerd main",
       needles=('level=fatal', 'FATA[', 'failed to start daemon: ', 'Error starting daemon: ')),
)

MARKERS: dict[str, re.Pattern[str]] = {name: re.compile(p) for name, p in {
    "starting": r"msg=\"?Starting up\"?",
    "loading_start": r"Loading containers: start\.",
    "loading_done": r"Loading containers: done\.",
    "init_done": r"Daemon has completed initialization",
    "daemon_line": r"msg=\"?Docker daemon\"?\s+commit=|\] Docker daemon\s+commit=",
    "api_listen": r"API listen on \S+",
    "graphdriver": r"\[graphdriver\] using (?:prior )?storage driver",
    "shutdown": r"Daemon shutdown complete|Force shutdown daemon",
    # asked to stop: dockerd's signal trap (moby cmd/dockerd/trap.go, pkg/signal/trap.go before 20.10: "Processing
    # signal '%v'" on SIGINT/SIGTERM) or systemd's stop job of the engine's unit ("Stopping %s...", src/core/job.c)
    "stopping": rf"Processing signal '(?:terminated|interrupt)'|Stopping (?:\S+\.service - )?{ENGINE_WORDS} "
                r"Application Container Engine\.\.\.",
    "spawn_11": r"\bNew containerd process, pid: \d+",
    "spawn_12": r"libcontainerd: new containerd process, pid: \d+",
    "spawn_1711": r"libcontainerd: started new docker-containerd process",
    "spawn_1809": r"libcontainerd: started new containerd process",
    "spawn_28": r"(?<!libcontainerd: )started new containerd process",
    "ctrd_booted": r"containerd successfully booted in [\d.]+s",
    "dump_dockerd": r"goroutine stacks written to \S+",
    "dump_containerd": r"goroutine stack dump written to \S+",
    "unit_started": rf"Started (?:\S+\.service - )?{ENGINE_WORDS} Application Container Engine",
    "unit_restart": r"Scheduled restart job, restart counter is at \d+|Service hold-off time over, scheduling restart",
}.items()}
MARKER_NEEDLES: dict[str, tuple[str, ...]] = {
    "starting": ("Starting up",), "loading_start": ("Loading containers",), "loading_done": ("Loading containers",),
    "init_done": ("initialization",), "daemon_line": ("Docker daemon",), "api_listen": ("API listen",),
    "graphdriver": ("[graphdriver] using",),
    "shutdown": ("shutdown",), "stopping": ("Processing signal", "Application Container Engine"),
    "spawn_11": ("containerd process",), "spawn_12": ("containerd process",),
    "spawn_1711": ("containerd process",), "spawn_1809": ("containerd process",), "spawn_28": ("containerd process",),
    "ctrd_booted": ("successfully booted",), "dump_dockerd": ("goroutine stacks",), "dump_containerd": ("goroutine stack",),
    "unit_started": ("Application Container Engine",), "unit_restart": ("restart",),
}

# Which Docker versions print each spawn marker (docs/signatures.md, "The Docker version, from the log alone").
FINGERPRINTS: dict[str, tuple[V, V]] = {
    "spawn_11": ((1, 11), (1, 11)), "spawn_12": ((1, 12), (17, 10)), "spawn_1711": ((17, 11), (18, 6)),
    "spawn_1809": ((18, 9), (27, 99)), "spawn_28": ((28, 0), (99, 99)),
}
START_MARKERS = ("starting", "spawn_11", "spawn_12", "spawn_1711")  # a new start attempt begins
READY_MARKERS = ("init_done", "api_listen", "loading_done", "daemon_line")
# Docker <= 1.9 served its API before it initialized (docker/daemon.go @v1.9.1: ServeAPI logs 'API listen on', then
# NewDaemon picks the graph driver and loads the containers, then AcceptConnections): an `API listen on` that one of
# these follows is that early listen, not a completed start (1.10+ listens last, cmd/dockerd/daemon.go @v1.12.1)
INIT_STEP_MARKERS = ("graphdriver", "loading_start")

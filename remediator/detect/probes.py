"""One probe round against one host: every read-only probe at once, each under a hard deadline.

Role: observe (docs/evidence.md: timed API probes, the view from outside): socket connect, /_ping, /version,
/info, /containers/json, containerd's gRPC socket, dockerd/containerd process state from /proc,
daemon log lines new since the last round, disk and inode use of both roots, kernel hung-task
messages. A Prober keeps the cursors (log, kernel) and pids between rounds, so each round sees
only what is new and restarts are counted. Must not: change anything, or decide (verdict.py does).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from remediator.clock import SYSTEM, Clock
from remediator.detect.facts import Facts
from remediator.detect.signatures import SIGNATURES
from remediator.errors import Denied, HostError
from remediator.hosts import procs as procmod
from remediator.hosts.port import Host, Ping
from remediator.hosts.service import ServiceView
from remediator.settings import SystemdService
from remediator.structs import Proc
from remediator.vocab import PingOutcome as O

HUNG_MEMORY = 600.0  # seconds a hung-task report keeps counting
RUNC_STATE = "runtime-runc/moby"  # runc's state of dockerd's containers, under the exec-root (Docker 17.11+)
SETTLED_SHIM = 10.0  # seconds a shim younger than dockerd must have run before its container's absence counts
API = {"_ping": "/_ping", "version": "/version", "info": "/info", "containers": "/containers/json?all=1"}
KERNEL_HANG = tuple(s for s in SIGNATURES if s.id in ("S17-hung-task", "S17-netdev-refcount"))


# Why a probe failed when the host is not to blame: the operator's own environment (remediator.access).
ACCESS, MISSING_BINARY, WRONG_SOCKET = "access", "missing-binary", "wrong-socket"
OPERATOR_CAUSES = (ACCESS, MISSING_BINARY, WRONG_SOCKET)
# Every outcome is evidence about the host or the operator's own environment, never neither (tests/unit/test_vocab_use.py)
HOST_OUTCOMES = frozenset({O.OK, O.SLOW, O.TIMEOUT, O.REFUSED, O.MISSING, O.ERROR, O.ABSENT, O.NA, O.FULL, O.HUNG_TASK})
OPERATOR_OUTCOMES: dict[O, str] = {O.DENIED: ACCESS, O.MISSING_BINARY: MISSING_BINARY}  # outcome -> its cause


def broken_runc_state(host: Host, data_root: str, exec_root: str, served: frozenset[str] = frozenset()) -> set[str]:
    """The containers whose runc state under the exec-root runc cannot read (state.json missing, not JSON): runc
    can neither delete it nor create the container again ('container with id exists'). A readable state of a dead
    container is no fault: the shim deletes it before the next create. Those a shim serves (`served`) are running
    and are not read: a round reads only the state of containers without a shim."""
    ids = set(host.listdir(f"{data_root}/containers"))
    broken = set()
    for cid in host.listdir(f"{exec_root}/{RUNC_STATE}"):
        if cid not in ids or cid in served:
            continue
        try:
            ok = isinstance(json.loads(host.read_text(f"{exec_root}/{RUNC_STATE}/{cid}/state.json", limit=1 << 20)), dict)
        except (HostError, ValueError):
            ok = False
        if not ok:
            broken.add(cid)
    return broken


@dataclass(frozen=True)
class Obs:
    """One observation. outcome: ok | slow | timeout | refused | missing | error | absent | na, or denied |
    missing-binary (the operator's environment). cause: "" when the outcome is evidence about the host, else
    access | missing-binary | wrong-socket — set in one place, `blame`."""

    name: str
    outcome: O
    latency: float = 0.0
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    cause: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome in (O.OK, O.SLOW)


def blame(o: Obs, facts: Facts) -> Obs:
    """THE classification of a failed probe: evidence that the host is sick, or the operator's own environment
    (access is not health). EACCES/EPERM anywhere -> access; a program that is not installed -> missing-binary;
    the Docker socket missing while the running dockerd listens elsewhere (its -H) -> wrong-socket. The verdict
    reads only `cause` (detect/verdict.py: any operator cause makes the round `no-access`)."""
    if o.cause or o.answered:
        return o
    if cause := OPERATOR_OUTCOMES.get(o.outcome):
        return replace(o, cause=cause)
    if o.name in ("socket", *API) and o.outcome == O.MISSING and (where := facts.listens_elsewhere()):
        return replace(o, cause=WRONG_SOCKET, detail=f"{o.detail}; the running dockerd (pid {facts.dockerd_pid}) "
                       f"listens on {where}, not on the configured {facts.docker_host}")
    return o


@dataclass
class Round:
    number: int
    at: float
    obs: dict[str, Obs]
    log_lines: list[str]  # daemon log lines new since the previous round
    kernel_lines: list[str]
    wall: float = 0.0
    cpu: float = 0.0

    def __getitem__(self, name: str) -> Obs:
        return self.obs.get(name, Obs(name, O.NA, detail="not probed"))


@dataclass
class ProbeSettings:
    timeout: float = 5.0  # hard deadline of each API/socket probe
    slow: float = 1.0  # an answer later than this makes the round `degraded`
    min_free_percent: float = 1.0  # disk or inodes below this on either root: disk-full


def _api(host: Host, path: str, s: ProbeSettings) -> Callable[[], Obs]:
    def probe() -> Obs:
        return _from_ping(path, host.ping(timeout=s.timeout, path=path), s)
    return probe


def _from_ping(name: str, p: Ping, s: ProbeSettings) -> Obs:
    outcome = O.SLOW if p.ok and p.latency > s.slow else p.outcome
    return Obs(name, outcome, p.latency, p.detail)


class Prober:
    """Runs rounds against one host. Not thread-safe: one Prober per host."""

    def __init__(self, host: Host, service: ServiceView, facts: Facts, settings: ProbeSettings | None = None,
                 clock: Clock = SYSTEM) -> None:
        self.host, self.service, self.facts = host, service, facts
        self.clock = clock  # the hung-task memory and the round's timestamp (its deadline is the probes' real time)
        self.s = settings or ProbeSettings()
        self.rounds = 0
        self.log_cursor: str | None = None
        self.kmsg_seq: int | None = None
        self.pids: dict[str, int] = {}
        self.restarts: dict[str, int] = {"dockerd": 0, "containerd": 0}
        self.kept: dict[str, int] = {}  # container id -> pid of the settled shim that keeps its process (last round)
        self.served: set[str] = set()  # container ids any shim of this dockerd serves (last round)
        self.runc: set[str] = set()  # container ids whose runc state runc cannot read (last round)
        self.hung: list[tuple[float, str]] = []

    # ---- probes that need state between rounds run on the caller's thread -----------------
    def _procs(self) -> list[Obs]:
        fam = self.host.family(data_root=self.facts.data_root, exec_root=self.facts.exec_root,
                               containerd_sock=self.facts.containerd_sock)
        out = []
        for name, found in (("dockerd", fam.dockerd), ("containerd", fam.containerd)):
            p = found[0] if found else None
            h = self.host.health(p) if p else None
            ignored = fam.ignored(name)  # look-alikes the trust rule refused: said, never used (hosts/trust.py)
            if name == "dockerd" and (why := self._unproven(p)):
                out.append(Obs("dockerd-proc", O.DENIED, detail=why))
                continue
            if p is None or h is None or not p.alive:
                out.append(Obs(f"{name}-proc", O.ABSENT, detail="; ".join([f"no {name} process of this host"] + ignored),
                               data={"ignored": ignored} if ignored else {}))
                continue
            if name in self.pids and self.pids[name] != p.pid:
                self.restarts[name] += 1
            self.pids[name] = p.pid
            out.append(Obs(f"{name}-proc", O.OK, detail="; ".join([f"pid {p.pid} {h.describe()}"] + ignored),
                           data={"pid": p.pid, "state": h.state, "threads": h.threads, "dstate": len(h.dstate),
                                 "wchan": h.wchan, "uptime": round(h.uptime, 1), "restarts": self.restarts[name]}))
        parents = {c.ppid for c in fam.containers}
        leaked = [s.pid for s in fam.shims if s.pid not in parents]  # S19 (docs/signatures.md): a shim with no container left
        self.kept = {cid: s.pid for s in fam.shims if s.pid in parents and (cid := procmod.shim_container_id(s))
                     and self._settled(s, fam.dockerd[0] if fam.dockerd else None)}
        self.served = {cid for s in fam.shims if (cid := procmod.shim_container_id(s))}
        self.runc = broken_runc_state(self.host, self.facts.data_root, self.facts.exec_root, frozenset(self.served))
        out.append(Obs("shims", O.OK, detail=f"{len(fam.shims)} shim(s), {len(fam.containers)} container process(es)"
                       + (f"; {len(leaked)} shim(s) without a container (S19): {leaked[:5]}" if leaked else ""),
                       data={"shims": len(fam.shims), "containers": len(fam.containers), "leaked_shims": len(leaked)}))
        return out

    def _settled(self, shim: Proc, dockerd: Proc | None) -> bool:
        """A shim no container start can be in the middle of: older than the running dockerd (a generation before
        it), or running for SETTLED_SHIM seconds."""
        if dockerd is not None and dockerd.start and shim.start and shim.start < dockerd.start:
            return True
        return (h := self.host.health(shim)) is not None and h.uptime >= SETTLED_SHIM

    def _running_ids(self) -> set[str] | None:
        """The ids of the containers dockerd lists as running (paused included); None when it does not say."""
        try:
            listed = self.host.docker_call("containers", timeout=self.s.timeout) or []
            return {str(c["Id"]) for c in listed}
        except Exception:  # noqa: BLE001 - any failure to list is "dockerd did not say": the API probes judge it
            return None

    def _invisible(self, shims: Obs, listing: cf.Future[set[str] | None], deadline: float) -> Obs:
        """The shims observation, with what containerd lost, read against what dockerd lists as running:
        invisible — containers whose process a settled shim of this dockerd keeps (containerd lost their tasks: its
        metadata is gone or was reset); stale_runc — containers with unreadable runc state and no shim at all (a start fails
        'container with id exists')."""
        if not self.kept and not self.runc:
            return shims
        try:
            running = listing.result(timeout=max(0.0, deadline - time.monotonic()))
        except cf.TimeoutError:
            running = None
        if running is None:
            return shims
        unseen = sorted(set(self.kept) - running)
        stale = sorted(self.runc - running - self.served)
        detail = shims.detail + (f"; {len(unseen)} container(s) run under a shim of this dockerd but dockerd does not "
                                 f"list them as running: {', '.join(c[:12] for c in unseen[:5])}" if unseen else "")
        detail += (f"; {len(stale)} container(s) not running, with no shim, and runc state runc cannot read in "
                   f"{RUNC_STATE}: {', '.join(c[:12] for c in stale[:5])}" if stale else "")
        return replace(shims, detail=detail, data={**shims.data, **({"invisible": [c[:12] for c in unseen]} if unseen else {}),
                                                   **({"stale_runc": [c[:12] for c in stale]} if stale else {})})

    def _unproven(self, p: Proc | None) -> str:
        """Why dockerd's identity cannot be read here ("" when it can, or when no dockerd-like process exists): its
        /proc/<pid>/exe is closed to this user, so neither "it runs" nor "it is absent" is evidence."""
        cands = [p] if p is not None else [q for q in self.host.procs() if q.alive and q.comm == "dockerd"]
        for q in cands:
            if not q.exe and (why := self.host.denied(f"/proc/{q.pid}/exe")):
                return f"a process named dockerd (pid {q.pid}) cannot be proven to be this host's: {why}"
        return ""

    def _environment(self) -> list[Obs]:
        """What reading the facts met in the operator's environment (a program not installed, a file closed)."""
        return [Obs(f"facts-{i}", O(kind), detail=what) for i, (kind, what) in enumerate(self.facts.blocked, 1)]

    def _log(self) -> Obs:
        """New daemon log lines (kept on the Prober); `denied` when the log file is closed to this user."""
        path = getattr(self.host.config.service, "log", "") or ""
        if path and (why := self.host.denied(path)):
            return Obs("log", O.DENIED, detail=f"daemon log: {why}")
        if isinstance(self.host.config.service, SystemdService) and (why := self.host.journal_denied()):
            return Obs("log", O.DENIED, detail=f"daemon log (journal of {self.host.config.service.unit}): {why}")
        return Obs("log", O.OK, detail=f"daemon log {path or '(journal)'}")

    def _disk(self) -> Obs:
        worst: tuple[float, str] = (100.0, "")
        rows: dict[str, list[str]] = {}
        for label, root in (("data-root", self.facts.data_root), ("exec-root", self.facts.exec_root)):
            if why := self.host.denied(root):  # statvfs would climb to a parent's filesystem: not evidence
                return Obs("disk", O.DENIED, detail=f"{label}: {why}")
            du = self.host.disk_usage(root)
            rows.setdefault(f"{du.free_percent:.1f}% free ({du.free >> 20} MiB), inodes {du.free_inodes_percent:.1f}% free",
                            []).append(label)
            worst = min(worst, (du.free_percent, label), (du.free_inodes_percent, f"{label} (inodes)"))
        full = worst[0] < self.s.min_free_percent
        return Obs("disk", O.FULL if full else O.OK, detail="; ".join(f"{' and '.join(v)}: {k}" for k, v in rows.items()),
                   data={"worst_free_percent": round(worst[0], 2), "where": worst[1]})

    def round(self) -> Round:
        """One round. Wall time is bounded by the probe timeout (plus /proc reading)."""
        t0, c0 = time.monotonic(), time.process_time()
        self.rounds += 1
        probes: dict[str, Callable[[], Obs]] = {name: _api(self.host, path, self.s) for name, path in API.items()}
        probes["socket"] = lambda: _from_ping("socket", self.host.connect(self.host.config.socket_path, self.s.timeout), self.s)
        if self.facts.containerd_sock:
            sock = self.facts.containerd_sock
            probes["containerd"] = lambda: _from_ping("containerd", self.host.grpc_ping(sock, self.s.timeout), self.s)
        obs: dict[str, Obs] = {}
        pool = cf.ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="probe")
        futures = {name: pool.submit(fn) for name, fn in probes.items()}
        listing = pool.submit(self._running_ids)
        try:
            for o in self._procs() + [self._disk(), self._log(), *self._environment()]:
                obs[o.name] = o
            text, self.log_cursor = self.service.log_since(self.log_cursor)
            try:
                kernel, self.kmsg_seq = self.host.kmsg_since(self.kmsg_seq)
                kmsg_denied = ""
            except Denied as exc:
                kernel, kmsg_denied = [], str(exc)
            deadline = t0 + self.s.timeout + 1.0
            for name, fut in futures.items():
                try:
                    obs[name] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
                except cf.TimeoutError:
                    obs[name] = Obs(name, O.TIMEOUT, self.s.timeout, "probe did not return within its deadline")
            obs["shims"] = self._invisible(obs["shims"], listing, deadline)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        now = self.clock.monotonic()
        fresh = [(now, k) for k in kernel if any(s.matches(k) for s in KERNEL_HANG)]
        self.hung = [(t, k) for t, k in self.hung if now - t < HUNG_MEMORY] + fresh
        hung = [k for _, k in self.hung]  # remembered across rounds: the kernel reports a hung task once
        obs["kernel"] = Obs("kernel", O.DENIED, detail=kmsg_denied) if kmsg_denied else \
            Obs("kernel", O.HUNG_TASK if hung else O.OK, detail=hung[-1] if hung else
                f"{len(kernel)} new kernel message(s), no hung task", data={"hung": hung[-5:]})
        obs = {name: blame(o, self.facts) for name, o in obs.items()}
        return Round(self.rounds, self.clock.wall(), obs, text.splitlines(), kernel,
                     wall=time.monotonic() - t0, cpu=time.process_time() - c0)

"""FakeHost: the Host port without a machine, for the unit tests (one fake, shipped, typed).

Processes, the Docker API, containerd's socket and the kernel log are scripted; files are the real
filesystem (tests give it tmp paths), and the state surgery (`fs`) is the local one with `faults`: the Nth
removal or rename can fail with EIO, as a dying disk would. Every signal and command is recorded, nothing
is ever sent. Who a process is (its uids and image, hosts/trust.py) is scripted in `identities` (a pid not
listed is root running a root-only image) and the pids it "started" in `started`. FakeService is the
service Controller without a daemon: a scripted log, calls recorded.
Must not: touch a real process or daemon.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from remediator.errors import Denied, HostError
from remediator.hosts import procs as procmod
from remediator.hosts import trust
from remediator.hosts.fsops import Mutations
from remediator.hosts.port import DiskUsage, LocalFiles, Ping
from remediator.hosts.statefiles import LocalStateFiles
from remediator.safeio import open_regular
from remediator.settings import HostConfig
from remediator.structs import CommandResult, Proc
from remediator.vocab import PingOutcome


@dataclass
class Faults(Mutations):
    """The state surgery's removals and renames, real, except the Nth of a kind, which raises OSError(EIO)."""

    fail_removal: int | None = None  # 1-based: an unlink or a whole-subtree removal
    fail_rename: int | None = None  # 1-based: a rename or a move
    removals: int = 0
    renames: int = 0
    error: int = errno.EIO  # what the failing one raises (ENOSPC: the filesystem filled)

    def _fail(self, path: str) -> None:
        raise OSError(self.error, f"{os.strerror(self.error)} (injected)", path)

    def _removal(self, path: str) -> None:
        self.removals += 1
        if self.removals == self.fail_removal:
            self._fail(path)

    def _rename(self, path: str) -> None:
        self.renames += 1
        if self.renames == self.fail_rename:
            self._fail(path)

    def unlink(self, path: str) -> None:
        self._removal(path)
        super().unlink(path)

    def rmtree(self, path: str) -> None:
        self._removal(path)
        super().rmtree(path)

    def rename(self, src: str, dst: str) -> None:
        self._rename(src)
        super().rename(src, dst)

    def move(self, src: str, dst: str) -> None:
        self._rename(src)
        super().move(src, dst)


@dataclass
class FakeHost(LocalFiles):
    config: HostConfig = field(default_factory=lambda: HostConfig(name="fake"))
    processes: list[Proc] = field(default_factory=list)
    healths: dict[int, procmod.Health] = field(default_factory=dict)
    pings: dict[str, Ping] = field(default_factory=dict)  # path -> answer; default ok
    ping_hook: Callable[[str], None] | None = None  # called before answering (a test may stall here)
    sockets: dict[str, Ping] = field(default_factory=dict)  # socket path -> connect/grpc answer; default ok
    kernel: list[str] = field(default_factory=list)  # kernel messages not read yet
    docker: dict[str, Callable[..., Any]] = field(default_factory=dict)  # SDK method name -> handler
    commands: dict[tuple[str, ...], CommandResult] = field(default_factory=dict)
    disk: DiskUsage = field(default_factory=lambda: DiskUsage(free=50 << 30, total=100 << 30, free_inodes=10 << 20,
                                                              total_inodes=20 << 20))  # half full, room for a backup
    family_of: Callable[[list[Proc]], procmod.Family] | None = None  # default: the proven family over `processes`
    # who each process is (hosts/trust.py); a pid not listed is root running a root-only image
    identities: dict[int, trust.Identity] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)  # pids "this remediator started" (the service link)
    signals: list[tuple[int, int]] = field(default_factory=list)  # (pid, signal) sent
    ran: list[tuple[str, ...]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    journal_hidden: str = ""  # non-empty: journal_denied() says it (this user may not read the system journal)
    kmsg_denied: str = ""  # non-empty: kmsg_since raises Denied with it (dmesg_restrict for this user)
    denials: dict[str, str] = field(default_factory=dict)  # path -> why this user may not use it (default: the real check)

    def __post_init__(self) -> None:
        self.fs = LocalStateFiles(self.faults)

    @property
    def name(self) -> str:
        return self.config.name

    def run(self, argv: Sequence[str], *, timeout: float, ok_codes: Sequence[int] = (0,)) -> CommandResult:
        self.ran.append(tuple(argv))
        return self.commands.get(tuple(argv), CommandResult(tuple(argv), 0, "", "", 0.0))

    def spawn_detached(self, argv: Sequence[str], *, log: str) -> int:
        self.ran.append(tuple(argv))
        self.started.add(99999)
        return 99999

    def reap(self) -> None:
        return None

    def procs(self) -> list[Proc]:
        return list(self.processes)

    def proc(self, pid: int) -> Proc | None:
        return next((p for p in self.processes if p.pid == pid), None)

    def family(self, *, data_root: str, exec_root: str, containerd_sock: str = "") -> procmod.Family:
        if self.family_of is not None:
            return self.family_of(self.processes)
        return trust.proven_family(self, self.procs(), data_root=data_root, exec_root=exec_root)

    def health(self, p: Proc) -> procmod.Health | None:
        return self.healths.get(p.pid, procmod.Health(pid=p.pid, state=p.state, threads=1, dstate=(), wchan="", uptime=60.0))

    def identity(self, p: Proc) -> trust.Identity | None:
        if p.pid in self.identities:
            return self.identities[p.pid]
        return trust.Identity(uid=0, euid=0, exe=p.exe, exe_file=None, exe_unsafe=None)

    def spawned(self) -> frozenset[int]:
        return frozenset(self.started)

    def signal(self, target: Proc, sig: signal.Signals, *, same_program: bool = True) -> bool:
        self.signals.append((target.pid, int(sig)))
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.processes = [p for p in self.processes if p.pid != target.pid]
        return True

    def wait_gone(self, targets: Sequence[Proc], timeout: float) -> list[Proc]:
        alive = {p.pid for p in self.processes}
        return [t for t in targets if t.pid in alive]

    def kmsg_since(self, seq: int | None, *, window: float = 600.0) -> tuple[list[str], int | None]:
        if self.kmsg_denied:
            raise Denied(self.kmsg_denied)
        out, self.kernel = self.kernel, []
        return out, (seq or 0) + len(out)

    def ping(self, timeout: float = 2.0, path: str = "/_ping") -> Ping:
        if self.ping_hook is not None:
            self.ping_hook(path)
        return self.pings.get(path, Ping(PingOutcome.OK, 0.001))

    def connect(self, sock_path: str, timeout: float) -> Ping:
        return self.sockets.get(sock_path, Ping(PingOutcome.OK, 0.0001))

    def grpc_ping(self, sock_path: str, timeout: float) -> Ping:
        return self.sockets.get(sock_path, Ping(PingOutcome.OK, 0.0002))

    def docker_call(self, fn_name: str, *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
        return self.docker[fn_name](*args, **kwargs)

    def denied(self, path: str, *, write: bool = False) -> str | None:
        return self.denials.get(path) or super().denied(path, write=write)

    def journal_denied(self) -> str | None:
        return self.journal_hidden or super().journal_denied()

    def read_text(self, path: str, *, limit: int = 4 << 20) -> str:
        try:
            with open_regular(path) as fh:
                return fh.read(limit).decode(errors="replace")
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror}") from exc

    def read_new(self, path: str, cursor: str | None, *, first: int = 256 << 10) -> tuple[str, str | None]:
        try:
            text = self.read_text(path)
        except HostError:
            return "", cursor
        pos = int(cursor or 0)
        return text[pos:], str(len(text))

    def disk_usage(self, path: str) -> DiskUsage:
        return self.disk

    def free_bytes(self, path: str) -> int:
        return self.disk.free


@dataclass
class FakeService:
    """The service Controller port without a daemon: `log` is what the daemon wrote (a test appends to it),
    `dockerd` what find() answers; stop and start are recorded and change nothing else."""

    log: str = ""
    dockerd: Proc | None = None
    calls: list[str] = field(default_factory=list)

    def find(self) -> Proc | None:
        return self.dockerd

    def stop(self, grace: float) -> list[str]:
        self.calls.append("stop")
        self.dockerd = None
        return ["dockerd stopped (fake)"]

    def start(self, timeout: float) -> list[str]:
        self.calls.append("start")
        return ["dockerd started (fake)"]

    def plan_stop(self, grace: float) -> str:
        return "would stop dockerd (fake)"

    def plan_start(self) -> str:
        return "would start dockerd (fake)"

    def log_tail(self, nbytes: int = 256 << 10) -> str:
        return self.log[-nbytes:] if nbytes else self.log

    def log_since(self, cursor: str | None) -> tuple[str, str | None]:
        pos = int(cursor or 0)
        return self.log[pos:], str(len(self.log))


def _conforms(h: FakeHost, s: FakeService) -> None:
    """mypy checks here that FakeHost implements the whole Host port, FakeService the Controller."""
    from remediator.hosts.port import Host
    from remediator.hosts.service import Controller

    _: Host = h
    _c: Controller = s

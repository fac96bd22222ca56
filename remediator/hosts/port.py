"""The Host port: every operation the upper layers need from a machine, as one Protocol.

Role: the contract LocalHost (this machine) implements today, FakeHost (hosts/fake.py) implements for the
unit tests, and an SSH host would implement next. Upper layers type against `Host` and get one from
`remediator.hosts.connect`; nothing outside `remediator.hosts` imports `hosts.local` (an import contract).
Must not: do anything itself.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from remediator.hosts import procs as procmod
from remediator.settings import HostConfig
from remediator.structs import CommandResult, Proc


@dataclass(frozen=True)
class Ping:
    """One timed request to the Docker API: ok, or why not (missing / refused / timeout / error)."""

    outcome: str
    latency: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class DiskUsage:
    free: int
    total: int
    free_inodes: int
    total_inodes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total else 100.0

    @property
    def free_inodes_percent(self) -> float:
        return 100.0 * self.free_inodes / self.total_inodes if self.total_inodes else 100.0


class LocalFiles:
    """File reads on this machine's filesystem: shared by LocalHost and FakeHost (whose files are real)."""

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []


class Host(Protocol):
    config: HostConfig

    @property
    def name(self) -> str: ...

    # commands and processes
    def run(self, argv: Sequence[str], *, timeout: float, ok_codes: Sequence[int] = (0,)) -> CommandResult: ...
    def spawn_detached(self, argv: Sequence[str], *, log: str) -> int: ...
    def reap(self) -> None: ...
    def procs(self) -> list[Proc]: ...
    def proc(self, pid: int) -> Proc | None: ...
    def family(self, *, data_root: str, exec_root: str, containerd_sock: str = "") -> procmod.Family: ...
    def health(self, p: Proc) -> procmod.Health | None: ...
    def signal(self, target: Proc, sig: signal.Signals, *, same_program: bool = True) -> bool: ...
    def wait_gone(self, targets: Sequence[Proc], timeout: float) -> list[Proc]: ...
    def kmsg_since(self, seq: int | None, *, window: float = 600.0) -> tuple[list[str], int | None]: ...

    # the Docker API and containerd's socket, each under a hard deadline
    def ping(self, timeout: float = 2.0, path: str = "/_ping") -> Ping: ...
    def connect(self, sock_path: str, timeout: float) -> Ping: ...
    def grpc_ping(self, sock_path: str, timeout: float) -> Ping: ...
    def docker_call(self, fn_name: str, *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any: ...

    # files (reads; the state surgery is hosts.fsops, confined to the roots)
    def read_text(self, path: str, *, limit: int = 4 << 20) -> str: ...
    def read_new(self, path: str, cursor: str | None, *, first: int = 256 << 10) -> tuple[str, str | None]: ...
    def exists(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def disk_usage(self, path: str) -> DiskUsage: ...
    def free_bytes(self, path: str) -> int: ...

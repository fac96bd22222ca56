"""The Host port: every operation the upper layers need from a machine, as one Protocol.

Role: the contract LocalHost (this machine) implements today, FakeHost (hosts/fake.py) implements for the
unit tests, and an SSH host would implement next. Upper layers type against `Host` and get one from
`remediator.hosts.connect`; nothing outside `remediator.hosts` imports `hosts.local`, `hosts.fsops`,
`hosts.quarantine` or `hosts.procfs` (import contracts): the state surgery is `host.fs` (StateFiles),
/proc is `host.procs/proc/health/family` and `host.read_text`.

Two sides. *Host-side* paths name files on the machine being healed: the roots (data-root, exec-root),
every path a runbook names, the quarantine directory under a root, /proc. *Operator-side* paths name files
on the machine remediator runs on: the incident directory, with its backups, manifests, evidence and
displaced trees, is always there (an SSH host copies a backup from the host to the operator, never the
reverse). Each StateFiles method says which of its arguments are which; for LocalHost and FakeHost the two
sides are one filesystem.
Must not: do anything itself.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from remediator import access
from remediator.hosts import procs as procmod
from remediator.hosts import trust
from remediator.settings import HostConfig
from remediator.structs import CommandResult, Proc
from remediator.vocab import PingOutcome


@dataclass(frozen=True)
class Ping:
    """One timed request to the Docker API: ok, or why not (missing / refused / timeout / error; denied: EACCES or
    EPERM, the operator's own access, never the daemon's health)."""

    outcome: PingOutcome
    latency: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == PingOutcome.OK


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


@dataclass(frozen=True)
class Entry:
    """One entry of a walked tree (StateFiles.walk), as a backup manifest records it."""

    rel: str  # path relative to the tree root, "." for the root itself
    kind: str  # dir | file | symlink | fifo | socket | mount | other
    mode: int
    size: int
    mtime_ns: int
    sha256: str = ""
    target: str = ""  # symlink target, never followed


@dataclass(frozen=True)
class FileInfo:
    size: int
    mtime: float


Manifest = dict[str, object]  # {"source": host path, "backup": operator path, "entries": [...], "files", "bytes"}
Record = dict[str, object]  # a quarantine record: {"source": host path, "quarantine": host path | None, mode, uid, gid}


class StateFiles(Protocol):
    """The state surgery on a host's files: confined to the roots, never through a symlink, never into a
    mount, nothing removed without a verified copy. Host-side: path, top, paths, roots, qdir, root, base and
    a record's paths. Operator-side: dest, backup, displaced_base and the manifest's "backup"."""

    def confine(self, path: str, roots: Sequence[str]) -> str:
        """path if it lies strictly inside a root with no symlink on the way down, else UnsafeOperation."""
        ...
    def walk(self, top: str, *, hashes: bool = True) -> Iterator[Entry]: ...
    def tree_stats(self, top: str) -> tuple[int, int]:
        """(entries below top, bytes of their files); (0, 0) if top is missing."""
        ...
    def tree_size(self, top: str) -> int: ...
    def tree_digest(self, paths: Sequence[str]) -> str: ...
    def free_name(self, base: str, *suffixes: str) -> str:
        """base.N for the first host-side N where base.N (and base.N<suffix>) does not exist yet."""
        ...

    # copy-based: host tree -> operator backup -> host tree
    def backup_tree(self, src: str, dest: str) -> Manifest:
        """Copy host-side src to operator-side dest (new), verify the copy, write dest.manifest.json."""
        ...
    def copy_once(self, src: str, dest: str) -> Manifest:
        """backup_tree, safe to run again after a kill: a verified copy at dest is reused, a cut one set aside."""
        ...
    def verify_backup(self, backup: str, manifest: Manifest) -> None:
        """The operator-side copy matches its manifest byte for byte, else BackupError."""
        ...
    def verify_tree(self, tree: str, manifest: Manifest) -> None:
        """The host-side tree matches the manifest byte for byte, else BackupError."""
        ...
    def set_aside_partial(self, backup: str) -> str | None:
        """Move an untrusted operator-side copy (and its manifest) to backup.partial.N; None if there is none."""
        ...
    def clear_tree(self, path: str, roots: Sequence[str], manifest: Manifest | None) -> int: ...
    def restore_tree(self, path: str, roots: Sequence[str], manifest: Manifest, displaced_base: str) -> str:
        """Put the backup back at path, verified; what is there now goes to the operator-side free name
        displaced_base.N, which is returned."""
        ...

    # rename-based, on the host's own filesystem
    def quarantine_dir(self, root: str, incident: str) -> str: ...
    def remove_quarantine_dir(self, root: str, incident: str) -> None:
        """rmdir the incident's emptied quarantine directory under root (and its parent, if empty)."""
        ...
    def quarantine_tree(self, path: str, roots: Sequence[str], qdir: str) -> Record: ...
    def quarantine_record(self, path: str, qdir: str) -> Record | None:
        """What quarantine_tree recorded for path, if the tree was moved aside (a failed or cut step's trace)."""
        ...
    def unquarantine_tree(self, record: Record, roots: Sequence[str], displaced: str) -> str: ...
    def not_back(self, record: Record) -> str | None:
        """Why the tree of a record is not back at its source after a rollback (None: it is, the very directory)."""
        ...
    def archive_tree(self, record: Record, backup: str) -> Manifest:
        """Copy a quarantine to the operator-side backup, verify it, then remove the quarantine."""
        ...

    # one small file (a pidfile)
    def quarantine_file(self, path: str, roots: Sequence[str], dest: str) -> bytes:
        """Copy host-side path to operator-side dest, verify it, unlink path; return the content."""
        ...
    def restore_file(self, backup: str, path: str, roots: Sequence[str]) -> bool:
        """Write operator-side backup back to host-side path unless something took its place."""
        ...


class LocalFiles:
    """File reads on this machine's filesystem: shared by LocalHost and FakeHost (whose files are real)."""

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def file_info(self, path: str) -> FileInfo | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return FileInfo(size=st.st_size, mtime=st.st_mtime)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def path_unsafe(self, path: str) -> str | None:
        """Why a non-root user could write or replace path (hosts/trust.py), None when only root can."""
        return trust.unsafe_path(path)

    def file_key(self, path: str) -> trust.FileKey | None:
        """(device, inode) of what path names, following links; None if it is missing."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def which(self, name: str) -> str | None:
        """The absolute path a command name resolves to on the host (root's PATH), None if none."""
        return name if os.path.isabs(name) else shutil.which(name)

    def denied(self, path: str, *, write: bool = False) -> str | None:
        """Why this user may not read (write) path, naming the directory or file that stops it; None when nothing
        denies it (a path that is not there is not denied). See remediator.access."""
        return access.blocker(path, os.W_OK if write else os.R_OK)

    def journal_denied(self) -> str | None:
        """Why journalctl would hide dockerd's unit from this user (None when it may read it)."""
        return access.journal_blocker()


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
    def identity(self, p: Proc) -> trust.Identity | None:
        """Who the process is, as only the kernel can say: uids, image identity (hosts/trust.py judges it)."""
        ...
    def spawned(self) -> frozenset[int]:
        """Pids of the daemons this remediator started (spawn_detached)."""
        ...
    def signal(self, target: Proc, sig: signal.Signals, *, same_program: bool = True) -> bool: ...
    def wait_gone(self, targets: Sequence[Proc], timeout: float) -> list[Proc]: ...
    def kmsg_since(self, seq: int | None, *, window: float = 600.0) -> tuple[list[str], int | None]:
        """New kernel messages; errors.Denied when this user may not read them."""
        ...

    # the Docker API and containerd's socket, each under a hard deadline
    def ping(self, timeout: float = 2.0, path: str = "/_ping") -> Ping: ...
    def connect(self, sock_path: str, timeout: float) -> Ping: ...
    def grpc_ping(self, sock_path: str, timeout: float) -> Ping: ...
    def docker_call(self, fn_name: str, *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any: ...

    # files: reads here (host-side); the state surgery is `fs`
    @property
    def fs(self) -> StateFiles: ...
    def read_text(self, path: str, *, limit: int = 4 << 20) -> str: ...
    def read_new(self, path: str, cursor: str | None, *, first: int = 256 << 10) -> tuple[str, str | None]: ...
    def exists(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def file_info(self, path: str) -> FileInfo | None: ...
    def path_unsafe(self, path: str) -> str | None: ...
    def file_key(self, path: str) -> trust.FileKey | None: ...
    def which(self, name: str) -> str | None: ...
    def denied(self, path: str, *, write: bool = False) -> str | None: ...
    def journal_denied(self) -> str | None: ...
    def disk_usage(self, path: str) -> DiskUsage: ...
    def free_bytes(self, path: str) -> int: ...

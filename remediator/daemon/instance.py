"""One daemon per state directory and per API socket: a lock taken before anything else is touched.

Role: `remediator daemon` takes an exclusive flock on <state_dir>/daemon.lock and on <api_socket>.lock before it
opens the store, the journal or the socket. A second daemon on the same config (or on the same socket, or the
same state directory) finds a lock held and stops with exit 2 naming the holder's pid, having changed nothing:
in particular it never unlinks the first one's socket. The kernel drops the lock when the holder dies (even by
SIGKILL), so a stale lock file is never a reason to refuse. `status` asks the same lock whether a daemon runs.
Must not: unlink a lock file (another process may hold it open), or wait for a lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from remediator import access, modes
from remediator.errors import InputError


def _lock_paths(state_dir: Path, api_socket: str) -> list[Path]:
    return [state_dir / "daemon.lock", Path(api_socket + ".lock")]


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii").split()[0])
    return None


@dataclass
class Instance:
    """The locks this daemon holds (their descriptors); released by close() or by the process's death."""

    fds: list[int]

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def acquire(state_dir: Path, api_socket: str) -> Instance:
    """Both locks, or InputError (exit 2) naming who holds one; nothing is created but the lock files."""
    fds: list[int] = []
    try:
        for path in _lock_paths(state_dir, api_socket):
            if path.parent == state_dir:  # checked (never chmod-ed) or created 0700, whatever the umask
                modes.state_dir(state_dir)
            else:
                modes.makedirs(path.parent, 0o750, modes.PARENT_DIR)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
            except PermissionError as exc:  # the operator's access, said as such (exit 2)
                raise access.denied("the daemon's lock file", str(path), exc, want=os.W_OK) from None
            except OSError as exc:
                raise InputError(f"{path}: cannot open the daemon's lock file: {exc.strerror or exc}") from None
            fds.append(fd)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{path}: the daemon's lock file is not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise InputError(f"{path}: cannot lock: {exc.strerror or exc}") from None
                pid = _holder(fd)
                raise InputError(f"another remediator daemon{f' (pid {pid})' if pid else ''} already runs on this "
                                 f"state directory or API socket: {path} is locked; stop it first "
                                 "(`systemctl stop remediator`), nothing was changed") from None
        for fd in fds:  # only now, with both held: the pid for the next one's message and for `status`
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return Instance(fds)


def running(state_dir: Path) -> tuple[bool, int | None]:
    """(whether a daemon holds this state directory's lock, its pid). Read-only: creates nothing."""
    try:
        fd = os.open(state_dir / "daemon.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False, None  # never started here (or not readable by this user: then not knowable, said as not)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True, _holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, None
    finally:
        os.close(fd)

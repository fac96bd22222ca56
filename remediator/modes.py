"""Creating directories and files with the mode remediator means, whatever the umask; checking a state_dir.

Role: every directory and file remediator creates gets its mode explicitly (created owner-only, then chmod-ed
to the mode wanted), parents included, so a umask of 000 never leaves a world-writable `incidents/`, journal,
quarantine or log behind. An existing directory is never chmod-ed: `state_dir` checks the one that exists and
refuses it when others could write to it, instead of tightening (a state_dir of /tmp would break /tmp).
Must not: import anything of the package but errors.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from remediator.errors import InputError

PRIVATE_DIR = 0o700
PARENT_DIR = 0o755  # a parent remediator had to create (e.g. /var/lib for /var/lib/remediator): like mkdir -p at 022


def makedirs(path: str | Path, mode: int = PRIVATE_DIR, parents: int = PRIVATE_DIR) -> None:
    """Create path and every missing parent, each chmod-ed explicitly (`mode` for path, `parents` for the rest);
    what exists already is left exactly as it is. Like os.makedirs(exist_ok=True), without the umask."""
    path = Path(path)
    missing: list[Path] = []
    here = path
    while not os.path.lexists(here):
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)  # owner-only from the first instant; never wider than asked while it is set
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to chmod
        os.chmod(d, mode if d == path else parents)


def create_file(path: str | Path, mode: int = 0o600, *, append: bool = False) -> int:
    """Open a file for writing that must not exist yet (never through a symlink), with exactly `mode`; return the
    fd. With append=True an existing file (a log) is appended to; if it is ours and others can write to it, that
    write access is taken away (what is appended must stay ours)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_APPEND if append else os.O_EXCL)
    fd = os.open(path, flags, mode & 0o700)
    try:
        st = os.fstat(fd)
        if not append or (st.st_size == 0 and st.st_uid == os.geteuid()):
            os.fchmod(fd, mode)
        elif st.st_mode & 0o022 and st.st_uid == os.geteuid():
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o022)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_file(path: str | Path, data: bytes, mode: int = 0o600) -> None:
    """Create path (never an existing file, never through a symlink) with exactly `mode`, write data, fsync."""
    fd = create_file(path, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def too_open(st: os.stat_result) -> str | None:
    """Why a directory with this stat is not safe to keep remediator's state in, or None."""
    if st.st_uid not in (0, os.geteuid()):
        return f"it is owned by uid {st.st_uid}, neither root nor this user"
    if st.st_mode & 0o022:
        return f"others can write to it (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def existing_state_dir(path: str | Path) -> None:
    """The read-only half of state_dir(): an existing state_dir that is not a directory, or that others could
    write to, is refused (InputError); a missing one is fine (nothing is created). For the listing commands."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"state_dir {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"state_dir {path} is not a directory")
    why = too_open(st)
    if why:
        raise InputError(f"state_dir {path} is not safe for the journal and the backups: {why}; remediator never "
                         "changes the mode of an existing directory - use a directory of its own (e.g. "
                         "/var/lib/remediator, mode 0700)")


def state_dir(path: str | Path) -> Path:
    """Make sure the state directory is fit to hold the journal, the backups and the evidence, before anything is
    created inside it: an existing one must be a directory (a symlink is followed and its target checked) owned
    by root or by us that others cannot write to; it is never chmod-ed. A missing one is created 0700 (its
    missing parents 0755). Raise InputError naming what is wrong."""
    path = Path(path)
    if not os.path.lexists(path):
        try:
            makedirs(path, PRIVATE_DIR, PARENT_DIR)
        except OSError as exc:
            raise InputError(f"state_dir {path}: cannot create it: {exc.strerror or exc}") from None
    elif not os.path.exists(path):
        raise InputError(f"state_dir {path} is a symlink to nothing")
    existing_state_dir(path)
    return path

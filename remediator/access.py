"""Access is not health: what the operator's own environment keeps remediator from seeing, in words.

Role: tell a path remediator may not open (EACCES/EPERM, on the way down or at the end) from a path that
is not there, and say which directory or file stops this user, whose it is, its mode, and what to do. The
probes (through the Host port), the journal, the daemon store and the CLI use it, so a permission problem
reads the same everywhere and is never taken for evidence that the host is sick.
Must not: change anything (it only stats paths and reads who we are).
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat

from remediator.errors import NoAccess

HOW_DOCKER = "run as root, or as a member of the group that owns the socket (usually docker)"
HOW_ROOT = "run as root (remediator heals hosts as root)"


def whoami() -> str:
    """'uid 65534 (nobody), groups nogroup' for the effective user."""
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "?"
    return f"uid {uid} ({name}), groups {', '.join(_group(g) for g in sorted(set(os.getgroups()) | {os.getegid()}))}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def describe(path: str) -> str:
    """'/x (root:docker, mode 0660)' or just the path when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path} ({_owner(st.st_uid)}:{_group(st.st_gid)}, mode {stat.S_IMODE(st.st_mode):04o})"


def blocker(path: str, want: int = os.R_OK) -> str | None:
    """Why this user may not reach path: the first directory on the way down it may not search, or path itself
    when `want` (os.R_OK, os.W_OK, os.X_OK; for a socket os.W_OK) is denied. None when nothing denies it,
    including when path (or a parent) simply does not exist: a missing path is not a permission problem."""
    path = os.path.abspath(path)
    parts = path.split("/")[1:]
    here = "/"
    for part in parts[:-1]:
        nxt = os.path.join(here, part)
        try:
            os.stat(nxt)
        except PermissionError:
            return f"{describe(here)} may not be searched"
        except FileNotFoundError:
            return _create(here, path, want)
        except OSError:
            return None
        if not os.access(nxt, os.X_OK):
            return f"{describe(nxt)} may not be searched"
        here = nxt
    try:
        os.lstat(path)
        os.stat(path)
    except PermissionError as exc:  # every directory on the way may be searched: the path itself says no
        return f"{path} may not be read ({errno.errorcode.get(exc.errno or 0, 'EACCES')})"
    except FileNotFoundError:
        return _create(here, path, want)
    except OSError:
        return None
    if not os.access(path, want):
        verb = {os.R_OK: "read", os.W_OK: "written", os.X_OK: "entered"}.get(want, "opened")
        return f"{describe(path)} may not be {verb}"
    return None


def _create(parent: str, path: str, want: int) -> str | None:
    """path is not there: denied only when it is to be written and its nearest existing parent may not be."""
    if want != os.W_OK or os.access(parent, os.W_OK | os.X_OK):
        return None
    return f"{describe(parent)} may not be written (to create {path})"


JOURNAL_READERS = ("systemd-journal", "adm", "wheel")


def journal_blocker() -> str | None:
    """Why journalctl would show this user no line of dockerd's unit (it shows the system's entries only to root
    and the groups systemd-journal, adm and wheel, and says nothing about the rest); None when it may read them."""
    if os.geteuid() == 0:
        return None
    mine = {_group(g) for g in set(os.getgroups()) | {os.getegid()}}
    if mine & set(JOURNAL_READERS):
        return None
    return f"journald shows the system's entries only to root and the groups {', '.join(JOURNAL_READERS)}"


def denied(what: str, path: str, exc: OSError | None = None, *, how: str = HOW_ROOT, want: int = os.R_OK) -> NoAccess:
    """The error for a path this user may not use: what it is, which component stops whom, what to do."""
    why = blocker(path, want) or (f"{exc.strerror}" if exc is not None and exc.strerror else "permission denied")
    return NoAccess(f"no access to {what} {path}: {why} for {whoami()}: {how}")

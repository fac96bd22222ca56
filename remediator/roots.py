"""THE rule for a path that remediator may treat as a Docker root (data-root, exec-root) or as its state_dir,
and for state paths that must not overlap.

Role: one function, `root_problem`, used by config validation (settings) and by the effective roots read at
run time from dockerd's command line and daemon.json (detect.facts): a root must be absolute and must not be a
system directory, nor lie under /proc, /sys, /dev, /etc, /usr, /boot, /bin, /sbin or /lib*. A runbook's state
paths must not contain one another (`overlaps`): moving one aside then putting both back leaves the inner one
in the quarantine.
Must not: touch the filesystem; pure string rules.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# Directories that are never a Docker root or a state_dir themselves: moving, clearing or chmod-ing them would
# break the host (a data-root of /etc makes `files.quarantine {data_root}/containerd/daemon` move
# /etc/containerd/daemon; a state_dir of /tmp would have been chmod-ed 0700).
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found", "/media",
    "/mnt", "/opt", "/proc", "/root", "/run", "/run/lock", "/run/user", "/sbin", "/snap", "/srv", "/sys", "/tmp",
    "/usr", "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail",
    "/var/opt", "/var/run", "/var/spool", "/var/tmp", "/dev/shm",
})
# Trees that never hold a Docker root or a state_dir anywhere below them: kernel interfaces, device nodes, the
# system's configuration and its installed software.
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/usr", "/boot", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                "/libx32")


def normal(path: str) -> str:
    """An absolute path without '.', '//' or a trailing '/' (POSIX keeps a leading '//': it is still the root)."""
    return "/" + os.path.normpath(path).lstrip("/")


def root_problem(path: str) -> str | None:
    """Why `path` cannot be a Docker root or a state_dir, or None when it can."""
    if not isinstance(path, str) or not path.startswith("/"):
        return f"{path!r} is not an absolute path"
    if "\x00" in path or any(part == ".." for part in path.split("/")):
        return f"{path!r} must not contain '..' or NUL"
    norm = normal(path)
    if norm == "/":
        return "must not be the filesystem root"
    if norm in SYSTEM_DIRS:
        return f"{norm} is a system directory; it is never a Docker root or a state directory"
    for tree in SYSTEM_TREES:
        if norm.startswith(tree + "/"):
            return f"{norm} lies under {tree}, which never holds a Docker root or a state directory"
    return None


def inside(path: str, top: str) -> bool:
    """Is path `top` itself or anywhere below it (by path, normalised; the caller checks real paths too)?"""
    a, b = normal(path), normal(top)
    return a == b or a.startswith(b.rstrip("/") + "/")


def overlaps(paths: Sequence[str]) -> list[tuple[int, int]]:
    """(i, j) for each path i that is an earlier path j again or lies inside some path j; linear in the paths
    (each path's ancestors are looked up, never every pair)."""
    first: dict[str, int] = {}
    for j, p in enumerate(paths):
        first.setdefault(normal(p), j)
    out = []
    for i, p in enumerate(paths):
        norm = normal(p)
        if first[norm] != i:
            out.append((i, first[norm]))
            continue
        up = os.path.dirname(norm)
        while True:
            if up in first:
                out.append((i, first[up]))
                break
            if up == "/":
                break
            up = os.path.dirname(up)
    return out

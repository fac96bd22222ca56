"""Proof before trust: which processes are this host's daemon, which files root may believe or delete.

Role: THE rule, stated once. remediator runs as root; anything a local user can make (a process named
`dockerd`, a --config-file, a pidfile) must never steer what root executes, signals, reads roots from or
deletes. So:
  * a process is this host's dockerd only when all of these hold, none of which a non-root user can forge:
    its real and effective uid are 0; its executable is the configured dockerd binary (same device and
    inode) or a root-owned file reached only through root-owned, non-writable directories; its command line
    names this host's roots; and it was started by the configured service: systemd's MainPID of the unit,
    the pid in the configured pidfile (itself trusted, see below), or a process remediator started
    (or that one's child, for a wrapper);
  * a containerd or shim is signalled only when it runs as uid 0 from such a root-only executable;
  * a file (a daemon.json, a pidfile) is believed only when it and every directory above it are owned by
    root and not writable by group or others (a sticky directory such as /tmp passes: others cannot replace
    root's entries in it);
  * a binary found through /proc is never executed (versions come from the configured binary).
Everything that fails is reported with its reason ("a process named dockerd (pid N, uid 1000,
/home/x/dockerd) is not proven: ... ignored"), never used.
Must not: send signals, run anything but `systemctl show`, or change files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from remediator.errors import HostError
from remediator.hosts import procs as procmod
from remediator.settings import ProcessService, SystemdService
from remediator.structs import Proc

if TYPE_CHECKING:
    from remediator.hosts.port import Host

DEFAULT_ROOTS = ("/var/lib/docker", "/var/run/docker")
FileKey = tuple[int, int]  # (st_dev, st_ino)


@dataclass(frozen=True)
class Identity:
    """What the kernel says about who a process is (a local user cannot change any of it for a root process)."""

    uid: int  # real uid
    euid: int  # effective uid
    exe: str  # /proc/<pid>/exe's target, may end in " (deleted)"
    exe_file: FileKey | None  # the running image's (device, inode); None if unreadable
    exe_unsafe: str | None  # why a non-root user could have written the image; None when only root could


def writable_by_others(st: os.stat_result) -> str | None:
    if st.st_mode & stat.S_IWOTH:
        return "writable by everyone"
    if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
        return f"writable by group {st.st_gid}"
    return None


def _chain_doubt(path: str, lstat: Callable[[str], os.stat_result]) -> str | None:
    """Why a non-root user could change what `path` (as written, no resolving) names, or None."""
    parts = [p for p in path.split("/") if p]
    prefixes = ["/"] + ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]
    for i, prefix in enumerate(prefixes):
        try:
            st = lstat(prefix)
        except OSError as exc:
            return f"cannot check {prefix}: {exc.strerror or exc}"
        if st.st_uid != 0:
            return f"{prefix} is owned by uid {st.st_uid}, not root"
        if stat.S_ISLNK(st.st_mode):
            continue  # a root-owned link in a root-only directory; its target is checked by the resolved pass
        why = writable_by_others(st)
        last = i == len(prefixes) - 1
        if why and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and not last):
            return f"{prefix} is {why}"
    return None


def unsafe_path(path: str, lstat: Callable[[str], os.stat_result] = os.lstat,
                realpath: Callable[[str], str] = os.path.realpath) -> str | None:
    """Why a non-root user could write `path` or replace it (through it or any directory above it, as
    written and as resolved), or None when only root can: everything owned by uid 0, nothing group- or
    other-writable (group 0 may write; a sticky directory passes, since the next entry must be root's)."""
    if not os.path.isabs(path):
        return f"{path} is not an absolute path"
    return _chain_doubt(os.path.normpath(path), lstat) or _chain_doubt(realpath(path), lstat)


def describe(p: Proc, ident: Identity | None) -> str:
    name = os.path.basename(p.exe.removesuffix(" (deleted)")) if p.exe else p.comm
    who = f"uid {ident.uid}" if ident else "uid unknown"
    return f"a process named {name} (pid {p.pid}, {who}, {p.exe or p.comm})"


def root_exe_doubt(ident: Identity | None, binaries: Collection[FileKey] = ()) -> str | None:
    """Why this process is not proven to be a root process running a root-only image, or None."""
    if ident is None:
        return "its owner and executable cannot be read"
    if ident.uid != 0 or ident.euid != 0:
        return f"it runs as uid {ident.uid} (effective {ident.euid}), not root"
    if ident.exe_file is not None and ident.exe_file in binaries:
        return None
    if ident.exe_unsafe is not None:
        return f"its executable is not the configured binary and {ident.exe_unsafe}"
    return None


def dockerd_doubt(p: Proc, ident: Identity | None, *, binaries: Collection[FileKey], links: Mapping[int, str],
                  spawned: Collection[int]) -> str | None:
    """THE rule for dockerd (roots are matched by the caller): why p is not proven, or None when it is."""
    if (why := root_exe_doubt(ident, binaries)) is not None:
        return why
    if p.pid in links or p.pid in spawned or p.ppid in spawned:
        return None
    return "it was not started by the configured service (not its MainPID, not in its pidfile, not started by us)"


def read_pidfile(host: Host, path: str) -> tuple[int | None, str]:
    """The pid in a pidfile only root can have written, and where it came from; (None, why not) otherwise."""
    if not path or not host.exists(path):
        return None, f"no pidfile {path}"
    if (why := host.path_unsafe(path)) is not None:
        return None, f"pidfile {path} not trusted: {why}"
    info = host.file_info(path)
    if info is None or info.size > 32:
        return None, f"{path} is not a small file, so not a pidfile"
    try:
        text = host.read_text(path, limit=64).strip()
    except HostError as exc:
        return None, f"cannot read {path}: {exc}"
    if not text.isdigit():
        return None, f"{path} does not hold a single decimal pid"
    return int(text), f"the pidfile {path}"


class Prover:
    """The rule applied on one host, for one look at its processes (MainPID and pidfile read at most once)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._links: dict[int, str] | None = None
        self._pidfile: dict[int, str] | None = None
        self._binaries: set[FileKey] | None = None
        self._idents: dict[tuple[int, int], Identity | None] = {}

    def identity(self, p: Proc) -> Identity | None:
        key = (p.pid, p.start)
        if key not in self._idents:
            self._idents[key] = self.host.identity(p)
        return self._idents[key]

    def binaries(self) -> set[FileKey]:
        """(device, inode) of the configured dockerd binary (and of a ProcessService's argv[0] if it is dockerd)."""
        if self._binaries is None:
            cfg = self.host.config
            names = [cfg.dockerd]
            if isinstance(cfg.service, ProcessService) and os.path.basename(cfg.service.argv[0]) == "dockerd":
                names.append(cfg.service.argv[0])
            found = (self.host.file_key(path) for n in names if (path := self.host.which(n)))
            self._binaries = {k for k in found if k is not None}
        return self._binaries

    def pidfile_link(self) -> dict[int, str]:
        """pid -> "the pidfile X", from the configured pidfile if only root could have written it."""
        if self._pidfile is None:
            pid, where = read_pidfile(self.host, self.host.config.service.pidfile)
            self._pidfile = {pid: where} if pid else {}
        return self._pidfile

    def links(self) -> dict[int, str]:
        """pid -> how the configured service vouches for it (the pidfile; systemd's MainPID, asked once)."""
        if self._links is None:
            spec = self.host.config.service
            links = dict(self.pidfile_link())
            if isinstance(spec, SystemdService) and (main := main_pid(self.host, spec)):
                links[main] = f"MainPID of {spec.unit}"
            self._links = links
        return self._links

    def dockerd(self, p: Proc) -> str | None:
        ident = self.identity(p)
        if (why := root_exe_doubt(ident, self.binaries())) is not None:
            return why  # before any link is looked up: a look-alike costs no systemctl call
        spawned = self.host.spawned()
        cheap = dockerd_doubt(p, ident, binaries=self.binaries(), links=self.pidfile_link(), spawned=spawned)
        if cheap is None:
            return None
        return dockerd_doubt(p, ident, binaries=self.binaries(), links=self.links(), spawned=spawned)

    def runtime(self, p: Proc) -> str | None:
        """containerd or a shim: root, from a root-only image."""
        return root_exe_doubt(self.identity(p), ())

    def check(self, kind: str, p: Proc) -> str | None:
        """procs.family's check: the reason p may not be trusted as `kind`, or None."""
        doubt = self.dockerd(p) if kind == "dockerd" else self.runtime(p)
        if doubt is None:
            return None
        return f"{describe(p, self.identity(p))} is not proven to be this host's {kind}: {doubt}; ignored"


def main_pid(host: Host, spec: SystemdService) -> int | None:
    """systemd's MainPID of the unit, None when it has none or systemctl cannot say."""
    try:
        out = host.run((spec.systemctl, "show", "-p", "MainPID", "--value", spec.unit), timeout=10)
    except HostError:
        return None
    text = out.stdout.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def proven_family(host: Host, procs: list[Proc], *, data_root: str, exec_root: str, external_sock: str | None = None,
                  container_ids: frozenset[str] = frozenset(), prover: Prover | None = None) -> procmod.Family:
    """procs.family with the rule applied: only proven dockerd, containerd and shims (and the children of
    proven shims); what was rejected is in Family.unproven, one sentence each."""
    return procmod.family(procs, data_root=data_root, exec_root=exec_root, external_sock=external_sock,
                          container_ids=container_ids, defaults=DEFAULT_ROOTS, check=(prover or Prover(host)).check)


def find_dockerd(host: Host) -> tuple[Proc | None, list[str]]:
    """This host's proven dockerd (configured roots), and a sentence for every look-alike that was ignored.
    The service's own pid (MainPID, pidfile) first when several are proven."""
    cfg = host.config
    prover = Prover(host)
    fam = proven_family(host, host.procs(), data_root=cfg.data_root, exec_root=cfg.exec_root, prover=prover)
    if not fam.dockerd:
        return None, fam.ignored("dockerd")
    links = prover.links()
    best = sorted(fam.dockerd, key=lambda p: p.pid not in links)
    return best[0], fam.ignored("dockerd")

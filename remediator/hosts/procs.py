"""Deciding which processes belong to one Docker daemon: pure, over Procs a Host listed.

Role: classify processes (dockerd, its managed containerd, shims, container processes) for a given
pair of roots, parse dockerd's and shims' command lines; the Health and Family types. Pure, so it is
unit-tested on fixtures and importable anywhere. The /proc reads are hosts/procfs.py (Host only).
Must not: read /proc or send signals (hosts/local.py does, after re-proving identity).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from remediator.structs import Proc

SYSTEM_CONTAINERD_SOCK = "/run/containerd/containerd.sock"  # the system containerd, 18.09+


@dataclass(frozen=True)
class Health:
    """What a process looks like from outside: docs/evidence.md (state, D-state threads, wchan, age)."""

    pid: int
    state: str
    threads: int
    dstate: tuple[int, ...]  # thread ids in uninterruptible sleep
    wchan: str
    uptime: float  # seconds since it started

    def describe(self) -> str:
        names = {"S": "sleeping", "R": "running", "D": "disk sleep", "T": "stopped", "t": "traced", "Z": "zombie"}
        return (f"state {self.state} ({names.get(self.state, '?')}), {self.threads} threads, {len(self.dstate)} in D, "
                f"wchan {self.wchan or '-'}, up {self.uptime:.0f}s")


def _flag(cmdline: tuple[str, ...], *names: str) -> str | None:
    """Value of a --flag value / --flag=value argument."""
    for i, arg in enumerate(cmdline):
        for name in names:
            if arg == name and i + 1 < len(cmdline):
                return cmdline[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def dockerd_flags(cmdline: tuple[str, ...]) -> dict[str, str | None]:
    """The root-related flags of a dockerd command line."""
    return {
        "data_root": _flag(cmdline, "--data-root", "-g", "--graph"),
        "exec_root": _flag(cmdline, "--exec-root"),
        "containerd": _flag(cmdline, "--containerd"),
        "pidfile": _flag(cmdline, "--pidfile", "-p"),
        "config_file": _flag(cmdline, "--config-file"),
    }


def is_dockerd(p: Proc) -> bool:
    name = os.path.basename(p.exe.removesuffix(" (deleted)")) if p.exe else p.comm
    return name in ("dockerd", "docker") and (name == "dockerd" or "daemon" in p.cmdline[1:2])


def dockerd_matches(p: Proc, *, data_root: str, exec_root: str, defaults: tuple[str, str]) -> bool:
    """Is p a dockerd serving exactly these roots? Flags absent mean the built-in defaults."""
    if not (p.alive and is_dockerd(p)):
        return False
    flags = dockerd_flags(p.cmdline)
    have_data = os.path.normpath(flags["data_root"] or defaults[0])
    have_exec = os.path.normpath(flags["exec_root"] or defaults[1])
    return (have_data, have_exec) == (os.path.normpath(data_root), os.path.normpath(exec_root))


@dataclass
class Family:
    """The processes of one Docker daemon generation."""

    dockerd: list[Proc] = field(default_factory=list)
    containerd: list[Proc] = field(default_factory=list)
    shims: list[Proc] = field(default_factory=list)
    containers: list[Proc] = field(default_factory=list)
    unproven: list[tuple[str, str]] = field(default_factory=list)  # (kind, why it was ignored): look-alikes

    def ignored(self, kind: str) -> list[str]:
        """The sentences saying which look-alikes of `kind` were ignored, and why (hosts/trust.py)."""
        return [why for k, why in self.unproven if k == kind]

    def all(self) -> list[Proc]:
        return self.containers + self.shims + self.containerd + self.dockerd

    def describe(self) -> str:
        return (f"{len(self.dockerd)} dockerd, {len(self.containerd)} containerd, "
                f"{len(self.shims)} shim(s), {len(self.containers)} container process(es)")


def shim_container_id(p: Proc) -> str | None:
    """The container id a shim serves (v2 `-id X`, v1 `-workdir …/<id>`, 0.2 first argument)."""
    if (cid := _flag(p.cmdline, "-id")) is not None:
        return cid
    if (workdir := _flag(p.cmdline, "-workdir")) is not None:
        return os.path.basename(workdir)
    if p.cmdline and "docker-containerd-shim" in p.cmdline[0] and len(p.cmdline) > 1:
        return p.cmdline[1]
    return None


def _is_shim_of(p: Proc, exec_root: str, data_root: str) -> bool:
    joined = " ".join(p.cmdline)
    if "containerd-shim" not in (p.cmdline[0] if p.cmdline else p.comm) and "containerd-shim" not in p.comm:
        return False
    markers = (f"{exec_root}/containerd/", f"{data_root}/containerd/daemon/", f"{exec_root}/libcontainerd/")
    return any(m in joined + "/" for m in markers)


def _is_managed_containerd(p: Proc, exec_root: str) -> bool:
    name = os.path.basename(p.cmdline[0]) if p.cmdline else p.comm
    if name not in ("containerd", "docker-containerd"):
        return False
    joined = " ".join(p.cmdline)
    return f"{exec_root}/containerd/" in joined or f"{exec_root}/libcontainerd/" in joined


def _serves_socket(p: Proc, sock: str) -> bool:
    """A containerd process listening on sock (`--address`/`-a`, or the default one with no flag)."""
    name = os.path.basename(p.cmdline[0]) if p.cmdline else p.comm
    if name != "containerd":
        return False
    addr = _flag(p.cmdline, "--address", "-a")
    return addr == sock if addr else sock == SYSTEM_CONTAINERD_SOCK


def _is_external_shim(p: Proc, sock: str, ids: frozenset[str]) -> bool:
    """A shim of the external containerd at sock, in dockerd's namespace, serving one of its containers."""
    if "containerd-shim" not in (p.cmdline[0] if p.cmdline else p.comm):
        return False
    return (_flag(p.cmdline, "-namespace") == "moby" and _flag(p.cmdline, "-address") == sock
            and shim_container_id(p) in ids)


Check = Callable[[str, Proc], "str | None"]  # (kind, process) -> why it is not proven, None when it is


def family(procs: Iterable[Proc], *, data_root: str, exec_root: str, external_sock: str | None = None,
           container_ids: frozenset[str] = frozenset(),
           defaults: tuple[str, str] = ("/var/lib/docker", "/var/run/docker"), check: Check | None = None) -> Family:
    """Classify the live processes belonging to the daemon with these roots. With an external
    containerd (external_sock), its process and the shims of this daemon's containers (container_ids,
    the names under <data_root>/containers) belong to the family too: other clients' shims do not.
    With check (hosts/trust.py, the rule), a dockerd, containerd or shim it doubts goes to `unproven`
    instead, and the processes under a doubted shim are not counted as containers."""
    live = [p for p in procs if p.alive]
    fam = Family()

    def proven(kind: str, found: list[Proc]) -> list[Proc]:
        if check is None:
            return found
        kept = []
        for p in found:
            if (why := check(kind, p)) is None:
                kept.append(p)
            else:
                fam.unproven.append((kind, why))
        return kept

    fam.dockerd = proven("dockerd", [p for p in live if dockerd_matches(p, data_root=data_root, exec_root=exec_root,
                                                                        defaults=defaults)])
    fam.containerd = proven("containerd", [p for p in live if _is_managed_containerd(p, exec_root)
                                           or (external_sock is not None and _serves_socket(p, external_sock))])
    fam.shims = proven("shim", [p for p in live if _is_shim_of(p, exec_root, data_root)
                                or (external_sock is not None and _is_external_shim(p, external_sock, container_ids))])
    children: dict[int, list[Proc]] = {}
    for p in live:
        children.setdefault(p.ppid, []).append(p)
    todo = [s.pid for s in fam.shims]
    while todo:
        for child in children.get(todo.pop(), []):
            fam.containers.append(child)
            todo.append(child.pid)
    return fam

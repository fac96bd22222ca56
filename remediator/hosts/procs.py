"""Reading /proc, and deciding which processes belong to one Docker daemon.

Role: list processes and classify them (dockerd, its managed containerd, shims, container
processes) for a given pair of roots. Classification is pure so it is unit-tested on fixtures.
Must not: send signals (hosts/local.py does, after re-proving identity).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from remediator.structs import Proc

PROC = "/proc"
SYSTEM_CONTAINERD_SOCK = "/run/containerd/containerd.sock"  # the system containerd, 18.09+
CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_proc(pid: int, proc_root: str = PROC) -> Proc | None:
    """Return one process, or None if it vanished or is unreadable."""
    base = f"{proc_root}/{pid}"
    try:
        with open(f"{base}/stat", "rb") as fh:
            raw = fh.read().decode(errors="replace")
        with open(f"{base}/cmdline", "rb") as fh:
            cmdline = tuple(a.decode(errors="replace") for a in fh.read().split(b"\0") if a)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    comm = raw[raw.index("(") + 1: raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    try:
        exe = os.readlink(f"{base}/exe")
    except OSError:
        exe = ""
    return Proc(pid=pid, ppid=int(fields[1]), state=fields[0], comm=comm, exe=exe, cmdline=cmdline, start=int(fields[19]))


@dataclass(frozen=True)
class Health:
    """What a process looks like from outside: DOMAIN §5.2 (state, D-state threads, wchan, age)."""

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


def _state(stat_path: str) -> str | None:
    """The state letter of one /proc stat file (a thread's, in a hot path: no cmdline or exe reads)."""
    try:
        with open(stat_path, "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


def health(p: Proc, proc_root: str = PROC) -> Health | None:
    """Thread states, wchan and uptime of a live process; None if it vanished."""
    base = f"{proc_root}/{p.pid}"
    try:
        tids = [int(t) for t in os.listdir(f"{base}/task")]
        with open(f"{proc_root}/uptime") as fh:
            boot_age = float(fh.read().split()[0])
    except OSError:
        return None
    dstate = [tid for tid in tids if _state(f"{base}/task/{tid}/stat") == "D"]
    try:
        with open(f"{base}/wchan") as fh:
            wchan = fh.read().strip()
    except OSError:
        wchan = ""
    now = read_proc(p.pid, proc_root)
    return Health(pid=p.pid, state=now.state if now else p.state, threads=len(tids), dstate=tuple(dstate),
                  wchan="" if wchan == "0" else wchan, uptime=max(0.0, boot_age - p.start / CLK_TCK))


def start_time(pid: int, proc_root: str = PROC) -> int | None:
    """Field 22 of /proc/<pid>/stat: start time in clock ticks (changes when a pid is reused)."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as fh:
            raw = fh.read().decode(errors="replace")
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2:].split()[19])


def list_procs(proc_root: str = PROC) -> list[Proc]:
    out = []
    for name in os.listdir(proc_root):
        if name.isdigit() and (p := read_proc(int(name), proc_root)) is not None:
            out.append(p)
    return out


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


def family(procs: Iterable[Proc], *, data_root: str, exec_root: str, external_sock: str | None = None,
           container_ids: frozenset[str] = frozenset(),
           defaults: tuple[str, str] = ("/var/lib/docker", "/var/run/docker")) -> Family:
    """Classify the live processes belonging to the daemon with these roots. With an external
    containerd (external_sock), its process and the shims of this daemon's containers (container_ids,
    the names under <data_root>/containers) belong to the family too: other clients' shims do not."""
    live = [p for p in procs if p.alive]
    fam = Family()
    fam.dockerd = [p for p in live if dockerd_matches(p, data_root=data_root, exec_root=exec_root, defaults=defaults)]
    fam.containerd = [p for p in live if _is_managed_containerd(p, exec_root)
                      or (external_sock is not None and _serves_socket(p, external_sock))]
    fam.shims = [p for p in live if _is_shim_of(p, exec_root, data_root)
                 or (external_sock is not None and _is_external_shim(p, external_sock, container_ids))]
    children: dict[int, list[Proc]] = {}
    for p in live:
        children.setdefault(p.ppid, []).append(p)
    todo = [s.pid for s in fam.shims]
    while todo:
        for child in children.get(todo.pop(), []):
            fam.containers.append(child)
            todo.append(child.pid)
    return fam

"""Reading /proc on this machine: processes, their health, their start times.

Role: the /proc half of LocalHost (the classification is hosts/procs.py, pure). Only remediator.hosts
imports this (an import contract); the upper layers ask the Host port.
Must not: send signals or decide anything.
"""

from __future__ import annotations

import os

from remediator.hosts.procs import Health
from remediator.hosts.trust import Identity, unsafe_path, writable_by_others
from remediator.structs import Proc

PROC = "/proc"
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


def identity(pid: int, proc_root: str = PROC) -> Identity | None:
    """The uids of a process and the identity of its running image (device, inode, and whether only root
    could have written it: the image itself, read through /proc/<pid>/exe even when deleted, and the
    directories of its path). None when the process is gone or unreadable."""
    base = f"{proc_root}/{pid}"
    try:
        with open(f"{base}/status", "rb") as fh:
            status = fh.read(16384).decode(errors="replace")
        uids = next(line.split()[1:3] for line in status.splitlines() if line.startswith("Uid:"))
        uid, euid = int(uids[0]), int(uids[1])
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    try:
        exe = os.readlink(f"{base}/exe")
        st = os.stat(f"{base}/exe")
    except OSError:
        return Identity(uid=uid, euid=euid, exe="", exe_file=None, exe_unsafe="its executable cannot be read")
    path = exe.removesuffix(" (deleted)")
    if st.st_uid != 0:
        unsafe: str | None = f"{path} is owned by uid {st.st_uid}, not root"
    elif why := writable_by_others(st):
        unsafe = f"{path} is {why}"
    else:
        unsafe = unsafe_path(os.path.dirname(path))
    return Identity(uid=uid, euid=euid, exe=exe, exe_file=(st.st_dev, st.st_ino), exe_unsafe=unsafe)


def list_procs(proc_root: str = PROC) -> list[Proc]:
    out = []
    for name in os.listdir(proc_root):
        if name.isdigit() and (p := read_proc(int(name), proc_root)) is not None:
            out.append(p)
    return out

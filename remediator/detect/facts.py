"""Effective facts of a host: roots, Docker version, containerd layout, state directories.

Role: read (never write) what the running daemon, its argv and daemon.json say, so runbooks
never hard-code a path. The layout decides which directories hold containerd's runtime state:
  1.11-17.10            <exec_root>/libcontainerd
  17.11+, managed       <exec_root>/containerd, <data_root>/containerd/daemon, <exec_root>/runtime-runc
  external containerd   refuse: clearing /run/containerd or /var/lib/containerd loses images
  containerd image store refuse: <data_root>/containerd holds images and snapshots
Must not: change the host.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from remediator.errors import CommandFailed, HostError, InputError
from remediator.hosts import procs as procmod
from remediator.hosts import trust
from remediator.hosts.port import Host
from remediator.roots import inside, normal, root_problem
from remediator.settings import HostConfig, ProcessService, SystemdService
from remediator.structs import Proc

SYSTEM_CONTAINERD_SOCK = procmod.SYSTEM_CONTAINERD_SOCK
SAFE_LAYOUTS = ("libcontainerd", "managed")


@dataclass(frozen=True)
class Facts:
    host: str
    docker_host: str
    data_root: str
    exec_root: str
    version: str
    layout: str  # libcontainerd | managed | external | containerd-store | unknown
    state_dirs: list[str]
    dockerd_pid: int | None
    notes: list[str] = field(default_factory=list)
    containerd_sock: str = ""  # where containerd should answer gRPC; "" when unknown
    containerd_pidfile: str = ""  # the managed containerd's pidfile dockerd trusts; "" with an external containerd
    blocked: tuple[tuple[str, str], ...] = ()  # (denied | missing-binary, what): the operator's environment, not the host
    listen: tuple[str, ...] = ()  # where the running dockerd listens (its -H, daemon.json hosts; unix ones that exist)

    def listens_elsewhere(self) -> str:
        """The running dockerd's unix sockets when none is the configured docker_host ("" when it is one of them,
        when no dockerd runs, or when it listens on fd:// or tcp, which cannot be compared)."""
        unix = [a for a in self.listen if a.startswith("unix://")]
        if not unix or len(unix) != len(self.listen):
            return ""
        want = os.path.normpath(self.docker_host.removeprefix("unix://"))
        if any(os.path.normpath(a.removeprefix("unix://")) == want for a in unix):
            return ""
        return ", ".join(unix)

    def as_vars(self) -> dict[str, Any]:
        """The names a runbook may reference as {name}."""
        return {"host": self.host, "docker_host": self.docker_host, "data_root": self.data_root,
                "exec_root": self.exec_root, "docker_version": self.version, "layout": self.layout,
                "state_dirs": list(self.state_dirs)}

    def to_record(self) -> dict[str, Any]:
        """What the journal keeps of the facts (its `facts` event): read back by from_record when resuming."""
        return {**self.as_vars(), "notes": self.notes, "dockerd_pid": self.dockerd_pid,
                "containerd_sock": self.containerd_sock, "containerd_pidfile": self.containerd_pidfile}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Facts:
        """The facts a journal's `facts` event holds (an older journal's lack the containerd fields: derived)."""
        version = parse_version(str(d.get("docker_version", "")))
        layout, exec_root = str(d["layout"]), str(d["exec_root"])
        return cls(
            host=str(d["host"]), docker_host=str(d["docker_host"]), data_root=str(d["data_root"]), exec_root=exec_root,
            version=str(d.get("docker_version", "")), layout=layout, state_dirs=list(d.get("state_dirs") or []),
            dockerd_pid=d.get("dockerd_pid"), notes=list(d.get("notes") or []) + ["facts read back from the journal"],
            containerd_sock=str(d.get("containerd_sock") or containerd_sock_for(layout, version, exec_root, None)),
            containerd_pidfile=str(d.get("containerd_pidfile") or containerd_pidfile_for(layout, version, exec_root)))


FACT_SAMPLES: dict[str, Any] = {
    "host": "h", "docker_host": "unix:///s", "data_root": "/fact/data_root", "exec_root": "/fact/exec_root",
    "docker_version": "0.0", "layout": "managed", "state_dirs": ["/fact/exec_root/containerd"],
}


def parse_version(text: str) -> tuple[int, int]:
    """'Docker version 20.10.24+dfsg1, build x' -> (20, 10); (0, 0) when unknown."""
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def state_dirs_for(layout: str, data_root: str, exec_root: str) -> list[str]:
    if layout == "libcontainerd":
        return [f"{exec_root}/libcontainerd"]
    if layout == "managed":
        return [f"{exec_root}/containerd", f"{data_root}/containerd/daemon", f"{exec_root}/runtime-runc"]
    return []


def containerd_pidfile_for(layout: str, version: tuple[int, int], exec_root: str) -> str:
    """moby libcontainerd: docker-containerd.pid (1.11-18.06), containerd.pid (18.09+), in containerd's state dir."""
    if layout == "libcontainerd":
        return f"{exec_root}/libcontainerd/docker-containerd.pid"
    if layout == "managed":
        return f"{exec_root}/containerd/{'docker-containerd.pid' if version < (18, 9) else 'containerd.pid'}"
    return ""


def containerd_sock_for(layout: str, version: tuple[int, int], exec_root: str, containerd_flag: str | None) -> str:
    if layout == "libcontainerd":
        return f"{exec_root}/libcontainerd/docker-containerd.sock"
    if layout == "managed":
        name = "docker-containerd.sock" if version < (18, 9) else "containerd.sock"
        return f"{exec_root}/containerd/{name}"
    if layout in ("external", "containerd-store"):
        return containerd_flag or SYSTEM_CONTAINERD_SOCK
    return ""


def decide_layout(version: tuple[int, int], containerd_flag: str | None, daemon_json: dict[str, Any],
                  system_sock_exists: bool, exec_root: str) -> tuple[str, str]:
    """Pure: which containerd layout this daemon uses, and why."""
    if version == (0, 0):
        return "unknown", "dockerd --version gave no version"
    if version < (17, 11):
        return "libcontainerd", f"Docker {version[0]}.{version[1]} keeps containerd 0.2 state in the exec-root"
    if (daemon_json.get("features") or {}).get("containerd-snapshotter"):
        return "containerd-store", "daemon.json enables the containerd image store"
    addr = containerd_flag or daemon_json.get("containerd")
    if addr and not addr.startswith(f"{exec_root}/containerd/"):
        return "external", f"dockerd uses an external containerd at {addr}"
    if not addr and version >= (18, 9) and system_sock_exists:
        return "external", f"{SYSTEM_CONTAINERD_SOCK} exists, so dockerd {version[0]}.{version[1]} uses it"
    return "managed", "dockerd starts its own containerd under the exec-root"


DEFAULT_LISTEN = "unix:///var/run/docker.sock"


def listen_addrs(argv: tuple[str, ...], daemon_json: dict[str, Any]) -> tuple[str, ...]:
    """Every -H/--host of a dockerd command line (both spellings, repeated), else daemon.json's "hosts", else
    dockerd's default socket."""
    found: list[str] = []
    for i, arg in enumerate(argv):
        if arg in ("-H", "--host"):
            found += argv[i + 1:i + 2]
        elif arg.startswith(("--host=", "-H=")):
            found.append(arg.split("=", 1)[1])
        elif arg.startswith("-H") and len(arg) > 2:
            found.append(arg[2:])
    hosts = daemon_json.get("hosts")
    if not found and isinstance(hosts, list):
        found = [h for h in hosts if isinstance(h, str)]
    return tuple(found) or (DEFAULT_LISTEN,)


def _listening(host: Host, addrs: tuple[str, ...]) -> tuple[str, ...]:
    """The addresses a unix socket of which exists (others kept as they are): a socket dockerd has not created
    yet, or that vanished, is not "where it listens" — so a missing configured socket is then the host's
    trouble, never blamed on the config (the same file spelt /var/run or /run cannot be both there and not)."""
    return tuple(a for a in addrs if not a.startswith("unix://") or host.exists(a.removeprefix("unix://")))


def _daemon_json(host: Host, path: str) -> tuple[dict[str, Any], list[str]]:
    """daemon.json's usable keys, only from a file only root can write (hosts/trust.py): the roots it names
    decide what root later quarantines and archives, so a file a user could write names nothing."""
    if not host.exists(path):  # (a path closed to this user reads as absent: resolve records that as blocked)
        return {}, []
    if (why := host.path_unsafe(path)) is not None:
        return {}, [f"{path} not read: {why}, so a non-root user could choose the roots; ignored"]
    try:
        data = json.loads(host.read_text(path, limit=1 << 20))
    except (HostError, ValueError, RecursionError) as exc:
        return {}, [f"cannot read {path}: {exc}"]
    if not isinstance(data, dict):
        return {}, [f"{path}: not a JSON object; ignored"]
    # dockerd refuses to start on a daemon.json of the wrong shape: exactly when it is read here. Keep what is usable.
    kept: dict[str, Any] = {}
    notes = []
    for key, value in data.items():
        want = TYPES.get(key)
        if want is None or isinstance(value, want):
            kept[key] = value
        else:
            notes.append(f"{path}: {key} is {type(value).__name__}, not {want.__name__}; ignored")
    return kept, notes


TYPES: dict[str, type] = {"data-root": str, "graph": str, "exec-root": str, "containerd": str, "features": dict,
                          "live-restore": bool, "hosts": list}


def _valid_root(name: str, flag: str | None, from_json: str | None, configured: str, source: str, host: str) -> str:
    """The effective root (dockerd's flag, else daemon.json, else the config), held to the same rule as the config
    (remediator.roots): a relative or system-directory root is an error now, never a probe that loops on it."""
    value, where = (flag, f"{source}'s --{name}") if flag else (from_json, f"daemon.json's {name}") if from_json \
        else (configured, "the config")
    why = root_problem(value)
    if why:
        raise InputError(f"host {host}: the effective {name} from {where} cannot be used: {why}")
    return normal(value)


def _missing_tools(host: Host) -> list[tuple[str, str]]:
    """The programs the host's service needs that are not installed here: the operator's environment, never
    evidence about dockerd (a systemd host whose systemctl is missing cannot be asked who runs, or start anything)."""
    svc = host.config.service
    if isinstance(svc, SystemdService):
        found = host.which(svc.systemctl)
        if found is None or not host.exists(found):
            return [("missing-binary", f"{svc.systemctl} is not installed (or not on PATH): dockerd's unit cannot be "
                     "asked for its state or main pid; install it, or set the host's service.systemctl")]
    return []


def _find_running(host: Host, blocked: list[tuple[str, str]]) -> tuple[Proc | None, list[str]]:
    """The proven running dockerd (only a proven dockerd's argv is believed) and the notes of the search; a missing
    systemctl is recorded in `blocked` (the operator's environment), not raised."""
    try:
        return trust.find_dockerd(host)
    except CommandFailed as exc:  # systemctl (service.systemctl) is not installed here: we cannot ask who runs
        if exc.rc != 127 or "command not found" not in exc.stderr:
            raise
        if not blocked:
            blocked.append(("missing-binary", f"{exc.argv[0]} is not installed (or not on PATH): dockerd's unit "
                            "cannot be asked for its main pid; install it, or set the host's service.systemctl"))
        return None, []


def _argv(host: Host, running: Proc | None) -> tuple[tuple[str, ...], str]:
    """The dockerd command line the facts come from, and where it was read."""
    if running:
        return running.cmdline, f"the running dockerd (pid {running.pid})"
    if isinstance(host.config.service, ProcessService):
        return tuple(host.config.service.argv), "the configured dockerd argv"
    return (), "the host config"


def _roots(cfg: HostConfig, flags: dict[str, str | None], djson: dict[str, Any], source: str,
           notes: list[str]) -> tuple[str, str]:
    """The effective data-root and exec-root (flag, else daemon.json, else config), checked not to nest."""
    data_root = _valid_root("data-root", flags["data_root"], djson.get("data-root") or djson.get("graph"), cfg.data_root,
                            source, cfg.name)
    exec_root = _valid_root("exec-root", flags["exec_root"], djson.get("exec-root"), cfg.exec_root, source, cfg.name)
    if inside(data_root, exec_root) or inside(exec_root, data_root):
        raise InputError(f"host {cfg.name}: the effective data-root {data_root} and exec-root {exec_root} contain "
                         "each other: their state directories would overlap")
    for name, eff, conf in (("data_root", data_root, cfg.data_root), ("exec_root", exec_root, cfg.exec_root)):
        if eff != os.path.normpath(conf):
            notes.append(f"{name}: config says {conf} but {source} uses {eff}; using {eff}")
    return data_root, exec_root


def _version_text(host: Host, running: Proc | None, notes: list[str]) -> str:
    """`dockerd --version` of the configured binary, never one found through /proc (hosts/trust.py)."""
    binary = host.config.dockerd
    if running and running.exe.endswith(" (deleted)"):
        notes.append(f"the running dockerd's image {running.exe} was replaced; the version is {binary}'s")
    try:
        return host.run((binary, "--version"), timeout=10).stdout.strip()
    except HostError as exc:
        notes.append(f"cannot run {binary} --version: {exc}")
        return ""


def resolve(host: Host) -> Facts:
    """Read the effective facts of host: from the live dockerd, its argv, daemon.json, the config."""
    cfg = host.config
    blocked: list[tuple[str, str]] = _missing_tools(host)
    running, notes = _find_running(host, blocked)
    argv, source = _argv(host, running)
    flags = procmod.dockerd_flags(argv)
    djson_path = flags["config_file"] or cfg.daemon_json
    if why := host.denied(djson_path):  # unread, its data-root/exec-root would silently fall back to the config's
        blocked.append(("denied", f"daemon.json: {why}"))
    djson, more = _daemon_json(host, djson_path)
    notes += more
    data_root, exec_root = _roots(cfg, flags, djson, source, notes)
    version_text = _version_text(host, running, notes)
    version = parse_version(version_text)
    addr = flags["containerd"] or djson.get("containerd")
    layout, why = decide_layout(version, flags["containerd"], djson, host.exists(SYSTEM_CONTAINERD_SOCK), exec_root)
    notes.append(f"roots from {source}; layout {layout}: {why}")
    return Facts(host=cfg.name, docker_host=cfg.docker_host, data_root=data_root, exec_root=exec_root,
                 version=version_text, layout=layout, state_dirs=state_dirs_for(layout, data_root, exec_root),
                 dockerd_pid=running.pid if running else None, notes=notes,
                 containerd_sock=containerd_sock_for(layout, version, exec_root, addr),
                 containerd_pidfile=containerd_pidfile_for(layout, version, exec_root),
                 listen=_listening(host, listen_addrs(argv, djson)) if running else (), blocked=tuple(blocked))

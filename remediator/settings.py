"""config.yaml as pydantic models, and load_settings().

Role: describe and validate what the operator is told about its hosts; defaults fit a stock
Debian/Ubuntu host so the common config is three lines.
Must not: touch a host. Loading a config never changes anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from remediator.errors import InputError
from remediator.loader import load_yaml, problem, validation_problems


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    if "\x00" in value or any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..' or NUL")
    normal = "/" + os.path.normpath(value).lstrip("/")  # POSIX keeps a leading '//': it is still the root
    if normal == "/":
        raise ValueError("must not be the filesystem root")
    return normal


AbsPath = Annotated[str, Field(min_length=2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemdService(_Model):
    """dockerd run by systemd: stop the socket unit with the service, or a client restarts it."""

    kind: Literal["systemd"] = "systemd"
    unit: str = "docker.service"
    socket: str | None = "docker.socket"
    systemctl: str = "systemctl"
    journalctl: str = "journalctl"
    pidfile: AbsPath = "/var/run/docker.pid"

    _check_paths = field_validator("pidfile")(_absolute)


class ProcessService(_Model):
    """dockerd started by remediator itself, detached, from argv; stopped by signal."""

    kind: Literal["process"]
    argv: list[str] = Field(min_length=1)
    pidfile: AbsPath
    log: AbsPath

    _check_paths = field_validator("pidfile", "log")(_absolute)


class CommandService(_Model):
    """User-given commands (argv lists) to start, stop and query dockerd."""

    kind: Literal["command"]
    start: list[str] = Field(min_length=1)
    stop: list[str] = Field(min_length=1)
    status: list[str] = Field(min_length=1)
    pidfile: AbsPath = "/var/run/docker.pid"
    log: AbsPath | None = None


Service = Annotated[SystemdService | ProcessService | CommandService, Field(discriminator="kind")]


class HostConfig(_Model):
    """One Docker host. Paths are the *configured* roots; the effective ones are read at run time."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    docker_host: str = "unix:///var/run/docker.sock"
    data_root: AbsPath = "/var/lib/docker"
    exec_root: AbsPath = "/var/run/docker"
    daemon_json: AbsPath = "/etc/docker/daemon.json"
    dockerd: str = "dockerd"
    service: Service = Field(default_factory=SystemdService)

    _check_paths = field_validator("data_root", "exec_root", "daemon_json")(_absolute)

    @field_validator("docker_host")
    @classmethod
    def _unix_only(cls, value: str) -> str:
        if not value.startswith("unix:///"):
            raise ValueError("only unix:///path sockets are supported for a local host")
        return value

    @model_validator(mode="after")
    def _roots_apart(self) -> HostConfig:
        a, b = self.data_root + "/", self.exec_root + "/"
        if a.startswith(b) or b.startswith(a):
            raise ValueError("data_root and exec_root must not contain each other")
        return self

    @model_validator(mode="after")
    def _argv_agrees(self) -> HostConfig:
        if isinstance(self.service, ProcessService):
            argv = self.service.argv
            for flag, want in (("--data-root", self.data_root), ("--exec-root", self.exec_root),
                               ("--pidfile", self.service.pidfile), ("-H", self.docker_host)):
                if flag not in argv or argv.index(flag) + 1 >= len(argv):
                    raise ValueError(f"service.argv must pass {flag} {want} explicitly")
                got = argv[argv.index(flag) + 1]
                if got.rstrip("/") != want.rstrip("/"):
                    raise ValueError(f"service.argv has {flag} {got} but the host says {want}")
        return self

    @property
    def socket_path(self) -> str:
        return self.docker_host.removeprefix("unix://")


class ProbeConfig(_Model):
    """How hosts are probed and when a verdict is trusted (see README "Diagnosis")."""

    timeout: float = Field(default=5.0, gt=0, le=120, description="hard deadline of each probe")
    slow: float = Field(default=1.0, gt=0, le=120, description="an answer slower than this is `degraded`")
    interval: float = Field(default=1.0, ge=0, le=3600, description="seconds between rounds while a verdict settles")
    debounce: int = Field(default=3, ge=1, le=20, description="consecutive failing rounds before a sick verdict")
    min_free_percent: float = Field(default=1.0, ge=0, le=50, description="disk or inodes below this: disk-full")
    startup_grace: float = Field(default=120.0, ge=0, le=3600,
                                 description="a dockerd younger than this whose log shows no completed start is `starting`")


class LadderConfig(_Model):
    """When a runbook ends without healing and the host is as it was, diagnose again and go on."""

    max_steps: int = Field(default=2, ge=1, le=5, description="runbooks per incident; never the same one twice")


class Settings(_Model):
    state_dir: AbsPath = "/var/lib/remediator"
    evidence_budget: float = Field(default=15.0, gt=0, le=600)
    evidence_max_mb: float = Field(default=64.0, gt=0, le=4096, description="size cap of one evidence bundle")
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    ladder: LadderConfig = Field(default_factory=LadderConfig)
    runbook_dirs: list[AbsPath] = Field(default_factory=list, description="your own runbooks, searched before the shipped ones")
    hosts: list[HostConfig] = Field(min_length=1)

    _check_state_dir = field_validator("state_dir")(_absolute)

    @field_validator("runbook_dirs")
    @classmethod
    def _absolute_dirs(cls, value: list[str]) -> list[str]:
        return [_absolute(v) for v in value]

    @model_validator(mode="after")
    def _state_dir_apart(self) -> Settings:
        """The journal, the backups and the evidence must never lie where a runbook moves or clears state."""
        for h in self.hosts:
            for root in (h.data_root, h.exec_root):
                if state_dir_inside(self.state_dir, root):
                    raise ValueError(f"state_dir {self.state_dir} lies inside host {h.name}'s {root}: a runbook that "
                                     "moves or clears containerd's state there would take the journal and the backups with it")
        return self

    def host(self, name: str) -> HostConfig:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts)
        raise InputError(f"no host named {name!r} in the config (known: {known})")


def state_dir_inside(state_dir: str, root: str) -> bool:
    """Is state_dir the root itself or anywhere below it (by path; the caller also checks real paths)?"""
    a, b = os.path.normpath(state_dir), os.path.normpath(root)
    return a == b or a.startswith(b.rstrip("/") + "/")


DEFAULT_CONFIG = Path("/etc/remediator/config.yaml")


def find_config(given: Path | None) -> Path:
    """--config, else $REMEDIATOR_CONFIG, else /etc/remediator/config.yaml."""
    if given is not None:
        return given
    env = os.environ.get("REMEDIATOR_CONFIG")
    if env:
        return Path(env)
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    raise InputError(f"no config: pass --config FILE, set REMEDIATOR_CONFIG, or create {DEFAULT_CONFIG}")


def load_settings(path: Path) -> Settings:
    """Given a config file, return Settings. Raise InputError listing every problem with file:line."""
    data = load_yaml(path)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise InputError(validation_problems(path, data, exc)) from None
    names = [h.name for h in settings.hosts]
    dupes = [i for i, n in enumerate(names) if n in names[:i]]
    if dupes:
        raise InputError([problem(path, data, ("hosts", i, "name"), "duplicate host name") for i in dupes])
    return settings

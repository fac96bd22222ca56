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
from remediator.roots import inside, normal, root_problem


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    if "\x00" in value or any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..' or NUL")
    normal = "/" + os.path.normpath(value).lstrip("/")  # POSIX keeps a leading '//': it is still the root
    if normal == "/":
        raise ValueError("must not be the filesystem root")
    return normal


def _optional_absolute(value: str | None) -> str | None:
    return None if value is None else _absolute(value)


def _root(value: str) -> str:
    """A Docker root or the state_dir: absolute, and not a system directory (remediator.roots is THE rule)."""
    why = root_problem(value)
    if why:
        raise ValueError(why)
    return normal(value)


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

    _check_pidfile = field_validator("pidfile")(_absolute)  # as every other service kind: absolute, no '..'
    _check_log = field_validator("log")(_optional_absolute)


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
    policy: Literal["auto", "approve", "observe"] = Field(
        default="approve", description="under `remediator daemon`: heal alone, ask for risky steps, or only record")
    drain: list[str] = Field(default_factory=list, description="argv run before dockerd is stopped (daemon runs)")
    undrain: list[str] = Field(default_factory=list, description="argv run after verify, and as the drain's rollback")

    _check_paths = field_validator("daemon_json")(_absolute)
    _check_roots = field_validator("data_root", "exec_root")(_root)

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


class LimitsConfig(_Model):
    """What keeps the auto-heal daemon from becoming a remediation storm (README "Daemon")."""

    cooldown: float = Field(default=300.0, ge=0, le=86400, description="seconds after an incident ends before the next")
    probation: float = Field(default=600.0, ge=0, le=86400, description="a host that falls sick this soon after a "
                             "recovery is a relapse (counted, shown)")
    max_per_window: int = Field(default=3, ge=1, le=100, description="remediations per host per window, then quarantine")
    window: float = Field(default=3600.0, gt=0, le=7 * 86400)
    fleet_budget: int = Field(default=1, ge=1, le=1000, description="hosts remediating at once, at most")
    breaker_percent: float = Field(default=50.0, gt=0, le=100, description="no auto-heal while more than this share "
                                   "of the hosts is sick")
    breaker_min_hosts: int = Field(default=5, ge=1, description="the breaker only trips with at least this many hosts "
                                   "(on a smaller fleet the fleet budget is the limit)")


class MaintenanceWindow(_Model):
    """A daily window (UTC, HH:MM) in which the daemon takes no action on the hosts named (all when empty)."""

    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    hosts: list[str] = Field(default_factory=list)


class Webhook(_Model):
    url: str = Field(pattern=r"^https?://[^\s]{1,2000}$")
    format: Literal["json", "slack"] = "json"
    timeout: float = Field(default=5.0, gt=0, le=60)


class DaemonConfig(_Model):
    """`remediator daemon`: the schedule, the API, the limits."""

    interval: float = Field(default=10.0, ge=0.2, le=3600, description="seconds between liveness rounds")
    workers: int = Field(default=4, ge=1, le=256, description="incidents in flight at once (the fleet budget caps it)")
    api_socket: AbsPath = "/run/remediator/api.sock"
    api_listen: str | None = Field(default=None, pattern=r"^127\.0\.0\.1:[0-9]{1,5}$",
                                   description="optional TCP API on loopback; needs token_file")
    token_file: AbsPath | None = None
    metrics_listen: str | None = Field(default=None, pattern=r"^[0-9A-Za-z.:\[\]-]{1,255}:[0-9]{1,5}$",
                                       description="host:port serving /metrics and /healthz for Prometheus")
    approval_ttl: float = Field(default=3600.0, gt=0, le=7 * 86400)
    api_timeout: float = Field(default=30.0, gt=0, le=600,
                               description="how long a CLI command waits for the daemon's whole answer")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)

    _check_socket = field_validator("api_socket")(_absolute)

    @field_validator("token_file")
    @classmethod
    def _token_path(cls, value: str | None) -> str | None:
        return None if value is None else _absolute(value)

    @model_validator(mode="after")
    def _token_for_tcp(self) -> DaemonConfig:
        if self.api_listen and not self.token_file:
            raise ValueError("api_listen needs token_file (a bearer token read from a 0600 file)")
        return self


class Settings(_Model):
    state_dir: AbsPath = "/var/lib/remediator"
    evidence_budget: float = Field(default=15.0, gt=0, le=600)
    evidence_max_mb: float = Field(default=64.0, gt=0, le=4096, description="size cap of one evidence bundle")
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    ladder: LadderConfig = Field(default_factory=LadderConfig)
    runbook_dirs: list[AbsPath] = Field(default_factory=list, description="your own runbooks, searched before the shipped ones")
    hosts: list[HostConfig] = Field(min_length=1)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)

    _check_state_dir = field_validator("state_dir")(_root)

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
    return inside(state_dir, root)


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

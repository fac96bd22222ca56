"""How dockerd is found, stopped and started on a host: systemd, process or command.

Role: one controller per `service.kind`. Controllers build their argv purely and run it through
the Host (the stale-pidfile check reads and moves the pidfile with os directly); a signal only ever goes to a
process proven to be this host's dockerd.
Must not: touch containerd state or decide whether stopping is wise (runbooks and guards do).
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable
from typing import Protocol

from remediator.clock import SYSTEM, Clock, poll_until
from remediator.errors import CommandFailed, HostError, TemporaryStepError
from remediator.hosts import trust
from remediator.hosts.port import Host
from remediator.redact import redact_argv
from remediator.settings import CommandService, ProcessService, SystemdService
from remediator.structs import Proc


class ServiceView(Protocol):
    """What the read-only layer (detect/) may ask of the service: who runs, and what it logged. No stop, no start."""

    def find(self) -> Proc | None: ...
    def log_tail(self, nbytes: int = 256 << 10) -> str: ...
    def log_since(self, cursor: str | None) -> tuple[str, str | None]: ...


class Controller(ServiceView, Protocol):
    """The view plus the changes: for actions (service.stop, service.start) only."""

    def stop(self, grace: float) -> list[str]: ...
    def start(self, timeout: float) -> list[str]: ...
    def plan_stop(self, grace: float) -> str: ...
    def plan_start(self) -> str: ...


def find_by_pidfile_or_scan(host: Host) -> Proc | None:
    """This host's dockerd, only when proven (hosts/trust.py: root, the configured binary, started by the service)."""
    return trust.find_dockerd(host)[0]


def kill_hard(host: Host, target: Proc) -> None:
    """SIGKILL a proven process and wait for it; raise if it survives (D state)."""
    host.signal(target, signal.SIGKILL)
    if host.wait_gone([target], 10):
        raise TemporaryStepError(f"{target.comm} {target.pid} survived SIGKILL (D state?)")


def terminate(host: Host, target: Proc, grace: float) -> list[str]:
    """SIGTERM (and SIGCONT if stopped), wait up to grace, then SIGKILL. Return what happened."""
    notes = []
    host.signal(target, signal.SIGTERM)
    if target.state == "T" or (p := host.proc(target.pid)) and p.state == "T":
        host.signal(target, signal.SIGCONT)
        notes.append(f"pid {target.pid} was stopped (state T): sent SIGCONT so SIGTERM is delivered")
    if not host.wait_gone([target], grace):
        notes.append(f"{target.comm} {target.pid} exited after SIGTERM")
        return notes
    kill_hard(host, target)
    notes.append(f"{target.comm} {target.pid} ignored SIGTERM for {grace:g}s: killed with SIGKILL")
    return notes


def remove_stale_pidfile(host: Host) -> list[str]:
    """Delete dockerd's stale pidfile (the S20 fix) only when it is proven ours: the configured path (no other
    can be passed), a small regular file that only root can write or replace (hosts/trust.py), holding the pid
    of no live process. Anything else is left alone and the note says why: a live pid may be another service's
    (a pidfile path configured wrongly must not cost that service its pidfile), or this host's running dockerd."""
    pidfile = host.config.service.pidfile
    if not host.exists(pidfile):
        return []
    if (why := host.path_unsafe(pidfile)) is not None:
        return [f"left {pidfile} alone: not proven to be dockerd's pidfile ({why})"]
    try:
        st = os.lstat(pidfile)
    except OSError:
        return []
    if not stat.S_ISREG(st.st_mode) or st.st_size > 32:
        return [f"left {pidfile} alone: not a small regular file, so not a pidfile"]
    pid, where = trust.read_pidfile(host, pidfile)
    if pid is None:
        return [f"left {pidfile} alone: {where}"]
    if (p := host.proc(pid)) and p.alive:
        if (ours := trust.find_dockerd(host)[0]) is not None and ours.pid == pid:
            return [f"left {pidfile} alone: pid {pid} is this host's running dockerd"]
        return [f"left {pidfile} alone: pid {pid} is alive ({p.comm}) and not a proven dockerd of this host, so the "
                "file may be another service's pidfile; if it is dockerd's stale one (S20, pid reused), remove it by hand"]
    os.unlink(pidfile)
    return [f"removed stale pidfile {pidfile} (pid {pid} is not running)"]


def wait_api(host: Host, timeout: float, *, alive: Callable[[], bool] | None = None,
             log_tail: Callable[[int], str] | None = None, clock: Clock = SYSTEM) -> float:
    """Poll /_ping until it answers; raise TemporaryStepError on timeout or if alive() turns False
    (quoting the end of log_tail, when given)."""
    started = clock.monotonic()
    last = ""

    def answers() -> bool | None:
        nonlocal last
        ping = host.ping(timeout=2.0)
        if ping.ok:
            return True
        if alive is not None and not alive():
            tail = [ln for ln in (log_tail(64 << 10) if log_tail else "").splitlines() if "module=grpc" not in ln]
            raise TemporaryStepError("dockerd exited during start-up:\n" + "\n".join(tail[-12:]))
        last = ping.detail
        return None

    if poll_until(answers, timeout=timeout, every=0.1, clock=clock) is None:
        raise TemporaryStepError(f"dockerd did not answer /_ping within {timeout:g}s ({last})")
    return clock.monotonic() - started


class _FileLogged:
    """find() and the daemon log of a service whose dockerd writes its log to a file (None: it has none)."""

    host: Host
    log_file: str | None

    def find(self) -> Proc | None:
        return find_by_pidfile_or_scan(self.host)

    def log_tail(self, nbytes: int = 256 << 10) -> str:
        if not self.log_file:
            return ""
        try:
            return self.host.read_text(self.log_file, limit=nbytes)
        except HostError:
            return ""

    def log_since(self, cursor: str | None) -> tuple[str, str | None]:
        return self.host.read_new(self.log_file, cursor) if self.log_file else ("", None)


class ProcessController(_FileLogged):
    """dockerd started by us, detached, from argv; stopped by signal."""

    def __init__(self, host: Host, spec: ProcessService) -> None:
        self.host, self.spec, self.log_file = host, spec, spec.log

    def plan_stop(self, grace: float) -> str:
        p = self.find()
        who = f"dockerd pid {p.pid}" if p else "dockerd (not running)"
        return f"SIGTERM {who}, wait {grace:g}s, then SIGKILL; remove its pidfile if stale"

    def stop(self, grace: float) -> list[str]:
        p = self.find()
        notes = terminate(self.host, p, grace) if p else ["dockerd was not running"]
        return notes + remove_stale_pidfile(self.host)

    def plan_start(self) -> str:
        return f"start {redact_argv(self.spec.argv)} detached (log {self.spec.log}) and wait for /_ping"

    def start(self, timeout: float) -> list[str]:
        if self.find():
            return ["dockerd already running"]
        notes = remove_stale_pidfile(self.host)
        pid = self.host.spawn_detached(self.spec.argv, log=self.spec.log)

        def alive() -> bool:
            p = self.host.proc(pid)
            return bool(p and p.alive)

        took = wait_api(self.host, timeout, alive=alive, log_tail=self.log_tail)
        return notes + [f"dockerd started (pid {pid}); API answered after {took:.2f}s"]


def journal_argv(journalctl: str, unit: str, *where: str) -> tuple[str, ...]:
    return (journalctl, "-u", unit, "-o", "cat", "--no-pager", "--show-cursor", *where)


def split_journal_cursor(stdout: str, old: str | None) -> tuple[str, str | None]:
    """journalctl --show-cursor ends with '-- cursor: X'; no new entries means no cursor line."""
    body, sep, tail = stdout.rpartition("-- cursor: ")
    if not sep:
        return stdout, old
    return body, tail.strip() or old


def systemd_stop_argv(spec: SystemdService) -> tuple[str, ...]:
    units = [u for u in (spec.socket, spec.unit) if u]
    return (spec.systemctl, "stop", "--no-block", *units)


def systemd_start_argv(spec: SystemdService) -> tuple[str, ...]:
    units = [u for u in (spec.socket, spec.unit) if u]
    return (spec.systemctl, "start", "--no-block", *units)


class SystemdController:
    """dockerd as a systemd unit; docker.socket is stopped with it so no client restarts it."""

    def __init__(self, host: Host, spec: SystemdService) -> None:
        self.host, self.spec = host, spec

    def find(self) -> Proc | None:
        return find_by_pidfile_or_scan(self.host)

    def plan_stop(self, grace: float) -> str:
        return f"{' '.join(systemd_stop_argv(self.spec))}; after {grace:g}s SIGKILL the main pid"

    def stop(self, grace: float) -> list[str]:
        p = self.find()
        self.host.run(systemd_stop_argv(self.spec), timeout=30)
        notes = [f"queued: {' '.join(systemd_stop_argv(self.spec))}"]
        if p and self.host.wait_gone([p], grace):
            kill_hard(self.host, p)
            notes.append(f"dockerd {p.pid} did not stop within {grace:g}s: SIGKILL")
        return notes + remove_stale_pidfile(self.host)

    def plan_start(self) -> str:
        return f"{' '.join(systemd_start_argv(self.spec))} and wait for /_ping"

    def start(self, timeout: float) -> list[str]:
        self.host.run(systemd_start_argv(self.spec), timeout=30)
        took = wait_api(self.host, timeout, log_tail=self.log_tail)
        return [f"started {self.spec.unit}; API answered after {took:.2f}s"]

    def log_tail(self, nbytes: int = 256 << 10) -> str:
        return self.log_since(None)[0][-nbytes:]

    def log_since(self, cursor: str | None) -> tuple[str, str | None]:
        """New journal lines of the unit since cursor (journald's own cursor), the last 2000 at first."""
        where = ("--after-cursor", cursor) if cursor else ("-n", "2000")
        try:
            out = self.host.run(journal_argv(self.spec.journalctl, self.spec.unit, *where), timeout=15)
        except HostError:
            return "", cursor
        return split_journal_cursor(out.stdout, cursor)


def parse_show(stdout: str) -> dict[str, str]:
    """`systemctl show -p A -p B UNIT` output (A=x lines) as a dict."""
    return dict(line.split("=", 1) for line in stdout.splitlines()[:50] if "=" in line)


def supervisor_state(host: Host, spec: object) -> tuple[str | None, dict[str, str]]:
    """What the process supervisor says before the daemon acts: ("stopped-by-admin", …) for a unit an admin stopped
    (inactive, its last run ended cleanly: not failed), ("restarting", …) while systemd restarts it itself
    (activating/auto-restart), ("unknown", …) when systemctl cannot be asked, (None, …) otherwise or for hosts
    without systemd. The second item is the raw
    ActiveState/SubState/Result/NRestarts, for the record."""
    if not isinstance(spec, SystemdService):
        return None, {}
    try:
        out = host.run((spec.systemctl, "show", "-p", "ActiveState", "-p", "SubState", "-p", "Result", "-p",
                        "NRestarts", spec.unit), timeout=10)
    except HostError as exc:  # fail closed: a daemon that cannot ask systemd does not act behind its back
        return "unknown", {"error": str(exc)[:200]}
    unit = parse_show(out.stdout)
    active, sub, result = unit.get("ActiveState"), unit.get("SubState"), unit.get("Result")
    if active == "inactive" and result == "success":
        return "stopped-by-admin", unit
    if active == "activating" and sub == "auto-restart":
        return "restarting", unit
    return None, unit


class CommandController(_FileLogged):
    """dockerd managed by user-given start/stop/status commands."""

    def __init__(self, host: Host, spec: CommandService) -> None:
        self.host, self.spec, self.log_file = host, spec, spec.log

    def plan_stop(self, grace: float) -> str:
        return f"run {redact_argv(self.spec.stop)}; after {grace:g}s SIGKILL dockerd"

    def stop(self, grace: float) -> list[str]:
        p = self.find()
        try:
            self.host.run(self.spec.stop, timeout=grace + 10)
        except CommandFailed as exc:
            notes = [f"stop command failed: {exc}"]
        else:
            notes = ["stop command succeeded"]
        if p and self.host.wait_gone([p], grace):
            notes += terminate(self.host, p, 1.0)
        return notes + remove_stale_pidfile(self.host)

    def plan_start(self) -> str:
        return f"run {redact_argv(self.spec.start)} and wait for /_ping"

    def start(self, timeout: float) -> list[str]:
        self.host.run(self.spec.start, timeout=timeout)
        took = wait_api(self.host, timeout, log_tail=self.log_tail)
        return [f"start command succeeded; API answered after {took:.2f}s"]


def controller(host: Host) -> Controller:
    spec = host.config.service
    if isinstance(spec, ProcessService):
        return ProcessController(host, spec)
    if isinstance(spec, CommandService):
        return CommandController(host, spec)
    return SystemdController(host, spec)

"""The pieces of `remediator demo --daemon` that are not the story: a client of the daemon's API socket under a
deadline, the daemon's log events as progress lines, stopping the process group the demo started, removing
socket files, and signals that unwind into the teardown.

Role: small helpers for remediator.lab.daemon (imported by it alone).
Must not: signal any process but the group it is handed; follow a symlink; import click or rich.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

SHOWN_STEPS = ("ok", "fail", "refused", "rollback", "undone", "rung", "escalate", "resume", "warn")
EXIT_FAILED = 1


class DemoFailed(Exception):
    """The demo could not show a heal: the message says what was awaited and what was seen instead."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class ApiUnreachable(DemoFailed):
    """Nobody answered on the daemon's API socket (not up yet, or gone)."""


class Stopped(BaseException):
    """SIGTERM/SIGHUP to the demo: unwinds like Ctrl-C so the teardown runs."""


def missing_tools() -> str | None:
    """Why this machine cannot run the sandbox (None when it can)."""
    if os.geteuid() != 0:
        return "the demo runs a real dockerd: run it as root"
    for tool in ("dockerd", "containerd", "runc", "busybox"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install docker.io busybox-static)"
    return None


def remediator_command() -> list[str]:
    """How this very remediator was started, so a printed command line works as printed."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and not argv0.endswith(".py") and os.path.basename(argv0).startswith("remediator"):
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found and os.access(found, os.X_OK):
            return [os.path.abspath(found)]
    return [sys.executable, "-m", "remediator"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """A small client of the daemon's unix-socket API; every call under the caller's deadline."""

    def __init__(self, path: str) -> None:
        self.path = path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        """The decoded JSON answer; DemoFailed on a 4xx/5xx; ApiUnreachable when nobody answers in time."""
        conn = http.client.HTTPConnection("localhost", timeout=timeout)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.path)
            conn.sock = s
            conn.request(method, path, body=json.dumps(body or {}) if method == "POST" else None,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read(8 << 20) or b"{}")
        except (OSError, ValueError) as exc:
            raise ApiUnreachable(f"the daemon's API at {self.path} did not answer {method} {path}: {exc}") from None
        finally:
            conn.close()
            s.close()
        if resp.status >= 400:
            raise DemoFailed(f"the daemon's API answered {method} {path} with {resp.status}: {data.get('error')}")
        return data


def describe(ev: dict[str, Any]) -> str:
    """One daemon log event as a progress line ('' for the ones not worth a line)."""
    kind = ev.get("event")
    if kind == "step":
        if ev.get("kind") not in SHOWN_STEPS:
            return ""
        return f"{ev.get('step') or '':<9} {ev.get('kind')}: {str(ev.get('text'))[:160]}"
    if kind == "verdict":
        return f"verdict {ev.get('verdict')} ({ev.get('confidence')}) → runbook {ev.get('runbook')}"
    if kind == "acting":
        return f"acting: runbook {ev.get('runbook')} under policy {ev.get('policy')}"
    if kind == "approval-needed":
        return f"approval {ev.get('approval')} needed for step {ev.get('step')}"
    if kind == "approval-decided":
        return f"approval {ev.get('approval')} {ev.get('decision')} by {ev.get('by')}"
    if kind == "outcome":
        return f"outcome {ev.get('outcome')}: {ev.get('summary')}"
    if kind in ("refused", "host-error", "worker-crashed", "round-failed", "interrupted"):
        return f"{kind}: {ev.get('reason') or ev.get('error') or ev.get('detail')}"
    return ""


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> int | None:
    """SIGTERM the process group the demo started the daemon in (start_new_session: its pid is the group id),
    wait `grace` seconds, then SIGKILL it. Only while the leader is not yet reaped: until then its pid, and so
    the group id, cannot belong to anyone else."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def remove_sockets(root: Path) -> int:
    """Unlink every unix socket file below root (never following a symlink); the count removed."""
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    os.unlink(p)
                    n += 1
    return n


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Stopped in the main thread (as SIGINT raises KeyboardInterrupt)."""
    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise Stopped()

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """The teardown is not cut by a second Ctrl-C (or SIGTERM): it is what makes the first one safe."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

"""End-to-end: `remediator demo --daemon [--yes]` as a user runs it — a real sandbox dockerd under a real
`remediator daemon`, broken, approved, healed — and nothing of it left afterwards: no process whose command line
names the sandbox directory, no mount under it, no socket file, no listener on its metrics port.

Every wait polls the demo's output file; a demo that fails to clean up is cleaned up here (by its sandbox
directory, never by a process name) and the test fails.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator.lab import Sandbox, wait_for
from tests.conftest import REPO, require_docker

pytestmark = pytest.mark.dockerd
ENV = {**os.environ, "COLUMNS": "200"}


class Demo:
    """One `remediator demo` process, its output in a file, and what it names."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.out = tmp / "demo.out"
        with open(self.out, "wb") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "remediator", "demo", *args], stdin=subprocess.DEVNULL,
                                         stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env=ENV,
                                         start_new_session=True)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def root(self) -> Path | None:
        m = re.search(r"dockerd up in (/tmp/rmd-lab-\S+) with", self.text())
        return Path(m.group(1)) if m else None

    def wait_for_text(self, pattern: str, timeout: float, count: int = 1) -> list[re.Match[str]]:
        def seen() -> bool:
            if self.proc.poll() is not None and len(re.findall(pattern, self.text())) < count:
                raise AssertionError(f"the demo ended (exit {self.proc.returncode}) before {pattern!r}:\n{self.text()}")
            return len(re.findall(pattern, self.text())) >= count
        try:
            wait_for(seen, timeout, pattern)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.text()}") from None
        return list(re.finditer(pattern, self.text()))

    def finish(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo did not end within {timeout:g} s:\n{self.text()}") from None


def leftovers(root: Path) -> dict[str, list[str]]:
    """What of the sandbox is still there: processes naming it, mounts under it, socket files, the directory."""
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmdline:
            procs.append(f"{pid}: {cmdline[:200]}")
    with open("/proc/self/mountinfo") as fh:
        mounts = [ln.split()[4] for ln in fh if ln.split()[4] == str(root) or ln.split()[4].startswith(f"{root}/")]
    sockets = [os.path.join(d, f) for d, _dirs, files in os.walk(root) for f in files
               if os.path.exists(os.path.join(d, f)) and Path(d, f).is_socket()]
    return {"processes": procs, "mounts": mounts, "sockets": sockets}


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def demo_tmp(tmp_path: Path) -> Iterator[tuple[Path, list[Demo]]]:
    """Where a demo writes its output; whatever a failed demo left is cleaned up here, by its sandbox dir."""
    require_docker()
    demos: list[Demo] = []
    yield tmp_path, demos
    for d in demos:
        if d.proc.poll() is None:
            os.killpg(d.proc.pid, signal.SIGKILL)  # the group this test started
            d.proc.wait(timeout=30)
        root = d.root()
        if root is not None and root.exists():
            Sandbox(root=root).cleanup()


def test_demo_daemon_yes_heals_in_under_two_minutes_and_leaves_nothing_behind(demo_tmp: tuple[Path, list[Demo]]) -> None:
    tmp, demos = demo_tmp
    t0 = time.monotonic()
    demo = Demo(tmp, "--daemon", "--yes")
    demos.append(demo)
    code = demo.finish(180)
    took = time.monotonic() - t0
    text = demo.text()
    assert code == 0, text
    assert took < 120, f"took {took:.1f} s:\n{text}"
    root = demo.root()
    assert root is not None, text
    # healed, as the demo saw it and as the daemon's own log and journal record it
    assert re.search(r"healed [0-9.]+ s after the fault .*: 4 of 4 containers running", text), text
    assert re.search(r"daemon: verdict containerd-state \(high\) → runbook docker-libcontainerd", text), text
    assert "daemon: outcome recovered" in text, text
    (journal,) = re.findall(r"journal: incident (\S+) host demo runbook docker-libcontainerd outcome (\S+)", text)
    assert journal[1] == "recovered", text
    asked = re.findall(r"--yes: approving as `(.+ approve (\w+) --config (\S+))` would", text)
    assert [a[1] for a in asked] == re.findall(r"approval (\w+): approved by root", text), text
    assert len(asked) >= 2 and all(a[2] == f"{root}/config.yaml" for a in asked), "stop and quarantine were asked"
    assert re.search(r"stop: approved: approved by root", text), text  # the peer (SO_PEERCRED), not free text
    port = int(re.findall(r"curl -s http://127\.0\.0\.1:(\d+)/healthz", text)[0])
    assert re.search(r"/healthz\s+\{\"ok\": true", text) and \
        re.search(r'/metrics\s+remediator_incidents_total\{outcome="recovered",runbook="docker-libcontainerd"\} 1\.0', text)
    assert f"curl -s --unix-socket {root}/api.sock http://localhost/v1/status" in text
    # torn down: nothing left
    assert "daemon stopped (exit 0)" in text and "sandbox removed" in text, text
    assert leftovers(root) == {"processes": [], "mounts": [], "sockets": []}
    assert not root.exists()
    assert not listening(port), f"something still listens on the metrics port {port}"
    print(f"\ndemo --daemon --yes: {took:.1f} s wall, exit {code}")


def test_demo_daemon_keep_leaves_the_journal_but_no_process_mount_or_socket(demo_tmp: tuple[Path, list[Demo]]) -> None:
    """--fault hang --keep: the kept directory holds the daemon's journal and log, which say it healed."""
    tmp, demos = demo_tmp
    demo = Demo(tmp, "--daemon", "--yes", "--fault", "hang", "--keep", "--containers", "2")
    demos.append(demo)
    assert demo.finish(180) == 0, demo.text()
    root = demo.root()
    assert root is not None and root.is_dir()
    try:
        assert leftovers(root) == {"processes": [], "mounts": [], "sockets": []}
        with sqlite3.connect(root / "state" / "journal.sqlite3") as db:
            rows = db.execute("SELECT host, runbook, outcome, dry_run FROM incidents").fetchall()
        assert rows == [("demo", "dockerd-restart", "recovered", 0)], rows
        with sqlite3.connect(root / "state" / "daemon.sqlite3") as db:
            decided = db.execute("SELECT step, decision, by FROM approvals").fetchall()
        assert ("stop", "approved", "root") in decided, decided  # the peer; "remediator demo --yes" is its note
        log = (root / "daemon.log").read_text()
        assert '"event": "outcome"' in log and '"outcome": "recovered"' in log
        assert '"event": "stopped"' in log, "the daemon stopped cleanly on SIGTERM"
    finally:
        Sandbox(root=root).cleanup()


def test_the_printed_approve_line_works_as_printed_and_ctrl_c_tears_everything_down(
        demo_tmp: tuple[Path, list[Demo]]) -> None:
    """Without --yes: the first risky step is approved by running the printed line verbatim (another terminal);
    Ctrl-C while the second waits ends the demo (exit 7) with nothing left behind."""
    tmp, demos = demo_tmp
    demo = Demo(tmp, "--daemon", "--containers", "2")
    demos.append(demo)
    (first,) = demo.wait_for_text(r"approve it from another terminal.*\n\s+(\S.* approve \w+ --config \S+)\n", 120)
    res = subprocess.run(shlex.split(first.group(1)), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60, cwd="/", env=ENV)
    assert res.returncode == 0 and "approved by" in res.stdout, res.stdout + res.stderr
    demo.wait_for_text(r"approve it from another terminal", 120, count=2)  # the quarantine step now waits
    root = demo.root()
    assert root is not None
    os.kill(demo.proc.pid, signal.SIGINT)  # Ctrl-C (the demo runs in its own session: sent to it alone)
    assert demo.finish(120) == 7, demo.text()
    text = demo.text()
    assert "interrupted: tearing down" in text and "sandbox removed" in text, text
    assert leftovers(root) == {"processes": [], "mounts": [], "sockets": []}
    assert not root.exists()

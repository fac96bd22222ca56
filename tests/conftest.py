"""Shared fixtures: real isolated dockerd sandboxes (cleaned up even on failure) and a CLI runner."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.lab import Sandbox

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"
SUMMARY = "summary"  # a test's user_properties entries under this key are printed at the end of the session
_SUMMARY_LINES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the summary lines from the teardown reports: in a serial run, and under pytest-xdist, where the
    tests run in workers and only their reports reach the session that prints."""
    if report.when == "teardown":
        _SUMMARY_LINES.extend(str(v) for k, v in report.user_properties if k == SUMMARY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _SUMMARY_LINES:
        terminalreporter.write_line(line)


# ---- pytest-xdist -------------------------------------------------------------------------------------------------
# The slow tests first (an idle worker takes the next test in this order): the fuzz classes spread among the
# real-dockerd tests, so that about two CPU-bound fuzz classes share the 2 cores at a time, then the rest.
# (Not xdist_group: with pytest 9.2 and pytest-xdist 3.8, --dist loadgroup does not group; measured.)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    fuzz = [i for i in items if i.nodeid.startswith("tests/fuzz/")]
    e2e = [i for i in items if i.nodeid.startswith("tests/e2e/")]
    step = max(1, len(e2e) // max(1, len(fuzz)))
    slow: list[pytest.Item] = []
    for n, item in enumerate(e2e):
        if n % step == 0 and fuzz:
            slow.append(fuzz.pop(0))
        slow.append(item)
    items[:] = slow + fuzz + [i for i in items if not i.nodeid.startswith(("tests/e2e/", "tests/fuzz/"))]


# A worker that crashes runs no fixture's teardown: every Sandbox a worker makes, and every directory a test
# passes to track(), is listed in a file of that worker's, and the controller removes what a crashed worker
# listed (Sandbox(root=dir).cleanup(): the processes naming the directory, its mounts, the directory).
_RUN_DIR = "REMEDIATOR_TEST_XDIST_RUN"  # set by the controller for its workers (test code only reads it)


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and os.environ.get(_RUN_DIR):
        _track_sandboxes(Path(os.environ[_RUN_DIR]) / workerinput["workerid"])
    elif workerinput is None and getattr(config.option, "numprocesses", None) and not config.option.collectonly:
        os.environ[_RUN_DIR] = tempfile.mkdtemp(prefix="rmd-xdist-", dir="/tmp")


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and os.environ.get(_RUN_DIR):
        shutil.rmtree(os.environ.pop(_RUN_DIR), ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """pytest-xdist: a worker went down; if it crashed, remove what it listed."""
    run_dir = os.environ.get(_RUN_DIR)
    if error is None or not run_dir:
        return
    listed = Path(run_dir) / str(node.gateway.id)
    for line in (listed.read_text().splitlines() if listed.exists() else []):
        if line and Path(line).exists():
            Sandbox(root=line).cleanup()


_TRACKED: list[Path] = []  # this worker's list, if it is a worker of a pytest-xdist run


def track(directory: str | Path) -> None:
    """List a directory whose processes, mounts and files the controller removes if this worker crashes."""
    if _TRACKED:
        with open(_TRACKED[0], "a") as fh:
            fh.write(f"{directory}\n")


def _track_sandboxes(listing: Path) -> None:
    from remediator.lab import sandbox

    _TRACKED.append(listing)
    made = sandbox.Sandbox.__init__

    @functools.wraps(made)
    def init(self: Sandbox, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        track(self.root)

    sandbox.Sandbox.__init__ = init  # type: ignore[method-assign]


def docker_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("dockerd", "containerd", "runc", "busybox"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def require_docker() -> None:
    """Skip a real-dockerd test where it cannot run, except in CI, where that is a failure."""
    why = docker_missing()
    if why:
        if IN_CI:
            pytest.fail(f"real-dockerd tests must run in CI: {why}")
        pytest.skip(why)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest):
    """A running isolated dockerd with 4 containers; everything it started is removed afterwards."""
    require_docker()
    sb = Sandbox(name="t")
    try:
        sb.start()
        sb.populate(getattr(request, "param", 4))
        yield sb
    finally:
        sb.cleanup()
        leftovers = sb.processes()
        assert not leftovers, f"sandbox left processes behind: {leftovers}"


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for unix sockets, removed afterwards: an AF_UNIX path ends at 107 bytes and pytest's
    tmp_path under a long --basetemp does not fit (the suite must pass with any basetemp)."""
    with tempfile.TemporaryDirectory(prefix="rmd-sock-", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
def served(sock_dir: Path) -> Iterator[Any]:
    """A stand-in daemon behind the real API on a unix socket (tests/unit/daemon_stand.py), closed afterwards."""
    from tests.unit.daemon_stand import Served

    s = Served(sock_dir)
    try:
        yield s
    finally:
        s.close()


def stop_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 60) -> None:
    """SIGTERM the process group a test started (start_new_session=True), SIGKILL it after `grace` seconds."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def cli(*args: str, config: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess with no TTY on stdin."""
    argv = [sys.executable, "-m", "remediator", *args]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=dict(os.environ))  # output that is not a terminal is never wrapped


def digest(*tops: str) -> str:
    """Independent of remediator's fsops: names, kinds, modes, sizes, mtimes, link targets and file contents
    (never following a symlink)."""
    h = hashlib.sha256()
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                h.update(f"{os.path.relpath(full, top)}|{st.st_mode}|{st.st_size}|{st.st_mtime_ns}".encode())
                if os.path.islink(full):
                    h.update(os.readlink(full).encode())
                elif os.path.isfile(full):
                    with open(full, "rb") as fh:
                        h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def shim_ids(sb: Sandbox, containerd_sock: str = "") -> list[str]:
    from remediator.hosts import procs

    fam = sb.host.family(data_root=sb.data, exec_root=sb.exec_, containerd_sock=containerd_sock)
    return sorted(procs.shim_container_id(s) or "?" for s in fam.shims)

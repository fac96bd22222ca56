"""Issue 14 (8): under umask 000 nothing remediator creates is writable by group or others - the state_dir and
its parents, incidents/, the journal and store, backups and manifests, `.remediator-quarantine` in a Docker root,
the API socket's directory, the process service's log (which feeds the diagnosis)."""

from __future__ import annotations

import os
import socketserver
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator import modes
from remediator.daemon.api import LIMITS
from remediator.daemon.server import UnixServer
from remediator.daemon.store import Store
from remediator.hosts.local import LocalHost
from remediator.journal import HostLock, Journal
from remediator.settings import HostConfig
from remediator.structs import Outcome
from tests.unit.test_state_trust import _run, _tree, _unvalidated


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir


@pytest.fixture
def umask000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _everything(top: Path) -> dict[str, int]:
    found = {str(top): os.lstat(top).st_mode}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            found[full] = os.lstat(full).st_mode
    return found


def writable_by_others(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """What appeared (or changed mode) and that group or others may write to. Symlinks have no mode of their own;
    the API socket is 0660 on purpose (its group may connect: that is the API's access control)."""
    return [f"{p} {stat.S_IMODE(m):o}" for p, m in sorted(after.items())
            if before.get(p) != m and not stat.S_ISLNK(m) and not stat.S_ISSOCK(m) and m & 0o022]


def _spawn_and_reap(host: LocalHost, log: str) -> None:
    host.spawn_detached(["true"], log=log)
    for child in host._children:
        child.wait(timeout=10)


RB = """schema: 1
name: everything
steps:
  - id: backup
    action: files.backup
    params: {paths: ["{exec_root}/containerd"]}
  - id: aside
    action: files.quarantine
    params: {paths: ["{exec_root}/containerd"]}
    rollback: [{action: files.unquarantine, params: {paths: ["{exec_root}/containerd"], quarantine_step: aside}}]
  - id: fill
    action: test.mkfile
    params: {path: "{exec_root}/containerd/new-state"}
  - {id: boom, action: test.boom}
"""


def test_nothing_created_under_umask_000_is_writable_by_others(tmp_path: Path, umask000: None) -> None:
    import tests.unit.test_step_faults  # noqa: F401 - registers test.boom
    from remediator.actions import ACTIONS, ActionSpec, Params, StepContext, action
    from remediator.structs import StepResult

    class MkFile(Params):
        path: str

    def mkfile(ctx: StepContext, p: MkFile) -> StepResult:  # what a failed start writes: displaced on rollback
        os.close(os.open(p.path, os.O_WRONLY | os.O_CREAT, 0o644))
        return StepResult("wrote")

    if "test.mkfile" not in ACTIONS:
        action(ActionSpec("test.mkfile", MkFile, run=mkfile, plan=mkfile, mutates=True, risky=False))
    os.umask(0o022)
    _tree(tmp_path)
    rb = _unvalidated(RB, tmp_path)  # the test's own files: made under the usual umask
    before = _everything(tmp_path)
    os.umask(0)

    journal = Journal(tmp_path / "new" / "parents" / "state")  # the state_dir and two parents it creates
    with HostLock(tmp_path / "new" / "parents" / "state", "h"):
        report, _ = _run(tmp_path, rb, journal=journal)
    assert report.outcome is Outcome.ROLLED_BACK, report.summary
    Store(tmp_path / "new" / "parents" / "state").db.close()
    journal.disconnect()
    server = UnixServer(str(tmp_path / "run" / "remediator" / "api.sock"), socketserver.BaseRequestHandler, limits=LIMITS,
                        log=lambda *a, **k: None)
    assert stat.S_IMODE(os.stat(tmp_path / "run" / "remediator" / "api.sock").st_mode) == 0o660
    server.server_close()
    host = LocalHost(HostConfig(name="h"))
    _spawn_and_reap(host, str(tmp_path / "logs" / "docker" / "dockerd.log"))

    after = _everything(tmp_path)
    created = [p for p in after if p not in before]
    assert any(p.endswith("/.remediator-quarantine") for p in created), "the scenario made a quarantine"
    assert any("/displaced-" in p for p in created) and any(p.endswith(".manifest.json") for p in created)
    assert any(p.endswith("/incidents") for p in created) and any(p.endswith("dockerd.log") for p in created)
    assert writable_by_others(before, after) == []
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == modes.PARENT_DIR
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "parents" / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "logs" / "docker" / "dockerd.log").st_mode) == 0o640


def test_an_existing_log_others_can_write_to_is_tightened_when_appended(tmp_path: Path, umask000: None) -> None:
    log = tmp_path / "dockerd.log"
    log.write_text("earlier lines\n")
    os.chmod(log, 0o666)
    _spawn_and_reap(LocalHost(HostConfig(name="h")), str(log))
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o644 and log.read_text().startswith("earlier lines")

"""Safety invariants that do not need a daemon: confinement, backups before deletes, signals, lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remediator.errors import BackupError, HostBusy, UnsafeOperation
from remediator.hosts import fsops
from remediator.hosts.local import LocalHost
from remediator.hosts.procfs import read_proc
from remediator.journal import HostLock
from remediator.settings import HostConfig
from remediator.structs import Proc


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "state" / "sub").mkdir(parents=True)
    (root / "state" / "sub" / "f.json").write_text("{}")
    (root / "state" / "empty.json").write_text("")
    os.mkfifo(root / "state" / "fifo")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep").write_text("keep me")
    os.symlink(outside, root / "state" / "link-out")
    os.symlink(outside, root / "evil")
    return root


@pytest.mark.parametrize("bad", ["/", "{root}", "{root}/../precious", "{root}/evil/keep", "{root}/evil", "/etc/passwd", "relative"])
def test_clear_never_leaves_its_roots(tree: Path, bad: str) -> None:
    path = bad.format(root=tree)
    with pytest.raises(UnsafeOperation):
        fsops.clear_tree(path, [str(tree)], {"source": path, "backup": "/nonexistent", "entries": []})
    assert (tree.parent / "precious" / "keep").read_text() == "keep me"


def test_nothing_is_deleted_without_a_verified_backup(tree: Path, tmp_path: Path) -> None:
    state = str(tree / "state")
    with pytest.raises(UnsafeOperation, match="no verified backup"):
        fsops.clear_tree(state, [str(tree)], None)
    manifest = fsops.backup_tree(state, tmp_path / "bk" / "state")
    (tmp_path / "bk" / "state" / "sub" / "f.json").write_text('{"tampered": 1}')
    with pytest.raises(BackupError, match="differs sub/f.json"):
        fsops.clear_tree(state, [str(tree)], manifest)
    assert (tree / "state" / "sub" / "f.json").read_text() == "{}"


def test_clear_does_not_follow_symlinks_and_restore_is_byte_identical(tree: Path, tmp_path: Path) -> None:
    state = str(tree / "state")
    before = fsops.tree_digest([state])
    manifest = fsops.backup_tree(state, tmp_path / "bk" / "state")
    assert fsops.clear_tree(state, [str(tree)], manifest) == 5
    assert os.listdir(state) == []
    assert (tmp_path / "precious" / "keep").read_text() == "keep me"
    fsops.restore_tree(state, [str(tree)], manifest, tmp_path / "displaced")
    assert fsops.tree_digest([state]) == before


def test_backup_refuses_an_existing_destination(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "bk").mkdir()
    with pytest.raises(BackupError, match="already exists"):
        fsops.backup_tree(tree / "state", tmp_path / "bk")


def test_signal_never_reaches_a_reused_pid() -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        real = read_proc(victim.pid)
        assert real is not None
        stale = Proc(pid=victim.pid, ppid=1, state="S", comm="dockerd", exe="/usr/sbin/dockerd",
                     cmdline=("dockerd", "--data-root", "/var/lib/docker"), start=real.start)
        reused = Proc(**{**real.__dict__, "start": real.start - 1})
        with pytest.raises(UnsafeOperation):
            LocalHost(HostConfig(name="x")).signal(reused, signal.SIGKILL, same_program=False)
        host = LocalHost(HostConfig(name="x"))
        with pytest.raises(UnsafeOperation):
            host.signal(stale, signal.SIGKILL)
        assert victim.poll() is None, "an unrelated process was killed"
        assert host.signal(real, signal.SIGTERM)
        victim.wait(5)
    finally:
        victim.kill()


def test_one_incident_per_host_and_the_lock_survives_a_crash(tmp_path: Path) -> None:
    code = f"from remediator.journal import HostLock; from pathlib import Path; import time\n" \
           f"with HostLock(Path({str(tmp_path)!r}), 'h'):\n    print('locked', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(HostBusy, match=str(holder.pid)):
            HostLock(tmp_path, "h").__enter__()
        holder.kill()
        holder.wait(5)
        with HostLock(tmp_path, "h"):
            pass
    finally:
        holder.kill()
        holder.wait(5)
        if holder.stdout:
            holder.stdout.close()


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild-alive"
    host = LocalHost(HostConfig(name="x"))
    script = f"(sleep 1.5; touch {marker}) & sleep 30"
    with pytest.raises(Exception, match="did not finish"):
        host.run(["bash", "-c", script], timeout=0.3)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert not marker.exists(), "a grandchild survived the timeout"
        time.sleep(0.1)


def test_command_output_is_complete_when_commands_run_in_threads() -> None:
    """sh's wait(timeout=) returns before its reader threads finish; run() must join them (this lost
    the output of 40 of 300 concurrent `--version` runs: an empty `dockerd --version` means layout unknown)."""
    import concurrent.futures as cf

    from remediator.hosts.local import LocalHost
    from remediator.settings import HostConfig

    host = LocalHost(HostConfig(name="x"))
    with cf.ThreadPoolExecutor(10) as pool:
        outs = list(pool.map(lambda i: host.run(("/bin/echo", f"line {i}"), timeout=10).stdout, range(200)))
    assert outs == [f"line {i}\n" for i in range(200)]

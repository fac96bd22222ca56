"""End-to-end: the operator is SIGKILLed at every point of a real remediation, then `run` resumes the same
incident from the journal alone. Both fault kinds: a corrupt meta.db (the seed runbook) and a SIGSTOP
wedge (dockerd-restart). The kill is a crash point (remediator.crashpoints) that tests/crashrun.py, the test-only
entry point around the CLI, installs: after a step's
result is journaled, after a step ran but before its result is, and one entry into the backup or the clear.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from remediator.lab.sandbox import Sandbox, _mounts, wait_for
from tests import crashrun
from tests.conftest import REPO, cli, require_docker, shim_ids

pytestmark = pytest.mark.dockerd


def _run(sb: Sandbox, runbook: str, kill: str | None = None) -> tuple[int, str]:
    cfg = sb.root / "config.yaml"
    cfg.write_text(sb.config_yaml(str(sb.root / "state")))
    args = ["run", "--config", str(cfg), "--host", "t", "--yes", "--runbook", runbook]
    if kill is None:
        res = cli(*args)
    else:
        res = subprocess.run([*crashrun.argv(kill=kill), *args], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=240, cwd=REPO, env=dict(os.environ))
    return res.returncode, res.stdout + res.stderr


def _journal(sb: Sandbox) -> sqlite3.Connection:
    return sqlite3.connect(sb.root / "state" / "journal.sqlite3")


def _intents(sb: Sandbox, step: str) -> int:
    with _journal(sb) as db:
        rows = db.execute("SELECT detail FROM events WHERE kind='intent' AND step=?", (step,)).fetchall()
    return sum(1 for (d,) in rows if "rollback" not in json.loads(d))


def _backups_verify(sb: Sandbox) -> None:
    for m in (sb.root / "state").glob("incidents/*/backup*/*.manifest.json"):
        data = json.loads(m.read_text())
        for e in data["entries"]:
            if e["kind"] == "file":
                got = hashlib.sha256((Path(data["backup"]) / e["rel"]).read_bytes()).hexdigest()
                assert got == e["sha256"], f"backup {m.name} lost or changed {e['rel']}"


def _resumed_and_healed(sb: Sandbox, runbook: str, kill: str, before: set[str]) -> str:
    code, out = _run(sb, runbook, kill)
    assert code == -9, f"the operator was not killed at {kill}: {out[-2000:]}"
    with _journal(sb) as db:
        assert db.execute("SELECT count(*) FROM incidents WHERE ended IS NULL").fetchone()[0] == 1
    code, out = _run(sb, runbook)
    assert code == 0, out[-4000:]
    assert "resuming incident" in out
    with _journal(sb) as db:
        rows = db.execute("SELECT outcome FROM incidents").fetchall()
    assert rows == [("recovered",)], "the same incident, resumed and closed"
    assert sb.host.ping().ok
    assert sb.running() == before
    assert shim_ids(sb) == sorted(before), "one shim per container"
    _backups_verify(sb)
    return out


SEED_POINTS = ["after:confirm", "after:evidence", "after:snapshot", "during:stop", "after:stop", "midway:quarantine",
               "during:quarantine", "after:quarantine", "during:start", "after:start", "during:verify", "after:verify",
               "midway:backup", "during:archive"]


@pytest.mark.parametrize("kill", SEED_POINTS)
def test_corrupt_metadb_killed_then_resumed(sandbox: Sandbox, kill: str) -> None:
    before = sandbox.running()
    sandbox.corrupt_metadb("random", try_start=True)
    _resumed_and_healed(sandbox, "docker-libcontainerd", kill, before)
    step = kill.split(":")[1]
    if kill.startswith("after:") and step in ("quarantine", "start"):
        assert _intents(sandbox, step) == 1, f"{step} completed before the kill: never run twice"
    if kill == "midway:backup":
        assert list((sandbox.root / "state").glob("incidents/*/backup*/*.partial.*")), "the cut copy is kept aside"
    assert not list(Path(sandbox.exec_).glob(".remediator-quarantine/*/*")), "the quarantine is archived, then removed"
    assert not list(Path(sandbox.data).glob(".remediator-quarantine/*/*"))


@pytest.mark.parametrize("kill", ["during:stop", "after:stop", "during:start", "after:start"])
def test_sigstop_wedge_killed_then_resumed(sandbox: Sandbox, kill: str) -> None:
    before = sandbox.running()
    sandbox.wedge()
    _resumed_and_healed(sandbox, "dockerd-restart", kill, before)


@pytest.fixture
def mounted_sandbox():
    """A sandbox whose <exec-root>/containerd is its own tmpfs mount (as when the exec-root is on a tmpfs of its
    own): a rename cannot move a mount point aside, so the seed runbook falls back to copy-then-clear for it (the
    other state dirs still move by rename). Not under the data-root: dockerd bind-mounts that onto itself at
    start, which hides any mount below it."""
    require_docker()
    sb = Sandbox(name="t")
    try:
        target = Path(sb.exec_) / "containerd"
        target.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(target)], check=True)
        sb.start()
        sb.populate(2)
        yield sb
    finally:
        sb.cleanup()  # unmounts everything under the sandbox root
        assert not sb.processes(), "sandbox left processes behind"
        assert not [m for m in _mounts() if m.startswith(str(sb.root))], "the tmpfs is still mounted"


FALLBACK_POINTS = [None, "midway:backup", "midway:clear", "during:quarantine", "after:quarantine", "after:start"]


@pytest.mark.parametrize("kill", FALLBACK_POINTS)
def test_copy_then_clear_fallback_killed_then_resumed(mounted_sandbox: Sandbox, kill: str | None) -> None:
    sb = mounted_sandbox
    before = sb.running()
    sb.corrupt_metadb("random", try_start=True)
    if kill is None:
        code, out = _run(sb, "docker-libcontainerd")
        assert code == 0, out[-4000:]
        assert "copied with a verified manifest, then cleared" in out and "mount point" in out, out[-6000:]
    else:
        out = _resumed_and_healed(sb, "docker-libcontainerd", kill, before)
    assert sb.host.ping().ok and sb.running() == before and shim_ids(sb) == sorted(before)
    copies = list((sb.root / "state").glob("incidents/*/backup*/*_exec_containerd.manifest.json"))
    assert len(copies) == 1, "one verified copy of the mounted state dir"
    _backups_verify(sb)
    if kill == "midway:backup":
        assert list((sb.root / "state").glob("incidents/*/backup*/*_exec_containerd.partial.*")), \
            "the copy cut short is kept aside, never trusted"
    if kill in ("midway:clear", "during:quarantine"):
        assert "running it again" in out, "the idempotent step ran again and reused the verified copy"


def _outcomes(sb: Sandbox) -> list[tuple[str]]:
    with _journal(sb) as db:
        return db.execute("SELECT outcome FROM incidents").fetchall()


def test_a_host_that_recovered_while_the_operator_was_away_is_left_alone(sandbox: Sandbox) -> None:
    """Killed before anything was changed; meanwhile the wedge cleared (SIGCONT). The resume must not stop a
    dockerd that works: it closes the incident as healthy, and dockerd keeps its pid."""
    before = sandbox.running()
    pid = sandbox.wedge()
    code, out = _run(sandbox, "dockerd-restart", "after:snapshot")
    assert code == -9, out[-2000:]
    os.kill(pid, signal.SIGCONT)
    wait_for(lambda: sandbox.host.ping().ok, 30, "dockerd answering after SIGCONT")
    code, out = _run(sandbox, "dockerd-restart")
    assert code == 0, out[-4000:]
    assert "recovered while its operator was away" in out, out[-3000:]
    assert _outcomes(sandbox) == [("healthy",)]
    proc = sandbox.dockerd_proc()
    assert proc is not None and proc.pid == pid, "dockerd was not restarted"
    assert sandbox.running() == before
    assert _intents(sandbox, "stop") == 0


def test_state_cleared_and_dockerd_started_by_hand_meanwhile_goes_straight_to_verify(sandbox: Sandbox) -> None:
    """Killed right after the stop (corrupt meta.db); meanwhile an admin did the manual fix: removed the state
    dirs by hand and started dockerd. The resume does not quarantine the fresh state of a running dockerd nor
    restart it: it skips to verify, which checks the containers of the snapshot, and closes recovered."""
    before = sandbox.running()
    sandbox.corrupt_metadb("random", try_start=True)
    code, out = _run(sandbox, "docker-libcontainerd", "after:stop")
    assert code == -9, out[-2000:]
    for d in (Path(sandbox.data) / "containerd", Path(sandbox.exec_) / "containerd"):
        shutil.rmtree(d)
    sandbox.start()
    admin_pid = sandbox.dockerd_proc().pid  # type: ignore[union-attr]
    code, out = _run(sandbox, "docker-libcontainerd")
    assert code == 0, out[-4000:]
    assert "skipping to verify" in out
    assert _outcomes(sandbox) == [("recovered",)]
    assert _intents(sandbox, "quarantine") == 0 and _intents(sandbox, "start") == 0, "nothing redone"
    proc = sandbox.dockerd_proc()
    assert proc is not None and proc.pid == admin_pid, "the admin's dockerd was not restarted"
    assert sandbox.running() == before and shim_ids(sandbox) == sorted(before)

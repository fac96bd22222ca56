"""End-to-end: the ladder on real dockerd daemons broken before anything tried to start them.

The first diagnosis can only say "down"; the restart it selects fails and prints the real cause;
the re-diagnosis reads it and the incident goes on with the runbook that fits — or escalates.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from remediator.lab import Sandbox
from tests.conftest import cli, digest, shim_ids

pytestmark = pytest.mark.dockerd


def _config(sb: Sandbox) -> Path:
    cfg = sb.root / "config.yaml"
    cfg.write_text(sb.config_yaml(str(sb.root / "state")))
    return cfg


def _events(sb: Sandbox, kind: str) -> list[dict[str, object]]:
    with sqlite3.connect(sb.root / "state" / "journal.sqlite3") as db:
        rows = db.execute("SELECT detail FROM events WHERE kind=? ORDER BY seq", (kind,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def _incidents(sb: Sandbox) -> list[tuple[str, str]]:
    with sqlite3.connect(sb.root / "state" / "journal.sqlite3") as db:
        return db.execute("SELECT outcome, summary FROM incidents").fetchall()


@pytest.mark.parametrize("how", ["zero-meta", "random"])
def test_down_with_a_damaged_metadb_climbs_from_restart_to_the_seed_runbook(sandbox: Sandbox, how: str) -> None:
    before = sandbox.running()
    sandbox.corrupt_metadb(how, try_start=False)  # dockerd died, then meta.db was damaged: nothing tried a start
    damaged = hashlib.sha256(sandbox.metadb.read_bytes()).hexdigest()
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "chain: dockerd-restart → docker-libcontainerd" in res.stdout
    assert [e["runbook"] for e in _events(sandbox, "rung")] == ["dockerd-restart", "docker-libcontainerd"]
    assert [e["diagnosis"] for e in _events(sandbox, "rediagnosis")] == ["containerd-state"]
    assert len(_incidents(sandbox)) == 1, "one incident, two rungs"
    assert sandbox.running() == before
    assert shim_ids(sandbox) == sorted(before), "one shim per container"
    kept = list((sandbox.root / "state").glob("incidents/*/backup-rung2/*containerd_daemon/io.containerd.metadata.v1.bolt/meta.db"))
    assert len(kept) == 1 and hashlib.sha256(kept[0].read_bytes()).hexdigest() == damaged, "the damaged meta.db, byte-identical"
    shown = cli("incidents", _incidents_id(sandbox), "--config", str(_config(sandbox)))
    assert "rung 2: docker-libcontainerd" in shown.stdout and "containerd-state" in shown.stdout
    assert "runbook dockerd-restart → docker-libcontainerd" in shown.stdout


def _incidents_id(sb: Sandbox) -> str:
    with sqlite3.connect(sb.root / "state" / "journal.sqlite3") as db:
        return str(db.execute("SELECT id FROM incidents").fetchone()[0])


def test_without_a_tty_or_yes_nothing_is_cleared(sandbox: Sandbox) -> None:
    sandbox.corrupt_metadb("zero-meta", try_start=False)
    shims = shim_ids(sandbox)
    before = digest(sandbox.data, sandbox.exec_)
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t")
    assert res.returncode == 4, res.stdout + res.stderr
    assert digest(sandbox.data, sandbox.exec_) == before
    assert shim_ids(sandbox) == shims
    assert not list((sandbox.root / "state").glob("incidents/*/backup*"))


def test_a_corrupt_local_kv_db_escalates_naming_it_and_never_clears_containerd(sandbox: Sandbox) -> None:
    sandbox.corrupt_localkv("random", try_start=False)
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 6, res.stdout + res.stderr
    assert "network/files/local-kv.db" in res.stdout
    assert [e["diagnosis"] for e in _events(sandbox, "rediagnosis")] == ["dockerd-db"]
    assert [e["runbook"] for e in _events(sandbox, "rung")] == ["dockerd-restart"]
    assert not list((sandbox.root / "state").glob("incidents/*/backup*")), "containerd's state was never backed up or cleared"
    intents = [e for e in _events(sandbox, "intent") if e.get("action") in ("files.clear", "files.backup", "files.quarantine")]
    assert not intents
    assert (Path(sandbox.data) / "containerd" / "daemon").is_dir()


def test_a_stale_containerd_pidfile_is_proven_and_moved_aside_and_the_bystander_lives(sandbox: Sandbox) -> None:
    before = sandbox.running()
    bystander = sandbox.stale_containerd_pidfile()
    pidfile = Path(sandbox.exec_) / "containerd" / "containerd.pid"
    state = [Path(sandbox.data) / "containerd" / "daemon", Path(sandbox.exec_) / "containerd", sandbox.metadb]
    inodes = [os.stat(p).st_ino for p in state]  # containerd itself writes to meta.db once it runs; nobody replaces it
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "containerd-pidfile" in res.stdout
    assert os.path.exists(f"/proc/{bystander}"), "the process the pidfile named was never signalled"
    assert sandbox.host.ping().ok
    assert sandbox.running() == before
    assert not any(e.get("action") in ("files.clear", "files.backup", "files.restore", "files.quarantine")
                   for e in _events(sandbox, "intent"))
    assert [os.stat(p).st_ino for p in state] == inodes, "containerd's state was neither removed nor replaced"
    kept = list((sandbox.root / "state").glob("incidents/*/backup*/containerd.pid"))
    assert kept and kept[0].read_text() == str(bystander)
    assert pidfile.read_text().strip() != str(bystander), "dockerd's new containerd wrote its own pid"


def test_a_cleanly_stopped_dockerd_comes_back_with_every_container_it_stopped(sandbox: Sandbox) -> None:
    """Stopped (SIGTERM: dockerd stops its containers on the way out), then meta.db damaged: the containers
    dockerd's own shutdown stopped (restart=no included) are the snapshot, and run again afterwards."""
    from remediator.hosts.service import controller
    from remediator.lab.sandbox import damage

    before = sandbox.running()
    controller(sandbox.host).stop(15)
    damage(sandbox.metadb, "zero-meta")
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "until dockerd's last shutdown" in res.stdout
    assert sandbox.running() == before, "every container that ran before the stop runs again, restart=no included"
    assert shim_ids(sandbox) == sorted(before)

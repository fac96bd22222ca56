"""End-to-end: the operator is SIGKILLed at every point of a real remediation, then `run` resumes the same
incident from the journal alone. Both fault kinds: a corrupt meta.db (the seed runbook) and a SIGSTOP
wedge (dockerd-restart). The kill is REMEDIATOR_TEST_KILL (remediator/hosts/testhook.py): after a step's
result is journaled, after a step ran but before its result is, and one entry into the backup or the clear.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from remediator.lab import Sandbox
from tests.conftest import cli, shim_ids

pytestmark = pytest.mark.dockerd


def _run(sb: Sandbox, runbook: str, kill: str | None = None) -> tuple[int, str]:
    cfg = sb.root / "config.yaml"
    cfg.write_text(sb.config_yaml(str(sb.root / "state")))
    env = {"REMEDIATOR_TEST_KILL": kill} if kill else {}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        res = cli("run", "--config", str(cfg), "--host", "t", "--yes", "--runbook", runbook)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
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

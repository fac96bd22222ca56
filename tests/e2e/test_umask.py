"""End-to-end, issue 14 (8): the real CLI under umask 000 against a real isolated dockerd - probe, run --dry-run,
a real run that quarantines and restarts, status, and a daemon start - leaves nothing writable by others in what
it creates: the state_dir and everything in it, the API socket's directory, `.remediator-quarantine`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from remediator.lab import Sandbox, wait_for
from tests.conftest import REPO, stop_group

pytestmark = pytest.mark.dockerd


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "remediator", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=240, cwd=REPO, env={**os.environ, "COLUMNS": "200"},
                          preexec_fn=lambda: os.umask(0))  # noqa: PLW1509 - no threads started by this test


def _open_to_others(*tops: Path) -> list[str]:
    bad = []
    for top in tops:
        if not top.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for full in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                mode = os.lstat(full).st_mode
                if not (stat.S_ISLNK(mode) or stat.S_ISSOCK(mode)) and mode & 0o022:
                    bad.append(f"{full} {stat.S_IMODE(mode):o}")
    return sorted(set(bad))


def test_the_cli_under_umask_000_creates_nothing_others_can_write(sandbox: Sandbox) -> None:
    state = sandbox.root / "new-parent" / "state"
    run_dir = sandbox.root / "rundir" / "remediator"
    cfg = sandbox.root / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(state)) + f"daemon: {{interval: 1, api_socket: {run_dir / 'api.sock'}}}\n")
    quarantines = [Path(sandbox.data) / ".remediator-quarantine", Path(sandbox.exec_) / ".remediator-quarantine"]

    res = _cli("probe", "--config", str(cfg))
    assert res.returncode in (0, 3, 4, 5), res.stdout + res.stderr  # whatever the verdict: no traceback
    assert "Traceback" not in res.stderr
    res = _cli("run", "--config", str(cfg), "--host", "t", "--dry-run", "--runbook", "docker-libcontainerd")
    assert res.returncode == 0, res.stdout + res.stderr
    sandbox.corrupt_metadb()
    res = _cli("run", "--config", str(cfg), "--host", "t", "--yes")
    assert res.returncode == 0 and "recovered" in res.stdout, res.stdout + res.stderr
    assert list(state.glob("incidents/*/backup*/*.manifest.json")), "the real run copied the quarantine"
    res = _cli("status", "--config", str(cfg))
    assert res.returncode == 0, res.stdout + res.stderr

    with open(sandbox.root / "daemon.out", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "remediator", "daemon", "--config", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                preexec_fn=lambda: os.umask(0))  # noqa: PLW1509
    try:
        wait_for(lambda: (run_dir / "api.sock").exists(), 30, "the daemon's API socket")
    finally:
        stop_group(proc)

    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(sandbox.root / "new-parent").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(sandbox.root / "rundir").st_mode) == 0o755
    assert _open_to_others(state, run_dir, *quarantines) == []
    assert not os.stat(sandbox.log).st_mode & 0o022, "the dockerd log the diagnosis reads"

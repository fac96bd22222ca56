"""End-to-end, issue 14 (5): the state filesystem (a small tmpfs holding the state_dir) fills right after the
quarantine moved containerd's state aside on a real dockerd. The journal cannot record the step's result; nothing
more runs forward, the rollback runs from memory and says so on stderr, and the host is put back: the very
state directories (same inodes) in place, dockerd answering on its old state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from remediator.detect import facts as factsmod
from remediator.lab import Sandbox
from tests import crashrun
from tests.conftest import REPO

pytestmark = pytest.mark.dockerd


def test_a_state_filesystem_full_after_the_quarantine_puts_the_host_back(sandbox: Sandbox) -> None:
    statefs = sandbox.root / "statefs"
    statefs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(statefs)], check=True)
    try:
        cfg = sandbox.root / "config.yaml"
        cfg.write_text(sandbox.config_yaml(str(statefs / "state")) + "evidence_max_mb: 4\n")
        dirs = factsmod.resolve(sandbox.host).state_dirs
        inodes = {d: os.stat(d).st_ino for d in dirs if os.path.exists(d)}
        assert inodes, dirs
        sandbox.wedge()
        env = {**os.environ, "COLUMNS": "200"}
        res = subprocess.run([*crashrun.argv(fill=f"during:quarantine={statefs}/filler"), "run", "--config", str(cfg), "--host", "t", "--yes",
                              "--runbook", "docker-libcontainerd"], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=300, cwd=REPO, env=env)
        out = res.stdout + res.stderr
        assert (statefs / "filler").exists() and os.statvfs(statefs).f_bavail == 0, "the state filesystem filled"
        assert res.returncode == 3, out  # ROLLED_BACK: put back and proven
        assert "journal:" in res.stderr and "from the record in memory" in res.stderr, res.stderr
        assert " start " not in res.stdout.split("ROLLING BACK")[-1].split("undone")[0], "nothing ran forward"
        assert {d: os.stat(d).st_ino for d in inodes} == inodes, "the very state directories are back in place"
        for root in (sandbox.data, sandbox.exec_):
            q = Path(root) / ".remediator-quarantine"
            trees = [t for inc in (q.iterdir() if q.exists() else []) for t in inc.iterdir()
                     if t.is_dir() and not t.name.startswith("displaced-")]  # (the rename records stay, as files)
            assert trees == [], f"state left in the quarantine: {trees}"
        assert sandbox.host.ping(timeout=5).ok, "dockerd answers on its old state"
    finally:
        subprocess.run(["umount", "-l", str(statefs)], check=False)

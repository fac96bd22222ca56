"""End-to-end: the real CLI against real isolated dockerd daemons, broken for real."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from remediator.lab import Sandbox
from tests.conftest import cli, digest, shim_ids

pytestmark = pytest.mark.dockerd
SEED = Path(__file__).resolve().parents[2] / "runbooks" / "docker-libcontainerd.yaml"


def _config(sb: Sandbox, argv: list[str] | None = None) -> Path:
    cfg = sb.root / "config.yaml"
    cfg.write_text(sb.config_yaml(str(sb.root / "state"), argv))
    return cfg


def _backup_verifies(state: Path) -> int:
    """Re-hash every backed-up file against its manifest, independently of remediator."""
    manifests = list(state.glob("incidents/*/backup/*.manifest.json"))
    assert manifests, "no backup manifest written"
    files = 0
    for m in manifests:
        data = json.loads(m.read_text())
        for e in data["entries"]:
            if e["kind"] == "file":
                got = hashlib.sha256((Path(data["backup"]) / e["rel"]).read_bytes()).hexdigest()
                assert got == e["sha256"], e["rel"]
                files += 1
    return files


def test_corrupt_metadb_is_healed_and_every_container_runs(sandbox: Sandbox) -> None:
    before = sandbox.running()
    sandbox.corrupt_metadb()
    assert not sandbox.host.ping().ok
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "recovered" in res.stdout
    assert sandbox.running() == before
    assert shim_ids(sandbox) == sorted(before)
    assert _backup_verifies(sandbox.root / "state") > 0


def test_sigstop_hang_is_healed_by_a_restart_with_one_shim_per_container(sandbox: Sandbox) -> None:
    before = sandbox.running()
    sandbox.wedge()
    assert sandbox.host.ping(timeout=1).outcome == "timeout"
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verdict dockerd-wedged" in res.stdout and "dockerd-restart on t" in res.stdout
    assert not list((sandbox.root / "state").glob("incidents/*/backup/*")), "a wedged dockerd with sound state: no clear"
    assert sandbox.host.ping().ok
    assert sandbox.running() == before
    assert shim_ids(sandbox) == sorted(before), "orphaned or duplicate shims"
    bundle = next((sandbox.root / "state").glob("incidents/*/evidence"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["collectors"]["goroutines"]["error"], "a SIGSTOPped dockerd cannot dump; must be recorded"
    inv = (bundle / "inventory.json").read_text()
    assert "s3cret-token" not in inv and "API_TOKEN=<redacted>" in inv
    assert stat.S_IMODE(os.stat(bundle / "inventory.json").st_mode) == 0o600


def test_dry_run_changes_nothing(sandbox: Sandbox) -> None:
    sandbox.corrupt_metadb()
    shims = shim_ids(sandbox)
    before = digest(sandbox.data, sandbox.exec_)
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "would move" in res.stdout and "aside" in res.stdout and "c2-no" in res.stdout
    assert digest(sandbox.data, sandbox.exec_) == before
    assert shim_ids(sandbox) == shims


def test_no_tty_and_no_yes_destroys_nothing(sandbox: Sandbox) -> None:
    sandbox.corrupt_metadb()
    shims = shim_ids(sandbox)
    state_dirs = [f"{sandbox.exec_}/containerd", f"{sandbox.data}/containerd/daemon", f"{sandbox.exec_}/runtime-runc"]
    before = digest(*state_dirs)
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t")
    assert res.returncode == 4, res.stdout + res.stderr
    assert "no TTY and no --yes" in res.stdout
    assert digest(*state_dirs) == before
    assert shim_ids(sandbox) == shims, "containers were killed without approval"


WRAPPER = """#!/bin/bash
# test hook: snapshot the state dirs at every dockerd start, fail the first FAILS starts
root={root}; n=$(ls "$root/snap" 2>/dev/null | wc -l); n=$((n+1)); mkdir -p "$root/snap/$n"
for d in exec/containerd data/containerd/daemon exec/runtime-runc; do
  [ -e "$root/$d" ] && cp -a "$root/$d" "$root/snap/$n/$(echo $d | tr / _)"
done
if [ "$n" -le {fails} ]; then echo "forced start failure $n" >&2; exit 1; fi
exec "$@"
"""


def _files(top: Path) -> dict[str, str]:
    out = {}
    for p in sorted(top.rglob("*")):
        kind = "fifo" if p.is_fifo() else "sock" if p.is_socket() else "link" if p.is_symlink() else \
            "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        if kind != "sock":
            out[str(p.relative_to(top))] = kind
    return out


def test_failed_start_rolls_back_to_the_original_state(sandbox: Sandbox) -> None:
    before = sandbox.running()
    sandbox.wedge()
    state = [Path(sandbox.exec_) / "containerd", Path(sandbox.data) / "containerd" / "daemon", Path(sandbox.exec_) / "runtime-runc"]
    inodes = [os.stat(d).st_ino for d in state]
    wrapper = sandbox.root / "start-wrapper"
    wrapper.write_text(WRAPPER.format(root=sandbox.root, fails=2))  # the start step retries once
    wrapper.chmod(0o755)
    res = cli("run", "--config", str(_config(sandbox, [str(wrapper), *sandbox.argv()])), "--host", "t", "--yes",
              "--runbook", str(SEED))
    assert res.returncode == 3, res.stdout + res.stderr
    assert "ROLLED BACK" in res.stdout
    first = sandbox.root / "snap" / "1"  # what the first (failed) start found: the empty directories
    prefix = str(sandbox.root).strip("/").replace("/", "_") + "_"
    assert all(not any((first / d.name).iterdir()) for d in first.iterdir()), "the state was moved aside"
    assert [os.stat(d).st_ino for d in state] == inodes, \
        "the very same directories are back (renamed back: byte-identical by construction)"
    restored = sandbox.root / "snap" / "3"  # what dockerd found when the rollback started it
    for d in state:
        name = str(d).strip("/").replace("/", "_").removeprefix(prefix)
        assert (restored / name).is_dir() and any((restored / name).iterdir()) or not any(d.iterdir()), name
    displaced = list(Path(sandbox.exec_).glob(".remediator-quarantine/*/displaced-*"))
    assert displaced, "what the failed starts wrote is kept aside, never deleted"
    assert sandbox.host.ping().ok, "the rollback must start dockerd again"
    assert before  # containers were killed by the stop step; the report says rolled_back loudly

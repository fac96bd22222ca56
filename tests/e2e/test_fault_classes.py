"""End-to-end: fault classes the fault matrix (bench/fault-matrix.txt) found misread, on real isolated dockerd.

containerd that lost its tasks while their shims live on (meta.db truncated to 0 or deleted, then dockerd started
again): dockerd answers every call, lists none of the containers as running and cannot start them ('task ...
already exists'), while the old container processes run on unseen. Before the rule `invisible_containers` this
read `healthy` and nothing was done (0 of 3 containers listed)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from remediator.clock import poll_until
from remediator.hosts.service import controller
from remediator.lab import Sandbox
from remediator.lab.sandbox import damage
from tests.conftest import cli, shim_ids

pytestmark = pytest.mark.dockerd


def _truncate(db: Path) -> None:
    os.truncate(db, 0)


def _delete(db: Path) -> None:
    db.unlink()


def _lose_tasks(sb: Sandbox, how: Callable[[Path], None]) -> None:
    """Crash dockerd (shims and containers live on), empty containerd's metadata, start dockerd again: it answers."""
    sb.crash()
    how(sb.metadb)
    controller(sb.host).start(30)
    assert sb.host.ping().ok


def _healed_by_the_state_clear(sandbox: Sandbox) -> None:
    """`run --yes` reads containerd-state, climbs no further than docker-libcontainerd, and recovers."""
    cfg = sandbox.root / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(sandbox.root / "state")))
    res = cli("run", "--config", str(cfg), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verdict containerd-state" in res.stdout and "docker-libcontainerd on t" in res.stdout
    assert "recovered" in res.stdout


@pytest.mark.parametrize("how", [_truncate, _delete], ids=["truncated", "deleted"])
def test_containers_that_containerd_lost_are_containerd_state_and_come_back(sandbox: Sandbox,
                                                                             how: Callable[[Path], None]) -> None:
    before = sandbox.running()
    _lose_tasks(sandbox, how)
    assert not sandbox.running() & before, "dockerd lists none of them as running: the fault is in place"
    cfg = sandbox.root / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(sandbox.root / "state")))
    # at once: the shims are older than the dockerd now running (a generation before it)
    probe = cli("probe", "--config", str(cfg), "--host", "t")
    assert "verdict containerd-state" in probe.stdout, probe.stdout + probe.stderr
    _healed_by_the_state_clear(sandbox)
    assert sandbox.running() == before, "every container that ran runs again"
    assert shim_ids(sandbox) == sorted(before), "one shim per container: the old, unseen ones were reaped"


def test_a_wedged_dockerd_whose_containerd_panicked_on_its_meta_db_is_healed_with_the_state_cleared(
        sandbox: Sandbox) -> None:
    """meta.db damaged under a running containerd, dockerd SIGSTOPped: containerd's restart monitor panics in bbolt
    ('invalid meta pages', a stack of containerd's in-process services) and dockerd cannot restart it. The panic
    read `unknown` (escalated, nothing healed) before containerd's in-process frames attributed it."""
    before = sandbox.running()
    damage(sandbox.metadb, "random")
    sandbox.wedge()
    assert poll_until(lambda: "invalid meta pages" in Path(sandbox.log).read_text(errors="replace") or None,
                      timeout=30, every=0.2), "containerd did not panic on its meta.db"
    _healed_by_the_state_clear(sandbox)
    assert sandbox.running() == before
    assert shim_ids(sandbox) == sorted(before)


def test_containers_whose_runc_state_was_left_behind_are_containerd_state_and_come_back(sandbox: Sandbox) -> None:
    """dockerd crashed and its shims and containers died with it (an OOM kill of the lot), leaving runc's state:
    dockerd starts and answers, but every container's start fails 'container with id exists'. Read `healthy`
    with 0 of 4 containers running before the rule `stale_runtime_state`."""
    before = sandbox.running()
    sandbox.crash()
    fam = sandbox.host.family(data_root=sandbox.data, exec_root=sandbox.exec_)
    for p in [*fam.shims, *fam.containers]:
        os.kill(p.pid, signal.SIGKILL)
    sandbox.host.wait_gone([*fam.shims, *fam.containers], 10)
    runc = Path(sandbox.exec_) / "runtime-runc" / "moby"
    for cid in before:
        (runc / cid).mkdir(parents=True, exist_ok=True)
        (runc / cid / "state.json").write_bytes(os.urandom(200))  # garbage, as a torn write leaves it
    controller(sandbox.host).start(30)
    exists = re.compile(r"container with (?:given )?id (?:already )?exists", re.I)  # runc's words vary by version
    assert poll_until(lambda: exists.search(Path(sandbox.log).read_text(errors="replace")) or None,
                      timeout=30, every=0.2), "no start failed on the stale runc state"
    assert not sandbox.running() & before, "the fault is in place: none of them runs"
    _healed_by_the_state_clear(sandbox)
    assert sandbox.running() == before, "every container that ran runs again"
    assert shim_ids(sandbox) == sorted(before)


def test_a_healthy_daemon_with_paused_and_stopped_containers_never_reads_containerd_state(sandbox: Sandbox) -> None:
    """The safety side of invisible_containers and stale_runtime_state: one container paused and one stopped by
    hand, probed once every shim has run SETTLED_SHIM seconds (so the rules look at them). Nothing is lost: the
    probe reads healthy and a dry-run plans nothing."""
    import subprocess

    from remediator.detect.probes import SETTLED_SHIM

    ids = sorted(sandbox.running())
    docker = ["docker", "-H", f"unix://{sandbox.sock}"]
    subprocess.run([*docker, "pause", ids[0]], check=True, capture_output=True, timeout=30)
    subprocess.run([*docker, "stop", "-t", "1", ids[1]], check=True, capture_output=True, timeout=30)

    def settled() -> bool | None:
        shims = [p for p in sandbox.processes() if "shim" in p.comm]
        ages = [h.uptime for p in shims if (h := sandbox.host.health(p)) is not None]
        return (bool(shims) and len(ages) == len(shims) and min(ages) >= SETTLED_SHIM) or None

    assert poll_until(settled, timeout=60, every=0.5), "every shim has run long enough to count"
    cfg = sandbox.root / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(sandbox.root / "state")))
    probe = cli("probe", "--config", str(cfg), "--host", "t")
    assert probe.returncode == 0 and "verdict healthy" in probe.stdout, probe.stdout + probe.stderr
    plan = cli("run", "--config", str(cfg), "--host", "t", "--dry-run")
    assert plan.returncode == 0 and "containerd-state" not in plan.stdout, plan.stdout + plan.stderr

"""The systemd and command service controllers against real dockerd daemons, with their tools faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.lab import Sandbox
from tests.conftest import cli, require_docker, shim_ids
from tests.fakes import systemd

pytestmark = pytest.mark.dockerd


def _config(sb: Sandbox, service: str) -> Path:
    cfg = sb.root / "kind.yaml"
    cfg.write_text(
        f"state_dir: {sb.root / 'state'}\nevidence_budget: 10\nprobe: {{timeout: 1.0, interval: 0.2}}\nhosts:\n"
        f"  - name: t\n    docker_host: unix://{sb.sock}\n    data_root: {sb.data}\n    exec_root: {sb.exec_}\n"
        f"    daemon_json: {sb.root / 'daemon.json'}\n    service: {{{service}}}\n")
    return cfg


def _systemd_config(sb: Sandbox) -> tuple[Path, Path]:
    systemctl, journalctl, calls = systemd.install(sb.root, pidfile=sb.pidfile, log=sb.log, argv=sb.argv())
    return _config(sb, f"kind: systemd, unit: docker.service, socket: docker.socket, systemctl: {systemctl}, "
                       f"journalctl: {journalctl}, pidfile: {sb.pidfile}"), calls


def _heals(sb: Sandbox, cfg: Path, verdict: str, before: set[str]) -> None:
    """`run --yes` recovers the host: every container that ran before the fault runs again, one shim each."""
    res = cli("run", "--config", str(cfg), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"verdict {verdict}" in res.stdout and "recovered" in res.stdout
    assert sb.running() == before
    assert shim_ids(sb) == sorted(before)


def test_systemd_host_wedged_dockerd_is_restarted_through_systemctl(sandbox: Sandbox) -> None:
    before = sandbox.running()
    cfg, calls = _systemd_config(sandbox)
    sandbox.wedge()
    _heals(sandbox, cfg, "dockerd-wedged", before)
    made = calls.read_text().splitlines()
    assert "stop --no-block docker.socket docker.service" in made
    assert "start --no-block docker.socket docker.service" in made


def test_systemd_host_corrupt_metadb_is_read_from_the_journal_and_healed(sandbox: Sandbox) -> None:
    before = sandbox.running()
    cfg, calls = _systemd_config(sandbox)
    sandbox.corrupt_metadb()
    _heals(sandbox, cfg, "containerd-state", before)  # the signatures came from the stand-in journal
    assert "reset-failed docker.service" in calls.read_text()


def test_command_kind_host_uses_the_given_start_and_stop_commands(sandbox: Sandbox) -> None:
    """service.kind command: the user's own argv lists (here the same stand-in, as an init script would be)."""
    before = sandbox.running()
    tool, _journal, calls = systemd.install(sandbox.root, pidfile=sandbox.pidfile, log=sandbox.log, argv=sandbox.argv())
    cfg = _config(sandbox, f"kind: command, start: [{tool}, start, docker], stop: [{tool}, stop, docker], "
                           f"status: [{tool}, show, -p, MainPID], pidfile: {sandbox.pidfile}, log: {sandbox.log}")
    sandbox.wedge()
    _heals(sandbox, cfg, "dockerd-wedged", before)
    assert {"stop docker", "start docker"} <= set(calls.read_text().splitlines())


def _inits(sb: Sandbox) -> set[tuple[int, int]]:
    """Each container's init process (the shim's child; its own children come and go) and its shim."""
    fam = sb.host.family(data_root=sb.data, exec_root=sb.exec_)
    shims = {s.pid: s for s in fam.shims}
    return {(p.pid, p.start) for p in fam.containers if p.ppid in shims} | {(s.pid, s.start) for s in fam.shims}


def test_live_restore_host_keeps_its_container_processes_through_the_restart() -> None:
    """dockerd-restart never reaps: with live-restore the containers' processes survive the restart (same pids)."""
    require_docker()
    sb = Sandbox(name="t", extra_flags=("--live-restore",))
    try:
        sb.start()
        before = set(sb.populate(3))
        procs_before = _inits(sb)
        sb.wedge()
        cfg = sb.root / "c.yaml"
        cfg.write_text(sb.config_yaml(str(sb.root / "state")))
        res = cli("run", "--config", str(cfg), "--host", "t", "--yes")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "dockerd-restart" in res.stdout and "recovered" in res.stdout
        assert sb.running() == before
        assert _inits(sb) == procs_before, "a container was restarted: live-restore was not honoured"
    finally:
        sb.cleanup()
    assert not sb.processes()

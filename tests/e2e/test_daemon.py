"""End-to-end: `remediator daemon` over several real isolated dockerds (policy auto / approve / observe).

The daemon runs as a real subprocess (its own session; SIGTERM, then SIGKILL of its group at the end); every
wait polls `remediator status --json` (the state directory) or the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remediator.lab import Sandbox, wait_for
from tests.conftest import REPO, cli, require_docker, shim_ids

pytestmark = pytest.mark.dockerd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fleet:
    def __init__(self, n: int, tmp: Path) -> None:
        self.tmp = tmp
        self.boxes = [Sandbox(name=f"h{i}") for i in range(n)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = _free_port()
        self.cfg = tmp / "config.yaml"

    def write_config(self, policy: str = "auto", limits: str = "{cooldown: 0, fleet_budget: 3}") -> None:
        hosts = "".join(b.host_yaml(policy=policy) for b in self.boxes)
        self.cfg.write_text(
            f"state_dir: {self.tmp / 'state'}\nevidence_budget: 10\nprobe: {{timeout: 1.0, interval: 0.2}}\n"
            f"daemon: {{interval: 1, api_socket: {self.tmp / 'api.sock'}, metrics_listen: '127.0.0.1:{self.port}', "
            f"limits: {limits}}}\nhosts:\n{hosts}")

    def start_daemon(self) -> None:
        with open(self.tmp / "daemon.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "remediator", "daemon", "--config", str(self.cfg)],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        wait_for(lambda: (self.tmp / "api.sock").exists(), 30, "the daemon's API socket")

    def stop_daemon(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        try:
            os.killpg(self.proc.pid, sig)
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=30)
        except ProcessLookupError:
            return self.proc.poll()
        finally:
            self.proc = None

    def status(self) -> dict[str, dict[str, object]]:
        res = cli("status", "--config", str(self.cfg), "--json")
        assert res.returncode == 0, res.stderr
        return {h["name"]: h for h in json.loads(res.stdout)["hosts"]}

    def incidents(self) -> list[tuple[str, str, int, float, float | None, str | None]]:
        with sqlite3.connect(self.tmp / "state" / "journal.sqlite3") as db:
            return db.execute("SELECT id, host, dry_run, started, ended, outcome FROM incidents ORDER BY started").fetchall()

    def wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_for(cond, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- daemon log (tail):\n{self.log()}\n--- incidents: {self.incidents()}") from None

    def log(self) -> str:
        return (self.tmp / "daemon.log").read_text(errors="replace")[-6000:]

    def cleanup(self) -> None:
        self.stop_daemon(signal.SIGKILL)
        for b in self.boxes:
            b.cleanup()
        leftovers = [p for b in self.boxes for p in b.processes()]
        assert not leftovers, f"sandboxes left processes behind: {leftovers}"


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """N sandboxes and a state dir of their own under /tmp (not pytest's tmp_path: another pytest session on the
    machine prunes old basetemp dirs, and a journal deleted under a running daemon is not what is tested here)."""
    require_docker()
    tmp = Path(tempfile.mkdtemp(prefix="rmd-daemon-", dir="/tmp"))
    f = Fleet(getattr(request, "param", 3), tmp)
    try:
        for b in f.boxes:
            b.start()
            b.populate(2)
        yield f
    finally:
        try:
            f.cleanup()
        finally:
            if not os.environ.get("REMEDIATOR_KEEP_STATE"):
                shutil.rmtree(tmp, ignore_errors=True)


def test_three_daemons_under_one_auto_daemon_two_broken_both_healed_third_untouched(fleet: Fleet) -> None:
    a, b, c = fleet.boxes
    before = {x.name: x.running() for x in fleet.boxes}
    c_pid = c.dockerd_proc().pid  # type: ignore[union-attr]
    fleet.write_config("auto")
    fleet.start_daemon()
    wait_for(lambda: all(h["state"] == "healthy" for h in fleet.status().values()), 60, "three healthy hosts")
    a.corrupt_metadb("random", try_start=True)
    b.wedge()

    def healed() -> bool:
        rows = fleet.incidents()
        return sum(1 for r in rows if r[5] == "recovered") >= 2 and all(r[4] is not None for r in rows)

    fleet.wait(healed, 240, "both broken hosts healed by the daemon")
    rows = fleet.incidents()
    assert {r[1] for r in rows} == {a.name, b.name}, f"the third host was never touched: {rows}"
    assert all(r[5] == "recovered" and r[2] == 0 for r in rows), rows
    for x in (a, b):
        assert x.host.ping().ok and x.running() == before[x.name] and shim_ids(x) == sorted(before[x.name])
    assert c.dockerd_proc().pid == c_pid and c.running() == before[c.name]  # type: ignore[union-attr]
    wait_for(lambda: all(h["state"] == "healthy" and h["open_incident"] is None for h in fleet.status().values()),
             60, "status: every host healthy again")
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{fleet.port}/metrics", timeout=10).read().decode()
    recovered = [ln for ln in metrics.splitlines() if ln.startswith("remediator_incidents_total") and 'outcome="recovered"' in ln]
    assert sum(float(ln.rsplit(" ", 1)[1]) for ln in recovered) == 2, recovered
    assert fleet.stop_daemon() == 0, fleet.log()


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_a_host_broken_again_after_each_fix_is_quarantined_then_released(fleet: Fleet) -> None:
    (a,) = fleet.boxes
    fleet.write_config("auto", limits="{cooldown: 0, max_per_window: 1, window: 3600}")
    fleet.start_daemon()
    a.corrupt_metadb("random", try_start=True)
    fleet.wait(lambda: [r[5] for r in fleet.incidents()] == ["recovered"], 120, "the first fix")
    a.corrupt_metadb("random", try_start=True)
    fleet.wait(lambda: fleet.status()[a.name]["state"] == "quarantined", 120, "quarantine after the limit")
    h = fleet.status()[a.name]
    assert "limit 1" in str(h["reason"]) and "quarantined until a human releases it" in str(h["reason"])
    assert len(fleet.incidents()) == 1, "no further action on a quarantined host"
    assert not a.host.ping().ok
    res = cli("release", a.name, "--config", str(fleet.cfg))
    assert res.returncode == 0, res.stderr
    fleet.wait(lambda: [r[5] for r in fleet.incidents()] == ["recovered", "recovered"], 120,
               "healed again once released (the budget counts from the release)")
    assert a.host.ping().ok


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_observe_changes_nothing_and_records_the_plan(fleet: Fleet) -> None:
    from tests.conftest import digest

    (a,) = fleet.boxes
    fleet.write_config("observe", limits="{cooldown: 3600}")
    fleet.start_daemon()
    a.corrupt_metadb("random", try_start=True)
    before = digest(a.data, a.exec_)
    fleet.wait(lambda: len(fleet.incidents()) == 1 and fleet.incidents()[0][4] is not None, 120, "the recorded plan")
    (iid, host, dry_run, *_rest, outcome) = fleet.incidents()[0]
    assert dry_run == 1 and outcome == "planned"
    assert digest(a.data, a.exec_) == before, "observe changed the host"
    assert not a.host.ping().ok and a.dockerd_proc() is None, "dockerd was not started"
    res = cli("incidents", iid, "--config", str(fleet.cfg))
    assert "quarantine" in res.stdout and "plan" in res.stdout

"""End-to-end: `remediator daemon` over several real isolated dockerds (policy auto / approve / observe).

The daemon runs as a real subprocess (its own session; SIGTERM, then SIGKILL of its group at the end); every
wait polls `remediator status --json` (the state directory) or the journal.
"""

from __future__ import annotations

import json
import os
import pwd
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
from tests import crashrun
from tests.conftest import REPO, cli, require_docker, shim_ids, track

pytestmark = pytest.mark.dockerd
ME = pwd.getpwuid(os.getuid()).pw_name  # who approves: the CLI's user, as the daemon sees it on its socket


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

    def write_config(self, policy: str = "auto", limits: str = "{cooldown: 0, fleet_budget: 3}",
                     hosts: str | None = None) -> None:
        hosts = hosts or "".join(b.host_yaml(policy=policy) for b in self.boxes)
        self.cfg.write_text(
            f"state_dir: {self.tmp / 'state'}\nevidence_budget: 10\nprobe: {{timeout: 1.0, interval: 0.2}}\n"
            f"daemon: {{interval: 1, api_socket: {self.tmp / 'api.sock'}, metrics_listen: '127.0.0.1:{self.port}', "
            f"limits: {limits}}}\nhosts:\n{hosts}")

    def start_daemon(self, kill: str | None = None) -> None:
        """Start `remediator daemon`; with `kill`, under tests/crashrun.py, SIGKILLed at that crash point."""
        sock = self.tmp / "api.sock"
        if sock.exists():
            sock.unlink()  # a killed daemon leaves its socket: wait for the new one
        with open(self.tmp / "daemon.log", "ab") as log:  # the child keeps its own copy of the descriptor
            entry = crashrun.argv(kill=kill) if kill else [sys.executable, "-m", "remediator"]
            self.proc = subprocess.Popen([*entry, "daemon", "--config", str(self.cfg)],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                         env=dict(os.environ))
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

    def rounds(self) -> float:
        """remediator_probe_rounds_total from the daemon's /metrics."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10).read().decode()
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith("remediator_probe_rounds_total"))

    def wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_for(cond, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- daemon log (tail):\n{self.log()}\n--- incidents: {self.incidents()}") from None

    def log(self, tail: int = 6000) -> str:
        return (self.tmp / "daemon.log").read_text(errors="replace")[-tail:]

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
    track(tmp)  # the daemon names it (--config): removed even if this worker crashes
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


def _pending(fleet: Fleet) -> list[dict[str, object]]:
    res = cli("status", "--config", str(fleet.cfg), "--json")
    return list(json.loads(res.stdout)["approvals"])


def _never_overlap(rows: list[tuple[str, str, int, float, float | None, str | None]]) -> None:
    spans = sorted((r[3], r[4] or float("inf")) for r in rows if not r[2])
    for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
        assert s2 >= e1, f"two remediations at once: {spans}"


@pytest.mark.parametrize("fleet", [2], indirect=True)
def test_fleet_budget_one_never_runs_two_remediations_at_once(fleet: Fleet) -> None:
    a, b = fleet.boxes
    fleet.write_config("auto", limits="{cooldown: 0, fleet_budget: 1}")
    fleet.start_daemon()
    a.corrupt_metadb("random", try_start=True)
    b.corrupt_metadb("random", try_start=True)
    fleet.wait(lambda: sorted(r[5] or "" for r in fleet.incidents()) == ["recovered", "recovered"], 180,
               "both healed, one after the other")
    _never_overlap(fleet.incidents())
    full = fleet.log(tail=1 << 24)
    if '"reason": "fleet-budget"' not in full:  # the first remediation ended before the second host's gate
        assert full.count('"event": "acting"') == 2


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_approve_policy_waits_for_the_api_then_heals(fleet: Fleet) -> None:
    (a,) = fleet.boxes
    before = a.running()
    fleet.write_config("approve", limits="{cooldown: 0}")
    fleet.start_daemon()
    a.wedge()
    fleet.wait(lambda: bool(_pending(fleet)), 120, "a pending approval for the risky step")
    (ask,) = _pending(fleet)
    assert ask["step"] == "stop" and fleet.status()[a.name]["state"] == "awaiting-approval"
    assert not fleet.incidents()[0][4], "nothing ran while it waited"
    res = cli("approve", str(ask["id"]), "--config", str(fleet.cfg), "--note", "alice")
    assert res.returncode == 0 and f"approved by {ME}" in res.stdout, res.stdout + res.stderr  # the peer's user
    fleet.wait(lambda: [r[5] for r in fleet.incidents()] == ["recovered"], 120, "healed once approved")
    assert a.host.ping().ok and a.running() == before


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_an_approval_for_a_host_that_recovered_by_itself_is_not_executed_and_deny_refuses(fleet: Fleet) -> None:
    (a,) = fleet.boxes
    fleet.write_config("approve", limits="{cooldown: 0}")
    fleet.start_daemon()
    pid = a.wedge()
    fleet.wait(lambda: bool(_pending(fleet)), 120, "a pending approval")
    (ask,) = _pending(fleet)
    os.kill(pid, signal.SIGCONT)  # the host recovers by itself while the approval waits
    wait_for(lambda: a.host.ping().ok, 30, "dockerd answering again")
    assert cli("approve", str(ask["id"]), "--config", str(fleet.cfg)).returncode == 0
    fleet.wait(lambda: fleet.incidents()[0][5] is not None, 60, "the incident ends")
    assert fleet.incidents()[0][5] == "refused", "the approved step was not executed"
    assert a.dockerd_proc().pid == pid, "dockerd was not restarted"  # type: ignore[union-attr]
    with sqlite3.connect(fleet.tmp / "state" / "daemon.sqlite3") as db:
        note = db.execute("SELECT note FROM approvals WHERE id=?", (ask["id"],)).fetchone()[0]
    assert "recovered by itself" in note
    # wedged again: this time a human denies
    a.wedge()
    fleet.wait(lambda: bool(_pending(fleet)), 120, "a second pending approval")
    (ask,) = _pending(fleet)
    assert cli("deny", str(ask["incident"]), "--config", str(fleet.cfg)).returncode == 0
    fleet.wait(lambda: fleet.incidents()[-1][5] is not None, 60, "the denied incident ends")
    assert fleet.incidents()[-1][5] == "refused" and a.dockerd_proc().pid == pid  # type: ignore[union-attr]


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_the_daemon_killed_after_the_clear_resumes_on_restart(fleet: Fleet) -> None:
    (a,) = fleet.boxes
    before = a.running()
    fleet.write_config("auto", limits="{cooldown: 0}")
    fleet.start_daemon(kill="after:quarantine")
    a.corrupt_metadb("random", try_start=True)
    proc = fleet.proc
    assert proc is not None
    fleet.wait(lambda: proc.poll() is not None, 120, "the daemon SIGKILLed after the quarantine")
    assert proc.returncode == -9
    fleet.proc = None
    (row,) = fleet.incidents()
    assert row[4] is None, "the incident is in flight"
    fleet.start_daemon()
    fleet.wait(lambda: fleet.incidents()[0][5] == "recovered", 120, "resumed by the restarted daemon")
    assert len(fleet.incidents()) == 1, "the same incident, not a new one"
    assert a.host.ping().ok and a.running() == before and shim_ids(a) == sorted(before)
    assert '"event": "resuming"' in fleet.log(tail=1 << 24)


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_an_admin_stopped_dockerd_is_never_started(fleet: Fleet) -> None:
    from tests.fakes import systemd

    (a,) = fleet.boxes
    systemctl, journalctl, calls = systemd.install(a.root, pidfile=a.pidfile, log=a.log, argv=a.argv())
    fleet.write_config(limits="{cooldown: 0}", hosts=(
        f"  - name: {a.name}\n    policy: auto\n    docker_host: unix://{a.sock}\n    data_root: {a.data}\n"
        f"    exec_root: {a.exec_}\n    daemon_json: {a.root / 'daemon.json'}\n"
        f"    service: {{kind: systemd, unit: docker.service, socket: docker.socket, systemctl: {systemctl}, "
        f"journalctl: {journalctl}, pidfile: {a.pidfile}}}\n"))
    fleet.start_daemon()
    fleet.wait(lambda: fleet.status()[a.name]["state"] == "healthy", 60, "healthy first")
    subprocess.run([systemctl, "stop", "docker.service"], check=True)  # the admin stops it on purpose
    wait_for(lambda: a.dockerd_proc() is None, 60, "dockerd gone")
    fleet.wait(lambda: fleet.status()[a.name]["state"] == "stopped-by-admin", 120, "recognised as stopped by the admin")
    rounds = fleet.log(tail=1 << 24).count('"event": "refused"')
    seen = fleet.rounds()
    fleet.wait(lambda: fleet.rounds() >= seen + 3, 60, "three more daemon rounds")  # time to (wrongly) act
    assert fleet.status()[a.name]["state"] == "stopped-by-admin"
    assert a.dockerd_proc() is None and not fleet.incidents(), "never started, no incident"
    assert "start" not in [ln.split()[0] for ln in calls.read_text().splitlines()], calls.read_text()
    assert rounds == 1, "the refusal is recorded once per episode, not every round"


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_drain_before_the_stop_and_undrain_after_verify(fleet: Fleet) -> None:
    """A stand-in kubectl records its calls: drained before dockerd is stopped, uncordoned once the containers run."""
    (a,) = fleet.boxes
    calls = fleet.tmp / "kubectl.calls"
    kubectl = fleet.tmp / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\nimport sys\nopen({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    kubectl.chmod(0o755)
    extra = {"drain": f"[{kubectl}, drain, {a.name}, --ignore-daemonsets, --timeout=60s]",
             "undrain": f"[{kubectl}, uncordon, {a.name}]"}
    fleet.write_config(limits="{cooldown: 0}", hosts=a.host_yaml(policy="auto", **extra))
    fleet.start_daemon()
    a.corrupt_metadb("random", try_start=True)
    fleet.wait(lambda: [r[5] for r in fleet.incidents()] == ["recovered"], 120, "healed with the hooks")
    assert calls.read_text().splitlines() == [f"drain {a.name} --ignore-daemonsets --timeout=60s", f"uncordon {a.name}"]
    with sqlite3.connect(fleet.tmp / "state" / "journal.sqlite3") as db:
        order = [s for (s,) in db.execute("SELECT step FROM events WHERE kind='result' ORDER BY seq")]
    assert order.index("drain") < order.index("stop") < order.index("verify") < order.index("undrain"), order


@pytest.mark.parametrize("fleet", [1], indirect=True)
def test_deny_rolls_back_what_the_incident_changed(fleet: Fleet) -> None:
    """policy approve with a drain hook: the drain waits for its own approval (a node is never drained behind a
    human's back), then the stop waits; `deny` refuses the stop and the rollback undrains, dockerd untouched."""
    (a,) = fleet.boxes
    calls = fleet.tmp / "kubectl.calls"
    kubectl = fleet.tmp / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\nimport sys\nopen({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    kubectl.chmod(0o755)
    fleet.write_config(limits="{cooldown: 3600}", hosts=a.host_yaml(
        policy="approve", drain=f"[{kubectl}, drain, {a.name}]", undrain=f"[{kubectl}, uncordon, {a.name}]"))
    fleet.start_daemon()
    pid = a.wedge()
    fleet.wait(lambda: bool(_pending(fleet)), 120, "the drain awaiting approval")
    (ask,) = _pending(fleet)
    assert ask["step"] == "drain" and not calls.exists(), "not drained before a human said yes"
    assert cli("approve", str(ask["id"]), "--config", str(fleet.cfg)).returncode == 0
    fleet.wait(lambda: bool(_pending(fleet)) and _pending(fleet)[0]["step"] == "stop", 120, "the stop awaiting approval")
    assert calls.read_text().splitlines() == [f"drain {a.name}"]
    (ask,) = _pending(fleet)
    res = cli("deny", str(ask["id"]), "--config", str(fleet.cfg), "--note", "bob")
    assert res.returncode == 0 and f"denied by {ME}" in res.stdout, res.stdout + res.stderr
    fleet.wait(lambda: fleet.incidents()[0][5] is not None, 60, "the denied incident ends")
    assert fleet.incidents()[0][5] == "rolled_back"
    assert calls.read_text().splitlines() == [f"drain {a.name}", f"uncordon {a.name}"], "undrained by the rollback"
    assert a.dockerd_proc().pid == pid, "dockerd was not touched"  # type: ignore[union-attr]

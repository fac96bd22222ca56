"""Diagnosis against real isolated dockerd daemons, broken for real (issue 3 acceptance)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from remediator import exitcodes
from remediator.detect import facts as factsmod
from remediator.detect.diagnose import prober_for
from remediator.detect.verdict import Monitor, Verdict, settle
from remediator.hosts.service import controller
from remediator.lab import Sandbox
from remediator.settings import ProbeConfig
from tests.conftest import cli, require_docker, shim_ids

pytestmark = pytest.mark.dockerd
FAST = ProbeConfig(timeout=1.0, interval=0.2)


def _verdicts(sb: Sandbox, cfg: ProbeConfig, rounds: int) -> list[Verdict]:
    facts = factsmod.resolve(sb.host)
    prober, monitor = prober_for(sb.host, controller(sb.host), facts, cfg), Monitor(facts.layout, debounce=cfg.debounce)
    return [monitor.feed(prober.round()) for _ in range(rounds)]


def _config(sb: Sandbox) -> Path:
    cfg = sb.root / "config.yaml"
    cfg.write_text(sb.config_yaml(str(sb.root / "state")))
    return cfg


def test_healthy_then_sigstop_is_dockerd_wedged_within_3_rounds(sandbox: Sandbox) -> None:
    res = cli("probe", "--config", str(_config(sandbox)), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (json.loads(res.stdout)["verdict"], json.loads(res.stdout)["rule"]) == ("healthy", "healthy")
    res = cli("diagnose", "--log", sandbox.log, "--json")  # the real start-up log of this daemon
    assert res.returncode == 0 and json.loads(res.stdout)["verdict"] == "healthy", res.stdout
    sandbox.wedge()
    verdicts = _verdicts(sandbox, FAST, 3)
    assert [v.diagnosis for v in verdicts] == ["suspect", "suspect", "dockerd-wedged"]
    v = verdicts[-1]
    assert v.runbook == "dockerd-restart" and [x.rule for x in verdicts] == ["ping_silent"] * 3
    text = "\n".join(v.trace)
    assert "/_ping: timeout ×3" in text and "state T (stopped)" in text and "containerd answers" in text


def test_slow_but_alive_is_never_wedged_over_60_rounds(sandbox: Sandbox) -> None:
    """dockerd stopped for 1 s of every 2 s: answers come late, never not at all."""
    pid = sandbox.dockerd_proc().pid  # type: ignore[union-attr]
    done = threading.Event()

    def flap() -> None:
        while not done.is_set():
            os.kill(pid, signal.SIGSTOP)
            done.wait(1.0)
            os.kill(pid, signal.SIGCONT)
            done.wait(1.0)

    t = threading.Thread(target=flap, daemon=True)
    t.start()
    try:
        verdicts = _verdicts(sandbox, ProbeConfig(timeout=2.0, slow=0.3, interval=0), 60)
    finally:
        done.set()
        t.join()
        os.kill(pid, signal.SIGCONT)
    seen = [v.diagnosis for v in verdicts]
    assert "dockerd-wedged" not in seen
    assert "degraded" in seen, "the stops must have been observed as slowness"


def test_corrupt_metadb_is_a_start_failure_that_selects_the_seed(sandbox: Sandbox) -> None:
    sandbox.corrupt_metadb()
    res = cli("probe", "--config", str(_config(sandbox)), "--json")
    assert res.returncode == exitcodes.SICK, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["verdict"] == "containerd-state" and out["runbook"] == "docker-libcontainerd"
    assert {"S09-dial-managed", "S10-ctrd-plugin-db"} <= set(out["signatures"])
    res = cli("diagnose", "--log", sandbox.log, "--json")
    off = json.loads(res.stdout)
    assert off["verdict"] == "containerd-state" and off["runbook"] == "docker-libcontainerd"
    assert any(s["id"] == "S09-dial-managed" and s["line"] > 0 for s in off["signatures"])


def test_sigstopped_containerd_is_a_containerd_diagnosis_and_a_restart_heals_it(sandbox: Sandbox) -> None:
    before = sandbox.running()
    ctrd = sandbox.host.family(data_root=sandbox.data, exec_root=sandbox.exec_).containerd[0]
    os.kill(ctrd.pid, signal.SIGSTOP)
    facts = factsmod.resolve(sandbox.host)
    v = settle(prober_for(sandbox.host, controller(sandbox.host), facts, FAST), Monitor(facts.layout), interval=0.2)
    assert v.diagnosis == "containerd-wedged", v.trace
    assert v.observations["_ping"]["outcome"] == "ok" and v.observations["containerd"]["outcome"] == "timeout"
    assert v.runbook == "dockerd-restart"  # dockerd owns this containerd: restarting dockerd restarts it
    res = cli("run", "--config", str(_config(sandbox)), "--host", "t", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verdict containerd-wedged" in res.stdout and "recovered" in res.stdout
    assert sandbox.running() == before
    assert shim_ids(sandbox) == sorted(before), "orphaned or duplicate shims"


def test_full_data_root_is_disk_full_and_nothing_restarts() -> None:
    require_docker()
    sb = Sandbox(name="t")
    try:
        os.makedirs(sb.data)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", sb.data], check=True)
        sb.start()
        sb.populate(2)
        before = sb.dockerd_proc()
        filler = Path(sb.data) / "filler"
        with open(filler, "wb") as fh:  # fill it for real: write until ENOSPC
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
            except OSError:
                pass
        res = cli("run", "--config", str(_config(sb)), "--host", "t", "--yes")
        assert res.returncode == 6, res.stdout + res.stderr
        assert "verdict disk-full" in res.stdout and "ESCALATED" in res.stdout
        after = sb.dockerd_proc()
        assert after is not None and before is not None and (after.pid, after.start) == (before.pid, before.start)
        assert sb.host.ping().ok, "dockerd must not have been touched"
    finally:
        sb.cleanup()
    assert not sb.processes()


def test_sigstop_bundle_verifies_and_a_hanging_collector_is_cut(sandbox: Sandbox, tmp_path: Path) -> None:
    from remediator.actions import StepContext
    from remediator.actions import collectors as col
    from remediator.actions.evidence import EvidenceParams, capture

    sandbox.wedge()
    release = threading.Event()

    def hang(ctx: StepContext, deadline: float) -> bytes:
        release.wait(60)
        return b"too late"

    col.COLLECTORS["hang"] = col.Collector("hang", "hang.txt", hang, limit=2.0)
    try:
        facts = factsmod.resolve(sandbox.host)
        ctx = StepContext(host=sandbox.host, service=controller(sandbox.host), facts=facts, incident_id="t",
                          incident_dir=tmp_path, evidence_budget=6.0)
        t0 = time.monotonic()
        res = capture(ctx, EvidenceParams())
        took = time.monotonic() - t0
    finally:
        release.set()
        del col.COLLECTORS["hang"]
    assert took <= 6.0 + 1.0, f"capture took {took:.1f}s for a 6s budget"
    man = json.loads((tmp_path / "evidence" / "manifest.json").read_text())["collectors"]
    assert "cut at its deadline of 2.0s" in man["hang"]["error"] and man["hang"]["file"] is None
    assert man["goroutines"]["error"], "a SIGSTOPped dockerd cannot dump: recorded as missing"
    for name in ("proc", "inventory", "system", "state-listing", "daemon-log", "verdict"):
        e = man[name]
        assert e["error"] is None, (name, e)
        data = (tmp_path / "evidence" / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"] and len(data) == e["size"]
    proc = (tmp_path / "evidence" / "proc.txt").read_text()
    assert f"pid {sandbox.dockerd_proc().pid} dockerd state T" in proc and "--- status" in proc  # type: ignore[union-attr]
    assert "API_TOKEN=<redacted>" in (tmp_path / "evidence" / "inventory.json").read_text()
    assert res.data["tar"].endswith("evidence.tar.gz") and oct(os.stat(res.data["tar"]).st_mode)[-3:] == "600"


def test_evidence_collect_on_a_healthy_host_gets_both_dumps(sandbox: Sandbox) -> None:
    cfg = _config(sandbox)
    res = cli("evidence", "collect", "--config", str(cfg), "--host", "t")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "evidence collected; nothing was changed" in res.stdout
    incident = res.stdout.split("incident ")[-1].split()[0]
    shown = cli("incidents", incident, "--config", str(cfg))
    bundle = Path(shown.stdout.split("evidence:")[1].split()[0])
    assert (bundle / "manifest.json").is_file() and bundle.with_name("evidence.tar.gz").is_file()
    man = json.loads((bundle / "manifest.json").read_text())["collectors"]
    assert man["goroutines"]["error"] is None and "goroutine" in (bundle / "goroutine-stacks.log").read_text()
    assert man["containerd-dump"]["error"] is None, man["containerd-dump"]
    assert str(sandbox.root) in (bundle / "containerd-stacks.log").read_text().splitlines()[0]  # the lab's TMPDIR
    assert man["strace"]["error"] is None and man["dmesg"]["error"] is None
    system = (bundle / "system.txt").read_text()
    assert "containerd: containerd " in system and "runc: runc version" in system, system[:900]
    assert sandbox.host.ping().ok and len(sandbox.running()) == 4, "collecting evidence changes nothing"


def test_probe_diagnoses_several_hosts_and_prints_them_in_config_order() -> None:
    require_docker()
    a, b = Sandbox(name="a"), Sandbox(name="b")
    try:
        for sb in (a, b):
            sb.start()
        a.wedge()
        cfg = a.root / "fleet.yaml"
        cfg.write_text(a.config_yaml(str(a.root / "state")) + b.config_yaml("/unused").split("hosts:\n", 1)[1])
        res = cli("probe", "--config", str(cfg), "--json")
        assert res.returncode == exitcodes.SICK, res.stdout + res.stderr
        out = [json.loads(line) for line in res.stdout.splitlines()]
        assert [(o["host"], o["verdict"]) for o in out] == [("a", "dockerd-wedged"), ("b", "healthy")]
    finally:
        a.cleanup()
        b.cleanup()
    assert not a.processes() and not b.processes()


def test_external_containerd_down_is_escalated_and_the_seed_refuses() -> None:
    """Invariant 9 on a real host shape: the system containerd died; dockerd still answers from its own
    state. Nothing here is fixed by restarting dockerd or clearing state: escalate, touch nothing."""
    require_docker()
    sb = Sandbox(name="t", external_containerd=True)
    try:
        sb.start()
        sb.populate(2)
        assert factsmod.resolve(sb.host).layout == "external"
        ctrd = next(p for p in sb.processes() if p.comm == "containerd" and sb.ctrd_sock in p.cmdline)
        os.kill(ctrd.pid, signal.SIGKILL)
        before = sb.dockerd_proc()
        cfg = _config(sb)
        res = cli("run", "--config", str(cfg), "--host", "t", "--yes")
        assert res.returncode == 6, res.stdout + res.stderr
        assert "verdict containerd-down" in res.stdout and "runbook escalate" in res.stdout
        seed = str(Path(__file__).resolve().parents[2] / "runbooks" / "docker-libcontainerd.yaml")
        res = cli("run", "--config", str(cfg), "--host", "t", "--yes", "--runbook", seed)
        assert res.returncode == 4 and "this runbook treats containerd-state, dockerd-wedged" in res.stdout, res.stdout
        after = sb.dockerd_proc()
        assert before and after and (before.pid, before.start) == (after.pid, after.start), "dockerd was touched"
        assert not list((sb.root / "state").glob("incidents/*/backup/*")), "nothing may be backed up or cleared"
    finally:
        sb.cleanup()
    assert not sb.processes()


def test_wedged_dockerd_on_an_external_containerd_is_restarted_and_verified() -> None:
    """The common 19.03+ shape: the shims belong to the system containerd, not under dockerd's roots.
    verify must still find exactly one shim per container, and the bundle must hold containerd's dump."""
    require_docker()
    sb = Sandbox(name="t", external_containerd=True)
    try:
        sb.start()
        before = set(sb.populate(3))
        facts = factsmod.resolve(sb.host)
        fam = sb.host.family(data_root=sb.data, exec_root=sb.exec_, containerd_sock=facts.containerd_sock)
        assert (len(fam.containerd), len(fam.shims)) == (1, 3), fam.describe()
        sb.wedge()
        res = cli("run", "--config", str(_config(sb)), "--host", "t", "--yes")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "verdict dockerd-wedged" in res.stdout and "recovered" in res.stdout
        assert sb.running() == before
        assert sorted(shim_ids(sb, facts.containerd_sock)) == sorted(before), "one shim per container"
        bundle = next((sb.root / "state").glob("incidents/*/evidence"))
        man = json.loads((bundle / "manifest.json").read_text())["collectors"]
        assert man["containerd-dump"]["error"] is None, man["containerd-dump"]
    finally:
        sb.cleanup()
    assert not sb.processes()

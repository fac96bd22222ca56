"""The Prober against a fake host: deadlines, restarts between rounds, sticky hung-task reports, log cursor."""

from __future__ import annotations

import threading
import time

from remediator.detect.facts import Facts
from remediator.detect.probes import HUNG_MEMORY, Prober, ProbeSettings
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.procs import Family
from remediator.settings import HostConfig
from remediator.structs import Proc
from tests.fakes.clock import FakeClock

FACTS = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
              state_dirs=[], dockerd_pid=None, containerd_sock="/e/containerd/containerd.sock")


def _dockerd(pid: int) -> Proc:
    return Proc(pid, 1, "S", "dockerd", "/usr/bin/dockerd", ("dockerd",), start=1)


RELEASE = threading.Event()  # set when a test that stalls a probe ends: its thread then ends too


def make_host(hang_ping: bool = False) -> FakeHost:
    """The shipped FakeHost: one dockerd, healthy threads, a disk half full, every socket answering."""
    def stall(path: str) -> None:
        if hang_ping and path == "/_ping":
            RELEASE.wait(30)  # a probe that ignores its own deadline: the round must not wait for it
    return FakeHost(config=HostConfig(name="h", docker_host="unix:///s"), processes=[_dockerd(10)],
                    family_of=lambda procs: Family(dockerd=[p for p in procs if p.comm == "dockerd"]),
                    ping_hook=stall)


def test_rounds_count_restarts_remember_hung_tasks_and_read_only_new_log() -> None:
    host, svc = make_host(), FakeService(log="a\nb\n")
    p = Prober(host, svc, FACTS, ProbeSettings(timeout=0.2))
    r1 = p.round()
    assert r1.log_lines == ["a", "b"] and r1["kernel"].outcome == "ok" and r1["containerd"].outcome == "ok"
    host.processes = [_dockerd(11)]  # dockerd restarted between the rounds
    host.kernel = ["INFO: task dockerd:11 blocked for more than 120 seconds."]
    svc.log += "c\n"
    r2 = p.round()
    assert r2.log_lines == ["c"] and r2["dockerd-proc"].data["restarts"] == 1
    assert r2["kernel"].outcome == "hung-task"
    r3 = p.round()
    assert r3["kernel"].outcome == "hung-task", "the kernel reports once; the verdict needs it for 3 rounds"
    assert r3.log_lines == []


def test_a_probe_that_overruns_is_a_timeout_and_the_round_ends_on_time() -> None:
    host = make_host(hang_ping=True)
    p = Prober(host, FakeService(log="a\nb\n"), FACTS, ProbeSettings(timeout=0.2))
    t0 = time.monotonic()
    try:
        r = p.round()
    finally:
        RELEASE.set()
    assert time.monotonic() - t0 < 1.5
    assert r["_ping"].outcome == "timeout" and r["version"].outcome == "ok"


def test_a_hung_task_report_counts_for_ten_minutes_then_is_forgotten() -> None:
    """On a fake clock: ten minutes between rounds take no real time."""
    host, clock = make_host(), FakeClock()
    p = Prober(host, FakeService(log=""), FACTS, ProbeSettings(timeout=0.2), clock=clock)
    host.kernel = ["INFO: task dockerd:10 blocked for more than 120 seconds."]
    assert p.round()["kernel"].outcome == "hung-task"
    host.kernel = []  # the kernel says it once
    clock.advance(HUNG_MEMORY - 1)
    r = p.round()
    assert r["kernel"].outcome == "hung-task" and r.at == clock.wall()
    clock.advance(1)
    assert p.round()["kernel"].outcome == "ok"

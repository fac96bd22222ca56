"""The Prober against a fake host: deadlines, restarts between rounds, sticky hung-task reports, log cursor."""

from __future__ import annotations

import time

from remediator.detect.facts import Facts
from remediator.detect.probes import Prober, ProbeSettings
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.procs import Family
from remediator.settings import HostConfig
from remediator.structs import Proc

FACTS = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
              state_dirs=[], dockerd_pid=None, containerd_sock="/e/containerd/containerd.sock")


def _dockerd(pid: int) -> Proc:
    return Proc(pid, 1, "S", "dockerd", "/usr/bin/dockerd", ("dockerd",), start=1)


def make_host(hang_ping: bool = False) -> FakeHost:
    """The shipped FakeHost: one dockerd, healthy threads, a disk half full, every socket answering."""
    def stall(path: str) -> None:
        if hang_ping and path == "/_ping":
            time.sleep(30)  # a probe that ignores its own deadline: the round must not wait for it
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
    r = p.round()
    assert time.monotonic() - t0 < 1.5
    assert r["_ping"].outcome == "timeout" and r["version"].outcome == "ok"

"""The Prober against a fake host: deadlines, restarts between rounds, sticky hung-task reports, log cursor."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from remediator.detect.facts import Facts
from remediator.detect.probes import Prober, ProbeSettings
from remediator.hosts.local import DiskUsage, Ping
from remediator.hosts.procs import Family, Health
from remediator.structs import Proc

FACTS = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
              state_dirs=[], dockerd_pid=None, containerd_sock="/e/containerd/containerd.sock")


class FakeHost:
    def __init__(self) -> None:
        self.config = SimpleNamespace(socket_path="/s")
        self.dockerd_pid = 10
        self.kernel: list[str] = []
        self.hang_ping = False

    def family(self, **kw: Any) -> Family:
        return Family(dockerd=[Proc(self.dockerd_pid, 1, "S", "dockerd", "/usr/bin/dockerd", ("dockerd",), start=1)])

    def health(self, p: Proc) -> Health:
        return Health(pid=p.pid, state="S", threads=8, dstate=(), wchan="futex_wait_queue", uptime=3.0)

    def disk_usage(self, path: str) -> DiskUsage:
        return DiskUsage(free=50, total=100, free_inodes=10, total_inodes=10)

    def ping(self, timeout: float, path: str) -> Ping:
        if self.hang_ping and path == "/_ping":
            time.sleep(30)  # a probe that ignores its own deadline: the round must not wait for it
        return Ping("ok", 0.001)

    def connect(self, sock: str, timeout: float) -> Ping:
        return Ping("ok", 0.0001)

    def grpc_ping(self, sock: str, timeout: float) -> Ping:
        return Ping("ok", 0.0002)

    def kmsg_since(self, seq: int | None) -> tuple[list[str], int | None]:
        out, self.kernel = self.kernel, []
        return out, (seq or 0) + len(out)


class FakeService:
    def __init__(self) -> None:
        self.text = "a\nb\n"

    def log_since(self, cursor: str | None) -> tuple[str, str | None]:
        pos = int(cursor or 0)
        return self.text[pos:], str(len(self.text))


def test_rounds_count_restarts_remember_hung_tasks_and_read_only_new_log() -> None:
    host, svc = FakeHost(), FakeService()
    p = Prober(host, svc, FACTS, ProbeSettings(timeout=0.2))  # type: ignore[arg-type]
    r1 = p.round()
    assert r1.log_lines == ["a", "b"] and r1["kernel"].outcome == "ok" and r1["containerd"].outcome == "ok"
    host.dockerd_pid = 11
    host.kernel = ["INFO: task dockerd:11 blocked for more than 120 seconds."]
    svc.text += "c\n"
    r2 = p.round()
    assert r2.log_lines == ["c"] and r2["dockerd-proc"].data["restarts"] == 1
    assert r2["kernel"].outcome == "hung-task"
    r3 = p.round()
    assert r3["kernel"].outcome == "hung-task", "the kernel reports once; the verdict needs it for 3 rounds"
    assert r3.log_lines == []


def test_a_probe_that_overruns_is_a_timeout_and_the_round_ends_on_time() -> None:
    host = FakeHost()
    host.hang_ping = True
    p = Prober(host, FakeService(), FACTS, ProbeSettings(timeout=0.2))  # type: ignore[arg-type]
    t0 = time.monotonic()
    r = p.round()
    assert time.monotonic() - t0 < 1.5
    assert r["_ping"].outcome == "timeout" and r["version"].outcome == "ok"

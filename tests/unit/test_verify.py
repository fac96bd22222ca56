"""docker.verify reports every snapshot container that did not come back, --rm or not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from remediator.actions import StepContext
from remediator.actions.docker import VerifyParams, verify
from remediator.detect.facts import Facts
from remediator.errors import DockerAPIError, TemporaryStepError
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.procs import Family
from remediator.structs import Proc
from tests.fakes.clock import FakeClock


def make_host(running: list[str]) -> FakeHost:
    """The shipped FakeHost: the API lists `running`, one shim each."""
    shims = [Proc(pid=100 + i, ppid=1, state="S", comm="containerd-shim", exe="/x",
                  cmdline=("containerd-shim-runc-v2", "-namespace", "moby", "-id", cid)) for i, cid in enumerate(running)]
    return FakeHost(processes=shims, family_of=lambda procs: Family(shims=list(procs)),
                    docker={"containers": lambda **kw: [{"Id": cid, "State": "running"} for cid in running]})


def test_a_vanished_container_that_was_not_rm_is_reported_lost(tmp_path: Path) -> None:
    snap = [{"id": "a" * 64, "name": "kept", "restart": "always", "auto_remove": False},
            {"id": "b" * 64, "name": "gone", "restart": "always", "auto_remove": False},
            {"id": "c" * 64, "name": "tmp", "restart": "no", "auto_remove": True}]
    facts = Facts(host="h", docker_host="unix:///x", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    ctx = StepContext(host=make_host(["a" * 64]), service=FakeService(), facts=facts, incident_id="i",
                      incident_dir=tmp_path, evidence_budget=1, outputs={"snapshot": {"running": snap}})
    res = verify(ctx, VerifyParams(snapshot_step="snapshot", timeout=1))
    assert res.summary.endswith("1/3 containers of the snapshot run again")
    assert any("gone" in c and "not --rm: investigate" in c for c in res.changes)
    assert any("tmp was --rm" in c for c in res.changes)
    assert set(res.data["lost"]) == {"b" * 64, "c" * 64}


def _ctx(tmp_path: Path, host: FakeHost, snap: list[dict[str, object]], clock: FakeClock) -> StepContext:
    facts = Facts(host="h", docker_host="unix:///x", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    return StepContext(host=host, service=FakeService(), facts=facts, incident_id="i", incident_dir=tmp_path,
                       evidence_budget=1, outputs={"snapshot": {"running": snap}}, clock=clock)


def test_a_container_its_restart_policy_leaves_down_is_started_after_the_grace_not_before(tmp_path: Path) -> None:
    """On a fake clock: the 30 s grace and the polls between take no real time."""
    cid = "d" * 64
    state = {"State": "exited"}
    clock = FakeClock()
    started_at: list[float] = []

    def start(c: str) -> None:
        started_at.append(clock.monotonic())
        state["State"] = "running"

    host = make_host([cid])
    host.docker = {"containers": lambda **kw: [{"Id": cid, **state}], "start": start}
    t0, wall0 = clock.monotonic(), time.monotonic()
    res = verify(_ctx(tmp_path, host, [{"id": cid, "name": "web", "restart": "always", "auto_remove": False}], clock),
                 VerifyParams(snapshot_step="snapshot", timeout=120, policy_grace=30))
    assert res.data["started"] == ["web"] and res.summary.endswith("1/1 containers of the snapshot run again")
    assert len(started_at) == 1 and 30 <= started_at[0] - t0 < 31, "started once, right after the grace"
    assert time.monotonic() - wall0 < 5, "no real time waited"


def test_a_container_that_never_gets_a_shim_fails_at_the_deadline_naming_it(tmp_path: Path) -> None:
    cid = "e" * 64
    host = make_host([])  # no shim for it
    host.docker = {"containers": lambda **kw: [{"Id": cid, "State": "running"}]}
    clock = FakeClock()
    t0 = clock.monotonic()
    with pytest.raises(TemporaryStepError, match=r"after 600s: 0 container\(s\) not running.*running without shim \['eeee"):
        verify(_ctx(tmp_path, host, [{"id": cid, "name": "db", "restart": "always", "auto_remove": False}], clock),
               VerifyParams(snapshot_step="snapshot", timeout=600))
    assert clock.monotonic() - t0 == pytest.approx(600), "it looked until the deadline, and no longer"


def test_an_api_that_never_answers_fails_at_the_deadline_with_its_error(tmp_path: Path) -> None:
    def refused(**kw: object) -> None:
        raise DockerAPIError("connection refused")

    host = make_host([])
    host.docker = {"containers": refused}
    clock = FakeClock()
    with pytest.raises(TemporaryStepError, match="the API does not answer: connection refused"):
        verify(_ctx(tmp_path, host, [], clock), VerifyParams(snapshot_step="snapshot", timeout=90))
    assert clock.monotonic() - 1000.0 == pytest.approx(90)

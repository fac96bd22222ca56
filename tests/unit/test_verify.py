"""docker.verify reports every snapshot container that did not come back, --rm or not."""

from __future__ import annotations

from pathlib import Path

from remediator.actions import StepContext
from remediator.actions.docker import VerifyParams, verify
from remediator.detect.facts import Facts
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.procs import Family
from remediator.structs import Proc


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

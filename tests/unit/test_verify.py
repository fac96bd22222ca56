"""docker.verify reports every snapshot container that did not come back, --rm or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from remediator.actions import StepContext
from remediator.actions.docker import VerifyParams, verify
from remediator.detect.facts import Facts
from remediator.hosts.procs import Family
from remediator.structs import Proc


class FakeHost:
    def __init__(self, running: list[str]) -> None:
        self.running = running

    def docker_call(self, fn: str, *args: Any, **kw: Any) -> Any:
        assert fn == "containers"
        return [{"Id": cid, "State": "running"} for cid in self.running]

    def family(self, **kw: Any) -> Family:
        shims = [Proc(pid=100 + i, ppid=1, state="S", comm="containerd-shim", exe="/x",
                      cmdline=("containerd-shim-runc-v2", "-namespace", "moby", "-id", cid)) for i, cid in enumerate(self.running)]
        return Family(shims=shims)


def test_a_vanished_container_that_was_not_rm_is_reported_lost(tmp_path: Path) -> None:
    snap = [{"id": "a" * 64, "name": "kept", "restart": "always", "auto_remove": False},
            {"id": "b" * 64, "name": "gone", "restart": "always", "auto_remove": False},
            {"id": "c" * 64, "name": "tmp", "restart": "no", "auto_remove": True}]
    facts = Facts(host="h", docker_host="unix:///x", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    ctx = StepContext(host=FakeHost(["a" * 64]), service=None, facts=facts, incident_id="i",  # type: ignore[arg-type]
                      incident_dir=tmp_path, evidence_budget=1, outputs={"snapshot": {"running": snap}})
    res = verify(ctx, VerifyParams(snapshot_step="snapshot", timeout=1))
    assert res.summary.endswith("1/3 containers of the snapshot run again")
    assert any("gone" in c and "not --rm: investigate" in c for c in res.changes)
    assert any("tmp was --rm" in c for c in res.changes)
    assert set(res.data["lost"]) == {"b" * 64, "c" * 64}

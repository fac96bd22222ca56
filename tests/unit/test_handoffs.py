"""What one step hands to the next is typed (actions/handoffs.py), and its words are the journaled ones.

A record an action stores is plain JSON and says what it said before the types existed, so an incident
journaled by an older remediator resumes; `ctx.output(step, Type)` reads it back typed, and gives None for a
step that recorded no such output (never a KeyError deep inside an action)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediator.actions import NoParams, StepContext, collectors
from remediator.actions.docker import VerifyParams, plan_verify, read_inventory, snapshot
from remediator.actions.handoffs import (
    AsideOutput,
    BackupOutput,
    BackupPlanOutput,
    ConfirmOutput,
    Container,
    EvidenceOutput,
    PidfileOutput,
    SnapshotOutput,
    VerifyOutput,
)
from remediator.actions.incident import EndParams, end
from remediator.detect.facts import Facts
from remediator.hosts import kmsg
from remediator.hosts.fake import FakeHost, FakeService

# records as the journal of an incident holds them (the words written before the output types existed)
JOURNALED: dict[type[Any], dict[str, Any]] = {
    SnapshotOutput: {"running": [{"id": "a" * 64, "name": "web", "image": "nginx", "running": True, "pid": 42,
                                  "restart": "always", "auto_remove": False, "finished_at": "",
                                  "manually_stopped": False}], "all": 3},
    VerifyOutput: {"started": ["web"], "lost": ["b" * 64]},
    BackupOutput: {"manifests": {"/run/docker/containerd": "/inc/backup/run_docker_containerd.manifest.json"}},
    BackupPlanOutput: {"planned": {"/run/docker/containerd": "/inc/backup/run_docker_containerd.manifest.json"}},
    AsideOutput: {"records": {"/run/docker/containerd": {"source": "/run/docker/containerd",
                                                         "quarantine": "/run/docker/.q/x", "dev": 1, "ino": 2}}},
    EvidenceOutput: {"dir": "/inc/evidence", "tar": "/inc/evidence.tar.gz", "seconds": 4.5},
    ConfirmOutput: {"diagnosis": "containerd-wedged", "confidence": "high", "signatures": ["S01"], "trace": ["why"],
                    "verdict": {"verdict": "containerd-wedged", "observations": [{"probe": "ping"}]}},
    PidfileOutput: {"pid": 4242, "content": "4242\n"},
}


@pytest.mark.parametrize("kind", list(JOURNALED), ids=lambda k: k.__name__)
def test_a_journaled_record_reads_typed_and_writes_back_the_same_words(kind: type[Any]) -> None:
    record = json.loads(json.dumps(JOURNALED[kind]))  # as the journal gives it back on resume
    out = kind.from_record(record)
    assert out is not None
    assert json.loads(json.dumps(out.record())) == JOURNALED[kind]


@pytest.mark.parametrize("kind", list(JOURNALED), ids=lambda k: k.__name__)
def test_another_actions_record_is_not_mistaken_for_this_one(kind: type[Any]) -> None:
    for other, record in JOURNALED.items():
        if other is not kind:
            assert kind.from_record(record) is None, f"{kind.__name__} read {other.__name__}'s record"
    assert kind.from_record({}) is None


def _facts(tmp: Path) -> Facts:
    return Facts(host="h", docker_host="unix:///x", data_root=str(tmp / "data"), exec_root=str(tmp / "exec"),
                 version="24.0", layout="managed", state_dirs=[], dockerd_pid=None)


def _ctx(tmp: Path) -> StepContext:
    return StepContext(host=FakeHost(), service=FakeService(), facts=_facts(tmp), incident_id="i",
                       incident_dir=tmp / "incident", evidence_budget=1)


def _container(tmp: Path, cid: str, name: str, *, running: bool, restart: str, rm: bool = False) -> None:
    d = tmp / "data" / "containers" / cid
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(json.dumps({"Name": "/" + name, "Config": {"Image": "img", "Env": ["K=v"]},
                                                  "State": {"Running": running, "Pid": 7 if running else 0}}))
    (d / "hostconfig.json").write_text(json.dumps({"RestartPolicy": {"Name": restart}, "AutoRemove": rm}))


def test_the_snapshot_records_the_inventorys_own_words_and_verify_reads_them_typed(tmp_path: Path) -> None:
    _container(tmp_path, "a" * 64, "web", running=True, restart="always")
    _container(tmp_path, "b" * 64, "job", running=True, restart="no", rm=True)
    _container(tmp_path, "c" * 64, "off", running=False, restart="no")
    ctx = _ctx(tmp_path)
    data = snapshot(ctx, NoParams()).data
    inventory = read_inventory(ctx.host, ctx.facts.data_root)
    assert data == {"running": [c for c in inventory if c["running"]], "all": 3}  # the words journaled before
    ctx.outputs["snap"] = json.loads(json.dumps(data))  # as resume puts it back from the journal
    snap = ctx.output("snap", SnapshotOutput)
    assert snap is not None and {c.name for c in snap.running} == {"web", "job"} and snap.all == 3
    assert isinstance(snap.running[0], Container)
    plan = plan_verify(ctx, VerifyParams(snapshot_step="snap"))
    assert plan.changes[:2] == ["expect back by restart policy: web", "would docker start: none"]
    assert "--rm containers dockerd will remove on restore (cannot come back): job" in plan.changes


def test_the_evidence_inventory_adds_the_environment_redacted_the_snapshot_never_holds_it(tmp_path: Path) -> None:
    _container(tmp_path, "a" * 64, "web", running=True, restart="always")
    ctx = _ctx(tmp_path)
    assert all("env" not in c for c in snapshot(ctx, NoParams()).data["running"])
    listed = json.loads(collectors.inventory(ctx, deadline=0.0))
    assert [(c["name"], c["env"]) for c in listed] == [("web", ["K=<redacted>"])]


def test_a_step_without_such_an_output_reads_as_none(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.outputs["confirm"] = JOURNALED[ConfirmOutput]
    assert ctx.output("confirm", SnapshotOutput) is None
    assert ctx.output("never-ran", SnapshotOutput) is None
    assert plan_verify(ctx, VerifyParams(snapshot_step="never-ran")).summary.endswith("and 0 container(s)")


def test_incident_end_names_the_diagnosis_and_evidence_the_steps_handed_on(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.outputs.update(confirm=JOURNALED[ConfirmOutput], evidence=JOURNALED[EvidenceOutput], stop={})
    assert [o.tar for o in ctx.outputs_of(EvidenceOutput)] == ["/inc/evidence.tar.gz"]
    summary = end(ctx, EndParams()).summary
    assert summary.startswith("containerd-wedged: ") and summary.endswith("; evidence /inc/evidence.tar.gz")


def test_a_kmsg_record_is_read_as_sequence_time_and_first_line() -> None:
    assert kmsg._record("6,1234,5678901,-;INFO: task dockerd:99 blocked for more than 120 seconds.\n SUBSYSTEM=x") \
        == (1234, 5678901, "INFO: task dockerd:99 blocked for more than 120 seconds.")
    assert kmsg._record("garbage without a header") is None
    assert kmsg._record("6,x,1,-;msg") is None

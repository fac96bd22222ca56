"""What one step hands to a later one: a frozen output type per action, read with `ctx.output(step, Type)`.

Role: the names and shapes of StepResult.data. An action builds its output and stores `out.record()`
(plain JSON words: what the engine keeps in `ctx.outputs` and what the journal records); a later step reads
it back typed with `ctx.output(step_id, SnapshotOutput)`, whether the record came from this process or was
read back from the journal on resume. `from_record` returns None when the record is not that kind of output
(the step recorded none, or it was another action's), so a reader says what is missing instead of a KeyError.
The words stay those journaled before these types existed: an incident journaled then resumes now.
Must not: do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Self, TypeVar

from remediator.vocab import Diagnosis


class Output(Protocol):
    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Self | None: ...

    def record(self) -> dict[str, Any]: ...


OutputT = TypeVar("OutputT", bound=Output)
WORDS = frozenset(Diagnosis)  # a StrEnum member is its word, so a journaled word is looked up as is


@dataclass(frozen=True)
class Container:
    """One container as the snapshot read it from <data_root>/containers (docker.read_inventory's words)."""

    id: str
    name: str
    restart: str = "no"
    auto_remove: bool = False
    image: str | None = None
    running: bool = True
    pid: int | None = None
    finished_at: str = ""
    manually_stopped: bool = False

    @classmethod
    def from_record(cls, c: Mapping[str, Any]) -> Container:
        return cls(id=str(c["id"]), name=str(c.get("name") or "?"), restart=str(c.get("restart") or "no"),
                   auto_remove=bool(c.get("auto_remove")), image=c.get("image"), running=bool(c.get("running", True)),
                   pid=c.get("pid"), finished_at=str(c.get("finished_at") or ""),
                   manually_stopped=bool(c.get("manually_stopped")))

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SnapshotOutput:
    """docker.snapshot: the containers that ran before the incident (or until dockerd's own clean shutdown)."""

    running: tuple[Container, ...]
    all: int = 0

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> SnapshotOutput | None:
        if "running" not in data:
            return None
        return cls(running=tuple(Container.from_record(c) for c in data["running"]), all=int(data.get("all") or 0))

    def record(self) -> dict[str, Any]:
        return {"running": [c.record() for c in self.running], "all": self.all}


@dataclass(frozen=True)
class VerifyOutput:
    """docker.verify: the containers it started itself, and the ids of those that did not come back."""

    started: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> VerifyOutput | None:
        if "lost" not in data:
            return None
        return cls(started=tuple(data.get("started") or ()), lost=tuple(data["lost"]))

    def record(self) -> dict[str, Any]:
        return {"started": list(self.started), "lost": list(self.lost)}


@dataclass(frozen=True)
class BackupOutput:
    """files.backup: each backed-up path -> its manifest (operator-side, `<backup>.manifest.json`)."""

    manifests: Mapping[str, str]

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> BackupOutput | None:
        out = data.get("manifests")
        return None if out is None else cls(manifests={str(k): str(v) for k, v in out.items()})

    def record(self) -> dict[str, Any]:
        return {"manifests": dict(self.manifests)}


@dataclass(frozen=True)
class BackupPlanOutput:
    """files.backup in a dry-run: each path it would copy -> the manifest it would write (read by files.restore's
    plan, so a dry-run's restore says what it would put back)."""

    planned: Mapping[str, str]

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> BackupPlanOutput | None:
        out = data.get("planned")
        return None if out is None else cls(planned={str(k): str(v) for k, v in out.items()})

    def record(self) -> dict[str, Any]:
        return {"planned": dict(self.planned)}


@dataclass(frozen=True)
class AsideOutput:
    """files.quarantine: each path -> how it was set aside: a rename record (hosts/quarantine.py: `source`,
    `quarantine`, device and inode) or a copy-then-clear (`quarantine` None, `copied` its manifest)."""

    records: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> AsideOutput | None:
        out = data.get("records")
        return None if out is None else cls(records={str(k): dict(v) for k, v in out.items()})

    def record(self) -> dict[str, Any]:
        return {"records": {k: dict(v) for k, v in self.records.items()}}


@dataclass(frozen=True)
class EvidenceOutput:
    """evidence.capture: the bundle's directory and tarball, and how long it took."""

    dir: str
    tar: str
    seconds: float = 0.0

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> EvidenceOutput | None:
        if "tar" not in data:
            return None
        return cls(dir=str(data.get("dir") or ""), tar=str(data["tar"]), seconds=float(data.get("seconds") or 0.0))

    def record(self) -> dict[str, Any]:
        return {"dir": self.dir, "tar": self.tar, "seconds": self.seconds}


@dataclass(frozen=True)
class ConfirmOutput:
    """probe.confirm: the verdict it acted on (`verdict` is Verdict.as_json(), kept whole for the evidence)."""

    diagnosis: Diagnosis
    confidence: str = ""
    signatures: tuple[str, ...] = ()
    trace: tuple[str, ...] = ()
    verdict: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> ConfirmOutput | None:
        word = data.get("diagnosis")
        if not isinstance(word, str) or word not in WORDS:  # none, or no diagnosis's word: not this output
            return None
        return cls(diagnosis=Diagnosis(word), confidence=str(data.get("confidence") or ""),
                   signatures=tuple(data.get("signatures") or ()), trace=tuple(data.get("trace") or ()),
                   verdict=dict(data.get("verdict") or {}))

    def record(self) -> dict[str, Any]:
        return {"diagnosis": self.diagnosis, "confidence": self.confidence, "signatures": list(self.signatures),
                "trace": list(self.trace), "verdict": dict(self.verdict)}


@dataclass(frozen=True)
class PidfileOutput:
    """containerd.pidfile_clear: the stale pid and the file's content as it was moved aside."""

    pid: int
    content: str

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> PidfileOutput | None:
        if "pid" not in data:
            return None
        return cls(pid=int(data["pid"]), content=str(data.get("content") or ""))

    def record(self) -> dict[str, Any]:
        return {"pid": self.pid, "content": self.content}

"""The action and guard registries, and the context every step runs in.

Role: name every action (`service.stop`, `files.clear`, …) and guard (`processes.none_alive`, …),
with a pydantic params model each, whether it mutates, and whether it is inherently risky.
An action is a plain function (ctx, params) -> StepResult; `plan` says what it would do.
Must not: retry, sleep for pacing, journal or ask for approval; the engine owns those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from remediator.actions.handoffs import OutputT
from remediator.clock import SYSTEM, Clock
from remediator.detect.facts import Facts
from remediator.detect.verdict import Verdict
from remediator.hosts.port import Host
from remediator.hosts.procs import Family
from remediator.hosts.service import Controller
from remediator.settings import ProbeConfig
from remediator.structs import GuardResult, StepResult

P = TypeVar("P", bound=BaseModel)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """The params of an action or guard that takes none."""


@dataclass
class StepContext:
    host: Host
    service: Controller
    facts: Facts
    incident_id: str
    incident_dir: Path
    evidence_budget: float
    # step id -> StepResult.data as journaled (the engine fills it, resume refills it); read it with output()
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: Callable[[str], None] = lambda _msg: None
    verdict: Verdict | None = None  # the diagnosis that selected this runbook, if one did
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    evidence_max_mb: float = 64.0
    rung: int = 1  # which runbook of the incident's ladder is running (1 = the first)
    clock: Clock = SYSTEM  # what its waits read and sleep on (tests: a fake clock)

    def rung_path(self, name: str) -> Path:
        """<incident>/<name> for the first rung, <incident>/<name>-rung<N> after: rungs never share output."""
        return self.incident_dir / (name if self.rung == 1 else f"{name}-rung{self.rung}")

    @property
    def roots(self) -> list[str]:
        return [self.facts.data_root, self.facts.exec_root]

    def output(self, step: str, kind: type[OutputT]) -> OutputT | None:
        """What step `step` handed on, as `kind` (actions/handoffs.py); None when it recorded no such output."""
        data = self.outputs.get(step)
        return kind.from_record(data) if isinstance(data, dict) else None

    def outputs_of(self, kind: type[OutputT]) -> Iterator[OutputT]:
        """Every output of this kind the steps so far handed on, in step order (e.g. the evidence bundle)."""
        for data in self.outputs.values():
            if isinstance(data, dict) and (out := kind.from_record(data)) is not None:
                yield out

    def family(self) -> Family:
        """This daemon's processes (dockerd, its containerd, shims, container processes), from the facts' roots."""
        return self.host.family(data_root=self.facts.data_root, exec_root=self.facts.exec_root,
                                containerd_sock=self.facts.containerd_sock)


@dataclass(frozen=True)
class ActionSpec(Generic[P]):
    name: str
    params: type[P]
    run: Callable[[StepContext, P], StepResult]
    plan: Callable[[StepContext, P], StepResult]
    mutates: bool
    risky: bool  # inherently risky: a runbook may not declare it `risk: safe`
    idempotent: bool = True
    summary: str = ""
    # after a rollback: why this step's change is *not* undone (each a sentence), [] when the host proves it is
    not_undone: Callable[[StepContext, P, dict[str, Any]], list[str]] | None = None


@dataclass(frozen=True)
class GuardSpec(Generic[P]):
    name: str
    params: type[P]
    check: Callable[[StepContext, P], GuardResult]
    summary: str = ""


ACTIONS: dict[str, ActionSpec[Any]] = {}
GUARDS: dict[str, GuardSpec[Any]] = {}


def action(spec: ActionSpec[Any]) -> ActionSpec[Any]:
    ACTIONS[spec.name] = spec
    return spec


def guard(spec: GuardSpec[Any]) -> GuardSpec[Any]:
    GUARDS[spec.name] = spec
    return spec


def _load() -> None:
    from remediator.actions import docker, evidence, files, guards, hooks, incident, pidfile, probe, service, shell  # noqa: F401


_load()

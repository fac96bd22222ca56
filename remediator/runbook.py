"""Runbook schema, loader and strict substitution.

Role: turn a YAML runbook into a validated Runbook, reporting *every* problem as
'file:line:col: field: message'. Values may reference host facts ({data_root}, {state_dirs}, …)
and runbook params ({params.name}); an unknown name is a validation error. Nothing is evaluated.
Must not: run anything or touch a host.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from remediator.actions import ACTIONS, GUARDS
from remediator.detect.facts import FACT_SAMPLES
from remediator.errors import InputError
from remediator.loader import Loc, load_yaml, plain, problem, validation_problems
from remediator.roots import overlaps

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
ID = r"^[a-z][a-z0-9_]{0,40}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retry(_Model):
    attempts: int = Field(default=1, ge=1, le=10)
    backoff: float = Field(default=1.0, ge=0, le=300, description="first wait; doubles each attempt")


class GuardRef(_Model):
    check: str
    params: dict[str, Any] = Field(default_factory=dict)


class ActionRef(_Model):
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class Step(_Model):
    id: str = Field(pattern=ID)
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    guards: list[GuardRef] = Field(default_factory=list)
    risk: Literal["safe", "risky"] | None = None
    timeout: float = Field(default=300.0, gt=0, le=7200)
    retry: Retry = Field(default_factory=Retry)
    rollback: list[ActionRef] = Field(default_factory=list)
    on_failure: Literal["rollback", "abort", "continue"] = "rollback"
    description: str = ""

    @property
    def risky(self) -> bool:
        return self.risk == "risky" or (self.risk is None and ACTIONS[self.action].risky)


class Runbook(_Model):
    schema_version: Literal[1] = Field(default=1, alias="schema")
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,60}$")
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    path: str = ""
    sha256: str = ""

    @model_validator(mode="after")
    def _unique(self) -> Runbook:
        seen: set[str] = set()
        dupes: set[str] = set()
        for s in self.steps:  # linear (a list.count per step was quadratic: 10,000 steps took 3.8 s)
            (dupes if s.id in seen else seen).add(s.id)
        if dupes:
            raise ValueError(f"duplicate step ids: {', '.join(sorted(dupes))}")
        return self

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """Replace {name} in strings (recursively). A string that is exactly one placeholder takes the
    variable's value as is (a list stays a list). Raise KeyError(name) for an unknown name."""
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if whole:
        return variables[whole.group(1)]
    escaped = value.replace("{{", "\0o").replace("}}", "\0c")
    out = PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), escaped)
    return out.replace("\0o", "{").replace("\0c", "}")


def variables(runbook_params: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return {**facts, **{f"params.{k}": v for k, v in runbook_params.items()}}


def _check_params(file: Path, data: Any, loc: Loc, model: type[BaseModel], raw: dict[str, Any],
                  names: dict[str, Any]) -> list[str]:
    try:
        resolved = substitute(plain(raw), names)
    except KeyError as exc:
        known = ", ".join(sorted(names))
        return [problem(file, data, loc, f"unknown name {{{exc.args[0]}}} (known: {known})")]
    try:
        model.model_validate(resolved)
    except ValidationError as exc:
        return validation_problems(file, data, exc, base=loc)
    return _confined_paths(file, data, loc, resolved)


SAMPLE_ROOTS = (str(FACT_SAMPLES["data_root"]), str(FACT_SAMPLES["exec_root"]))


def _confined_paths(file: Path, data: Any, loc: Loc, resolved: Any) -> list[str]:
    """Static confinement: what a run would refuse (a clear of `/`, a path outside the roots) is refused here,
    checked with the sample facts ({data_root} -> /fact/data_root ...), so `validate` never says ok for it."""
    paths = resolved.get("paths") if isinstance(resolved, dict) else None
    if not isinstance(paths, list):
        return []
    out = []
    for i, path in enumerate(paths):
        norm = "/" + os.path.normpath(str(path)).lstrip("/") if str(path).startswith("/") else str(path)
        inside = any(norm.startswith(root + "/") for root in SAMPLE_ROOTS)
        if not inside:
            out.append(problem(file, data, (*loc, "paths", i), f"{path!r} is not strictly inside {{data_root}} or "
                               "{exec_root}: a run would refuse it"))
    for i, j in overlaps([str(p) for p in paths]):
        out.append(problem(file, data, (*loc, "paths", i), f"{paths[i]!r} overlaps {paths[j]!r} (the same path, or "
                           "one inside the other): moving one aside moves the other's state with it, and putting both back leaves it in "
                           "the quarantine"))
    return out


def _named(file: Path, data: Any, loc: Loc, field: str, registry: dict[str, Any], name: str, params: dict[str, Any],
           names: dict[str, Any]) -> list[str]:
    """Problems of one reference to a registered action or guard: unknown name, or bad params."""
    spec = registry.get(name)
    if spec is None:
        kind = "guard" if field == "check" else "action"
        return [problem(file, data, (*loc, field), f"unknown {kind} {name!r} (known: {', '.join(sorted(registry))})")]
    return _check_params(file, data, (*loc, "params"), spec.params, params, names)


class _Earlier:
    """`ref in seen`: is ref the id of a step before index i (linear overall, not quadratic)."""

    def __init__(self, first: dict[str, int], i: int) -> None:
        self.first, self.i = first, i

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self.first.get(ref, self.i) < self.i


def _logic(file: Path, data: Any, steps: list[tuple[int, Step]], params: dict[str, Any]) -> list[str]:
    out: list[str] = []
    raw_steps: list[Any] = data["steps"] if isinstance(data, dict) and isinstance(data.get("steps"), list) else []
    names = variables(params, FACT_SAMPLES)
    ids = [s.get("id") if isinstance(s, dict) else None for s in raw_steps]
    first: dict[str, int] = {}  # step id -> the index where it is first defined: "earlier" in O(1), not by rescanning
    for k, sid in enumerate(ids):
        if isinstance(sid, str):
            first.setdefault(sid, k)
    for i, step in steps:
        seen = _Earlier(first, i)
        loc: Loc = ("steps", i)
        out += _named(file, data, loc, "action", ACTIONS, step.action, step.params, names)
        spec = ACTIONS.get(step.action)
        if spec is not None and step.risk == "safe" and spec.risky:
            out.append(problem(file, data, (*loc, "risk"), f"{step.action} is inherently risky; it cannot be declared safe"))
        for j, g in enumerate(step.guards):
            out += _named(file, data, (*loc, "guards", j), "check", GUARDS, g.check, g.params, names)
        for j, r in enumerate(step.rollback):
            out += _named(file, data, (*loc, "rollback", j), "action", ACTIONS, r.action, r.params, names)
        refs = [((*loc, "params", k), v) for k, v in step.params.items() if k.endswith("_step")]
        refs += [((*loc, "guards", j, "params", "step"), g.params["step"]) for j, g in enumerate(step.guards) if "step" in g.params]
        back = [((*loc, "rollback", j, "params", k), v) for j, r in enumerate(step.rollback) for k, v in r.params.items()
                if k.endswith("_step")]
        for rloc, ref in refs:
            if ref not in seen:
                out.append(problem(file, data, rloc, f"refers to step {ref!r}, which is not an earlier step"))
        for rloc, ref in back:  # a rollback runs after its step completed: it may read that step's output too
            if ref not in seen and ref != step.id:
                out.append(problem(file, data, rloc, f"refers to step {ref!r}, which is neither this step nor an earlier one"))
    return out + _quarantines_apart(file, data, steps, names)


def _quarantines_apart(file: Path, data: Any, steps: list[tuple[int, Step]], names: dict[str, Any]) -> list[str]:
    """Two files.quarantine steps must not move overlapping trees either (one step's are checked with its params)."""
    moved: list[tuple[str, int, int]] = []  # (path, step index, path index)
    for i, step in steps:
        if step.action != "files.quarantine":
            continue
        try:
            paths = substitute(plain(step.params), names).get("paths")
        except (KeyError, AttributeError):
            continue  # reported with the step's params
        if isinstance(paths, list):
            moved += [(str(p), i, k) for k, p in enumerate(paths)]
    out, ids = [], {i: step.id for i, step in steps}
    for a, b in overlaps([p for p, _, _ in moved]) + [(b, a) for a, b in overlaps([p for p, _, _ in moved])]:
        (pa, ia, ka), (pb, ib, _) = moved[a], moved[b]
        if ia > ib:  # named on the later step (the problem appears once, whichever of the two is the inner path)
            out.append(problem(file, data, ("steps", ia, "params", "paths", ka), f"{pa!r} overlaps {pb!r}, which step "
                               f"{ids[ib]} also moves aside: their rollbacks could leave one inside the other's quarantine"))
    return out


def _steps_that_parse(data: Any) -> list[tuple[int, Step]]:
    out = []
    raw = data.get("steps") if isinstance(data, dict) else None
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            out.append((i, Step.model_validate(item)))
        except ValidationError:
            continue
    return out


def load_runbook(path: Path) -> Runbook:
    """Given a runbook file, return the validated Runbook. Raise InputError with every problem."""
    data = load_yaml(path)
    problems: list[str] = []
    rb = None
    try:
        rb = Runbook.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(path, data, exc)
    params = data.get("params") if isinstance(data, dict) and isinstance(data.get("params"), dict) else {}
    problems += _logic(path, data, _steps_that_parse(data), plain(params))
    if problems or rb is None:
        raise InputError(problems)
    return rb.model_copy(update={"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})


def resolve(model: type[BaseModel], raw: dict[str, Any], names: dict[str, Any]) -> Any:
    """Params for a run: substitute real facts, validate. Raise InputError on a bad value."""
    try:
        return model.model_validate(substitute(plain(raw), names))
    except (KeyError, ValidationError) as exc:
        raise InputError(f"parameters {raw!r} do not validate with this host's facts: {exc}") from exc

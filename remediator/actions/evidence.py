"""evidence.capture: a time-boxed bundle, taken before anything is changed.

Collectors (actions/collectors.py) run in parallel threads, each under its own deadline inside the
total budget; a slow or failing collector never blocks the others or the remediation. Each returns
its content and this thread writes it (redacted, within the size cap), so a collector cut at its
deadline never writes late. Output: <incident>/evidence/ (0700, files 0600) with manifest.json
(sha256, size, collector, duration, error per file) and evidence.tar.gz (0600) beside it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from remediator import modes
from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.actions.collectors import COLLECTORS, Collector, redact
from remediator.actions.handoffs import EvidenceOutput
from remediator.clock import Clock
from remediator.detect import dumps
from remediator.outputs import dumps as redacted_json
from remediator.structs import StepResult


class EvidenceParams(Params):
    budget: float | None = Field(default=None, gt=0, le=600, description="total seconds; default from config")
    max_mb: float | None = Field(default=None, gt=0, le=4096, description="size cap; default from config")
    skip: list[str] = Field(default_factory=list, description="collectors not to run")


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _after(deps: list[tuple[cf.Future[bytes], float]], fn: Callable[[StepContext, float], bytes], ctx: StepContext,
           deadline: float) -> bytes:
    """Run fn once every dependency is done or past its deadline."""
    for fut, dl in deps:
        cf.wait([fut], timeout=max(0.0, dl - ctx.clock.monotonic()))
    return fn(ctx, deadline)


DUMPS = ("goroutine-stacks.log", "containerd-stacks.log")


def _dump_summary(out: Path, room: int) -> dict[str, object]:
    """dump-summary.txt: each dump's goroutines grouped by identical stack, longest wait first, what they
    wait on, and whether API requests are parked for minutes (the verdict a dump alone supports)."""
    entry: dict[str, object] = {"collector": "dump-summary", "file": None, "error": None}
    lines: list[str] = []
    for name in DUMPS:
        path = out / name
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if not dumps.looks_like_dump(text):
            lines += [f"== {name}: no goroutine dump in it", ""]
            continue
        summary = dumps.summarize(dumps.parse(text.splitlines()))
        wedged, why = dumps.verdict(summary)
        lines += [f"== {name}: {summary.goroutines} goroutines, {summary.requests} API request(s), "
                  f"{summary.requests_waiting} parked ≥ {summary.threshold_minutes} minute(s)",
                  f"verdict: {wedged or 'not a wedge'}", *[f"  {w}" for w in why], *dumps.render(summary), ""]
    if not lines:
        entry["error"] = "no dump was captured"
        return entry
    data = redact("\n".join(lines).encode())[:max(0, room)]
    _write(str(out / "dump-summary.txt"), data)
    entry.update(file="dump-summary.txt", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return entry


def _submit(pool: cf.ThreadPoolExecutor, chosen: list[Collector], ctx: StepContext, start: float,
            end: float) -> dict[str, tuple[cf.Future[bytes], float]]:
    """Start every collector in its own thread, each with its deadline; those with `after` wait for theirs."""
    futures: dict[str, tuple[cf.Future[bytes], float]] = {}
    for c in chosen:
        deadline = min(end, start + c.limit) if c.limit else end
        deps = [futures[d] for d in c.after if d in futures]
        futures[c.name] = (pool.submit(_after, deps, c.fn, ctx, deadline), deadline)
    return futures


def _keep(c: Collector, data: bytes, out: Path, room: int, entry: dict[str, object]) -> int:
    """Write one collector's content (redacted, cut to the room left); return the bytes written."""
    data = redact(data)
    if len(data) > room:
        entry["truncated"] = f"{len(data)} bytes cut to {room} by the bundle size cap"
        data = data[len(data) - room:] if c.name in ("daemon-log", "strace") else data[:room]  # logs: keep the end
    try:
        _write(str(out / c.file), data)
    except OSError as exc:  # e.g. the state_dir's filesystem is full too: record it, go on
        entry["error"] = f"not written: {exc.strerror or exc}"
        return 0
    entry.update(file=c.file, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return len(data)


def _gather(c: Collector, fut: cf.Future[bytes], deadline: float, start: float, out: Path,
            room: int, clock: Clock) -> tuple[dict[str, object], int]:
    """Wait for one collector until its deadline and keep what it returned; its manifest entry and bytes used."""
    entry: dict[str, object] = {"collector": c.name, "file": None, "error": None}
    used = 0
    try:
        data = fut.result(timeout=max(0.0, deadline - clock.monotonic()))
    except cf.TimeoutError:
        entry["error"] = f"cut at its deadline of {deadline - start:.1f}s (still running; its output is dropped)"
    except Exception as exc:  # noqa: BLE001 - a collector's failure is evidence, never fatal
        entry["error"] = f"{type(exc).__name__}: {exc}"
    else:
        used = _keep(c, data, out, room, entry)
    entry["duration"] = round(min(clock.monotonic(), deadline) - start, 3)
    return entry, used


def _tarball(out: Path, tar: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tar)  # a bundle cut short before a restart: made again
    with os.fdopen(modes.create_file(tar, 0o600), "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tf:
        tf.add(out, arcname="evidence")


def capture(ctx: StepContext, p: EvidenceParams) -> StepResult:
    budget = p.budget or ctx.evidence_budget
    room = int((p.max_mb or ctx.evidence_max_mb) * (1 << 20))
    start = ctx.clock.monotonic()
    out = ctx.rung_path("evidence")
    modes.makedirs(out)  # 0700 whatever the umask
    chosen = sorted((c for c in COLLECTORS.values() if c.name not in p.skip), key=lambda c: c.order)
    pool = cf.ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="evidence")
    futures = _submit(pool, chosen, ctx, start, start + budget)
    manifest: dict[str, dict[str, object]] = {}
    for c in chosen:
        manifest[c.name], used = _gather(c, *futures[c.name], start, out, room, ctx.clock)
        room -= used
    pool.shutdown(wait=False, cancel_futures=True)
    manifest["dump-summary"] = _dump_summary(out, room)
    took = ctx.clock.monotonic() - start
    _write(str(out / "manifest.json"), redacted_json({"incident": ctx.incident_id, "host": ctx.facts.host,
                                                      "budget": budget, "seconds": round(took, 3),
                                                      "collectors": manifest}, indent=1).encode())
    tar = ctx.rung_path("evidence").with_suffix(".tar.gz")
    _tarball(out, tar)
    errors = [f"{n}: {e['error']}" for n, e in manifest.items() if e["error"]]
    return StepResult(f"evidence in {out} ({len(manifest) - len(errors)}/{len(manifest)} collectors, {took:.1f}s)",
                      changes=errors, data=EvidenceOutput(dir=str(out), tar=str(tar), seconds=took).record())


def plan_capture(ctx: StepContext, p: EvidenceParams) -> StepResult:
    names = [c for c in COLLECTORS if c not in p.skip]
    return StepResult(f"would collect {', '.join(names)} within {p.budget or ctx.evidence_budget:g}s "
                      f"into {ctx.rung_path('evidence')} (SIGUSR1 to dockerd and containerd for goroutine dumps)")


action(ActionSpec("evidence.capture", EvidenceParams, run=capture, plan=plan_capture, mutates=True, risky=False,
                  summary="time-boxed parallel evidence bundle: dumps, log, /proc, strace, dmesg, state, inventory"))

"""evidence.capture: a time-boxed bundle, taken before anything is changed.

Collectors run in parallel threads; each returns its content and the main thread writes it, so
a collector cut at the deadline never writes late. Output: <incident>/evidence/ (0700, files 0600)
with manifest.json (sha256, size, duration, error per collector) and evidence.tar.gz beside it.
"""

from __future__ import annotations

import concurrent.futures as cf
import glob
import hashlib
import json
import os
import platform
import signal
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.actions.docker import read_inventory, redact_env
from remediator.hosts import fsops
from remediator.hosts import procs as procmod
from remediator.structs import StepResult

Collector = Callable[[StepContext, float], bytes]


class EvidenceParams(Params):
    budget: float | None = Field(default=None, gt=0, le=600, description="total seconds; default from config")
    dump_wait: float = Field(default=5.0, gt=0, le=60, description="seconds to wait for a goroutine dump")


def _goroutine_dump(ctx: StepContext, deadline: float) -> bytes:
    dockerd = ctx.service.find()
    if dockerd is None:
        return b"dockerd not running: no goroutine dump possible\n"
    pattern = os.path.join(ctx.facts.exec_root, "goroutine-stacks-*.log")
    before = set(glob.glob(pattern))
    ctx.host.signal(dockerd, signal.SIGUSR1)
    while time.monotonic() < deadline:
        new = sorted(set(glob.glob(pattern)) - before)
        if new and os.path.getsize(new[-1]) > 0:
            time.sleep(0.1)  # let the writer finish the file it just created
            return f"# {new[-1]}\n".encode() + Path(new[-1]).read_bytes()
        time.sleep(0.05)
    raise TimeoutError(f"SIGUSR1 sent to dockerd {dockerd.pid} (state {dockerd.state}); no dump appeared: "
                       "the daemon cannot answer signals (hung, stopped, or before its dump trap is armed)")


def _log_tail(ctx: StepContext, deadline: float) -> bytes:
    return ctx.service.log_tail(1 << 20).encode()


def _procs(ctx: StepContext, deadline: float) -> bytes:
    fam = ctx.host.family(data_root=ctx.facts.data_root, exec_root=ctx.facts.exec_root)
    out = [f"# {fam.describe()}"]
    for p in fam.dockerd + fam.containerd + fam.shims:
        out.append(f"\n=== pid {p.pid} {p.comm} state {p.state}: {' '.join(p.cmdline)}")
        for name in ("status", "wchan", "stack", "limits"):
            try:
                with open(f"/proc/{p.pid}/{name}") as fh:
                    out.append(f"--- {name}\n{fh.read()}")
            except OSError as exc:
                out.append(f"--- {name}: unreadable ({exc.strerror})")
        threads = [t for t in (procmod.read_proc(int(tid), f"/proc/{p.pid}/task")
                               for tid in ctx.host.listdir(f"/proc/{p.pid}/task")) if t]
        out.append(f"--- threads: {len(threads)}, D-state: {sum(t.state == 'D' for t in threads)}")
    return "\n".join(out).encode()


def _state_listing(ctx: StepContext, deadline: float) -> bytes:
    lines = []
    for top in ctx.facts.state_dirs:
        if not os.path.lexists(top):
            lines.append(f"{top}: absent")
            continue
        for e in fsops.walk(top):
            if time.monotonic() > deadline:
                lines.append("... cut at deadline")
                return "\n".join(lines).encode()
            empty = " EMPTY-JSON" if e.kind == "file" and e.size == 0 and e.rel.endswith(".json") else ""
            lines.append(f"{top}/{e.rel} {e.kind} {e.mode:o} {e.size} {e.mtime_ns} {e.sha256}{e.target}{empty}")
    return "\n".join(lines).encode()


def _inventory(ctx: StepContext, deadline: float) -> bytes:
    inv = read_inventory(ctx.facts.data_root)
    for c in inv:
        try:
            with open(os.path.join(ctx.facts.data_root, "containers", c["id"], "config.v2.json")) as fh:
                c["env"] = redact_env((json.load(fh).get("Config") or {}).get("Env") or [])
        except (OSError, ValueError):
            pass
    return json.dumps(inv, indent=1).encode()


def _system(ctx: StepContext, deadline: float) -> bytes:
    lines = [f"host {ctx.facts.host}; {platform.platform()}", f"docker: {ctx.facts.version}",
             f"layout: {ctx.facts.layout}; state dirs: {ctx.facts.state_dirs}", *ctx.facts.notes]
    for root in (ctx.facts.data_root, ctx.facts.exec_root):
        du = ctx.host.disk_usage(root)
        lines.append(f"df {root}: {du.free >> 20} MiB free of {du.total >> 20}; "
                     f"inodes {du.free_inodes} free of {du.total_inodes}")
    with open("/proc/self/mountinfo") as fh:
        lines += ["--- mounts under the roots"] + [ln.rstrip() for ln in fh
                                                  if ctx.facts.data_root in ln or ctx.facts.exec_root in ln]
    return "\n".join(lines).encode()


COLLECTORS: dict[str, tuple[str, Collector]] = {
    "goroutines": ("goroutine-stacks.log", _goroutine_dump),
    "daemon-log": ("daemon.log", _log_tail),
    "proc": ("proc.txt", _procs),
    "state-listing": ("state-listing.txt", _state_listing),
    "inventory": ("inventory.json", _inventory),
    "system": ("system.txt", _system),
}


def capture(ctx: StepContext, p: EvidenceParams) -> StepResult:
    budget = p.budget or ctx.evidence_budget
    start = time.monotonic()
    end = start + budget
    out = ctx.incident_dir / "evidence"
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    manifest: dict[str, dict[str, object]] = {}
    pool = cf.ThreadPoolExecutor(max_workers=len(COLLECTORS), thread_name_prefix="evidence")
    futures = {}
    for name, (_fname, fn) in COLLECTORS.items():
        deadline = min(end, time.monotonic() + p.dump_wait) if name == "goroutines" else end
        futures[name] = (pool.submit(fn, ctx, deadline), time.monotonic())
    for name, (fut, t0) in futures.items():
        fname = COLLECTORS[name][0]
        entry: dict[str, object] = {"collector": name, "file": None, "error": None}
        try:
            data = fut.result(timeout=max(0.0, end - time.monotonic()))
        except cf.TimeoutError:
            entry["error"] = f"cut at the budget of {budget:g}s"
        except Exception as exc:  # noqa: BLE001 - a collector's failure is evidence, never fatal
            entry["error"] = f"{type(exc).__name__}: {exc}"
        else:
            path = out / fname
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            entry.update(file=fname, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        entry["duration"] = round(time.monotonic() - t0, 3)
        manifest[name] = entry
    pool.shutdown(wait=False, cancel_futures=True)
    mpath = out / "manifest.json"
    mpath.write_text(json.dumps({"incident": ctx.incident_id, "budget": budget, "collectors": manifest}, indent=1))
    os.chmod(mpath, 0o600)
    tar = ctx.incident_dir / "evidence.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(out, arcname="evidence")
    os.chmod(tar, 0o600)
    errors = [f"{n}: {e['error']}" for n, e in manifest.items() if e["error"]]
    took = time.monotonic() - start
    return StepResult(f"evidence in {out} ({len(manifest) - len(errors)}/{len(manifest)} collectors, {took:.1f}s)",
                      changes=errors, data={"dir": str(out), "tar": str(tar), "seconds": took})


def plan_capture(ctx: StepContext, p: EvidenceParams) -> StepResult:
    return StepResult(f"would collect {', '.join(COLLECTORS)} within {p.budget or ctx.evidence_budget:g}s "
                      f"into {ctx.incident_dir / 'evidence'} (SIGUSR1 to dockerd for a goroutine dump)")


action(ActionSpec("evidence.capture", EvidenceParams, run=capture, plan=plan_capture, mutates=True, risky=False,
                  summary="time-boxed parallel evidence bundle: goroutine dump, log, /proc, state listing, inventory"))

"""docker.snapshot / docker.verify: what was running, and is it running again?

The snapshot is read from <data_root>/containers/*/{config.v2.json,hostconfig.json}, which is
readable while the daemon hangs or is down. Verify waits for the API, lets restart policies act,
starts what has no policy, and checks exactly one shim per running container.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from remediator.actions import ActionSpec, NoParams, Params, StepContext, action
from remediator.actions.handoffs import Container, SnapshotOutput, VerifyOutput
from remediator.clock import poll_until
from remediator.detect.probes import broken_runc_state
from remediator.errors import DockerAPIError, HostError, TemporaryStepError
from remediator.hosts import procs as procmod
from remediator.hosts.port import Host
from remediator.structs import StepResult

POLL = 0.05  # seconds between verify's looks at the API and the shims (a condition polled, not a wait)


class VerifyParams(Params):
    snapshot_step: str
    timeout: float = Field(default=60.0, gt=0, le=1800)
    policy_grace: float = Field(default=5.0, ge=0, le=120, description="seconds to let restart policies act first")


def read_inventory(host: Host, data_root: str, *, env: bool = False) -> list[dict[str, Any]]:
    """Every container on the host's disk: id, name, image, running, pid, restart policy, auto-remove (with env:
    also its environment, values redacted, for the evidence; never in the snapshot)."""
    out = []
    base = os.path.join(data_root, "containers")
    for cid in host.listdir(base):
        try:
            cfg = json.loads(host.read_text(os.path.join(base, cid, "config.v2.json")))
            hc = json.loads(host.read_text(os.path.join(base, cid, "hostconfig.json")))
        except (HostError, ValueError):
            out.append({"id": cid, "name": "?", "unreadable": True, "running": False})
            continue
        if not isinstance(cfg, dict) or not isinstance(hc, dict):
            out.append({"id": cid, "name": "?", "unreadable": True, "running": False})
            continue
        state: dict[str, Any] = cfg["State"] if isinstance(cfg.get("State"), dict) else {}
        policy: dict[str, Any] = hc["RestartPolicy"] if isinstance(hc.get("RestartPolicy"), dict) else {}
        config: dict[str, Any] = cfg["Config"] if isinstance(cfg.get("Config"), dict) else {}
        out.append({"id": cid, "name": str(cfg.get("Name") or "").lstrip("/"), "image": config.get("Image"),
                    "running": bool(state.get("Running")), "pid": state.get("Pid"),
                    "restart": str(policy.get("Name") or "no"), "auto_remove": bool(hc.get("AutoRemove")),
                    "finished_at": str(state.get("FinishedAt") or ""),
                    "manually_stopped": bool(cfg.get("HasBeenManuallyStopped"))})
        if env:
            out[-1]["env"] = redact_env([e for e in config.get("Env") or [] if isinstance(e, str)])
    return out


SHUTDOWN = re.compile(r"time=\"?([0-9T:.+-]+Z?)\"?.*?(?:Processing signal '(?:terminated|interrupt)'|Daemon shutdown complete)")


def _when(stamp: str) -> float | None:
    """RFC 3339 with nanoseconds (Go's) -> epoch seconds; None for the zero time or garbage."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", stamp.strip())
    if not m or stamp.startswith("0001-"):
        return None
    iso = m.group(1) + (f".{m.group(2)[:6]}" if m.group(2) else "") + ("+00:00" if m.group(3) in (None, "Z") else m.group(3))
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def shutdown_window(log: str) -> tuple[float, float] | None:
    """When dockerd last shut down cleanly: from its last 'Processing signal' to 'Daemon shutdown complete'."""
    times = [t for t in (_when(m.group(1)) for m in SHUTDOWN.finditer(log[-(1 << 20):])) if t is not None]
    return (min(times[-2:]), max(times[-2:])) if times else None


def stopped_by_shutdown(inv: list[dict[str, Any]], window: tuple[float, float] | None, slack: float = 5.0) -> list[dict[str, Any]]:
    """Containers that only stopped because dockerd shut down (clean stop without live-restore): not running, not
    stopped by a person, not --rm, and finished inside the daemon's last shutdown."""
    if window is None:
        return []
    lo, hi = window[0] - slack, window[1] + slack
    return [c for c in inv if not c["running"] and not c.get("manually_stopped") and not c.get("auto_remove")
            and (t := _when(str(c.get("finished_at") or ""))) is not None and lo <= t <= hi]


def redact_env(env: list[str]) -> list[str]:
    """KEY=value -> KEY=<redacted>; container env often carries credentials."""
    return [e.split("=", 1)[0] + "=<redacted>" for e in env]


def snapshot(ctx: StepContext, p: NoParams) -> StepResult:
    """What ran before the incident: running containers, plus those dockerd's own clean shutdown stopped
    (a daemon stopped before its state broke stopped them; the incident, not a person, took them down)."""
    inv = read_inventory(ctx.host, ctx.facts.data_root)
    kept = _kept_by_shims(ctx) | broken_runc_state(ctx.host, ctx.facts.data_root, ctx.facts.exec_root)
    running = [c for c in inv if c["running"] or c["id"] in kept]
    by_shutdown = stopped_by_shutdown([c for c in inv if c not in running], shutdown_window(ctx.service.log_tail()))
    lines = [f"{c['name']} ({c['id'][:12]}) restart={c['restart']}" + (" --rm" if c["auto_remove"] else "")
             + ("" if c["running"] else ": containerd lost it (its process or its runc state is left)") for c in running]
    lines += [f"{c['name']} ({c['id'][:12]}) restart={c['restart']}: stopped by dockerd's shutdown at "
              f"{c['finished_at'][:19]}" for c in by_shutdown]
    out = SnapshotOutput(running=tuple(Container.from_record(c) for c in running + by_shutdown), all=len(inv))
    return StepResult(f"{len(running) + len(by_shutdown)} of {len(inv)} containers were running"
                      + (f" ({len(by_shutdown)} until dockerd's last shutdown)" if by_shutdown else ""), changes=lines,
                      data=out.record())


def _kept_by_shims(ctx: StepContext) -> set[str]:
    """The containers whose process still runs under a shim of this dockerd: they ran, whatever dockerd's disk
    says (containerd that lost its tasks makes dockerd write them down as stopped; roundrules.invisible_containers;
    the same for those whose runc state is left, stale_runtime_state)."""
    fam = ctx.family()
    parents = {c.ppid for c in fam.containers}
    return {cid for s in fam.shims if s.pid in parents and (cid := procmod.shim_container_id(s))}


def _shim_counts(ctx: StepContext) -> dict[str, int]:
    fam = ctx.family()
    counts: dict[str, int] = {}
    for shim in fam.shims:
        cid = procmod.shim_container_id(shim) or "?"
        counts[cid] = counts.get(cid, 0) + 1
    return counts


def list_state(c: dict[str, Any]) -> str:
    """The state of one /containers/json entry, from any API version: `State` (since API 1.23: created,
    running, paused, restarting, removing, exited, dead), else read from `Status` ("Up 2 minutes",
    "Up 2 minutes (Paused)", "Exited (0) 3 minutes ago", "Restarting (1) 2 seconds ago", "Created")."""
    state = c.get("State")
    if isinstance(state, str) and state:
        return state.lower()
    status = str(c.get("Status") or "")
    if status.startswith("Up"):
        return "paused" if "(Paused)" in status else "running"
    return status.split(" ", 1)[0].lower() or "unknown"


def container_states(host: Host) -> dict[str, str]:
    """Every container the API lists: id -> state (see list_state)."""
    listed = host.docker_call("containers", all=True, timeout=10) or []
    return {c["Id"]: list_state(c) for c in listed if isinstance(c, dict) and c.get("Id")}


@dataclass(frozen=True)
class _Look:
    """One look at the API and the shims during verify."""

    down: list[Container]  # snapshot containers the API lists as not running
    running: set[str]  # ids of every running container
    bad_shims: dict[str, int]  # container id -> shims, where that is not exactly one for a running container
    no_shim: list[str]  # running containers (short ids) without a shim

    @property
    def settled(self) -> bool:
        return not self.down and not self.bad_shims and not self.no_shim

    def why(self, timeout: float) -> str:
        return (f"after {timeout:g}s: {len(self.down)} container(s) not running "
                f"({', '.join(c.name for c in self.down)}); shim anomalies {self.bad_shims or 'none'}; "
                f"running without shim {self.no_shim or 'none'}")


def _states_or_none(ctx: StepContext, errors: list[DockerAPIError]) -> dict[str, str] | None:
    """The API's container states; None while it does not answer (its error appended to `errors`)."""
    try:
        states = container_states(ctx.host)
    except DockerAPIError as exc:
        errors.append(exc)
        return None
    errors.clear()
    return states


def _start(ctx: StepContext, down: list[Container], policy_over: bool) -> list[str]:
    """docker start each down container without a restart policy (all of them once the policies had their grace)."""
    started = []
    for c in down:
        if c.restart == "no" or policy_over:
            try:
                ctx.host.docker_call("start", c.id, timeout=30)
                started.append(c.name)
                ctx.progress(f"started {c.name} (restart policy {c.restart})")
            except DockerAPIError as exc:
                ctx.progress(f"start {c.name} failed: {exc}")
    return started


def _look(ctx: StepContext, wanted: list[Container], now: dict[str, str], policy_over: bool,
          started: list[str]) -> _Look:
    down = [c for c in wanted if c.id in now and now[c.id] != "running"]
    started += _start(ctx, down, policy_over)
    shims = _shim_counts(ctx)
    running = {cid for cid, state in now.items() if state == "running"}
    return _Look(down=down, running=running,
                 bad_shims={cid: n for cid, n in shims.items() if n != 1 or cid not in running},
                 no_shim=[cid[:12] for cid in running if cid not in shims])


def _wanted(ctx: StepContext, snapshot_step: str) -> list[Container]:
    snap = ctx.output(snapshot_step, SnapshotOutput)
    return list(snap.running) if snap else []


def verify(ctx: StepContext, p: VerifyParams) -> StepResult:
    wanted = _wanted(ctx, p.snapshot_step)
    grace_end = ctx.clock.monotonic() + p.policy_grace
    started: list[str] = []
    lost: list[Container] = []
    last: list[_Look | None] = [None]  # what the last answered look saw (None: the API never answered)
    errors: list[DockerAPIError] = []  # the API's error when the last look found it not answering

    def all_back() -> _Look | None:
        """One look: start what its restart policy does not bring back in time; the look once all is well."""
        now = _states_or_none(ctx, errors)
        if now is None:
            return None
        lost.extend(c for c in wanted if c.id not in now and c not in lost)  # --rm: expected; otherwise not
        look = last[0] = _look(ctx, wanted, now, ctx.clock.monotonic() > grace_end, started)
        return look if look.settled else None

    look = poll_until(all_back, timeout=p.timeout, every=POLL, clock=ctx.clock)
    if look is None and errors:
        raise TemporaryStepError(f"the API does not answer: {errors[-1]}") from errors[-1]
    if look is None:
        raise TemporaryStepError(last[0].why(p.timeout) if last[0] else f"after {p.timeout:g}s: nothing seen")
    back = len(wanted) - len(lost)
    lines = [f"started (no restart policy or policy too slow): {', '.join(started)}"] if started else []
    lines += [f"LOST: {c.name} was --rm and dockerd removed it on restore" if c.auto_remove else
              f"LOST: {c.name} ({c.id[:12]}) is gone from dockerd although it was not --rm: investigate"
              for c in lost]
    lines.append(f"exactly one shim for each of the {len(look.running)} running containers")
    return StepResult(f"API answers; {back}/{len(wanted)} containers of the snapshot run again", changes=lines,
                      data=VerifyOutput(started=tuple(started), lost=tuple(c.id for c in lost)).record())


def plan_verify(ctx: StepContext, p: VerifyParams) -> StepResult:
    wanted = _wanted(ctx, p.snapshot_step)
    starts = [c.name for c in wanted if c.restart == "no" and not c.auto_remove]
    rm = [c.name for c in wanted if c.auto_remove]
    lines = [f"expect back by restart policy: {', '.join(c.name for c in wanted if c.restart != 'no') or 'none'}",
             f"would docker start: {', '.join(starts) or 'none'}"]
    if rm:
        lines.append(f"--rm containers dockerd will remove on restore (cannot come back): {', '.join(rm)}")
    return StepResult(f"would wait up to {p.timeout:g}s for the API and {len(wanted)} container(s)", changes=lines)


action(ActionSpec("docker.snapshot", NoParams, run=snapshot, plan=snapshot, mutates=False, risky=False,
                  summary="read the running set from <data_root>/containers (works while dockerd hangs)"))
action(ActionSpec("docker.verify", VerifyParams, run=verify, plan=plan_verify, mutates=True, risky=False,
                  summary="wait for the API and the snapshot's containers; start those without a policy; 1 shim each"))

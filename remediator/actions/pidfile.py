"""containerd.pidfile_clear / containerd.pidfile_restore: the stale managed-containerd pidfile (S07/S08, docs/signatures.md).

dockerd trusts <exec-root>/containerd/containerd.pid if *any* live process has that pid (moby
getContainerdPid: kill(pid, 0) up to 23.0, /proc/<pid> since 24.0), so after a reboot that reused
the pid it waits for a containerd that is not there and gives up after 15 s. The fix is to prove
the pid is not containerd, move the pidfile aside (kept in the incident's backup), and start.
The process named by the pidfile is never signalled. If the pid *is* this daemon's containerd, the
pidfile is not stale: the step refuses (that containerd is wedged, a different fix).
"""

from __future__ import annotations

from remediator.actions import ActionSpec, NoParams, StepContext, action
from remediator.actions.handoffs import PidfileOutput
from remediator.errors import UnsafeOperation
from remediator.structs import Outcome, StepResult


def _backup(ctx: StepContext) -> str:
    return str(ctx.rung_path("backup") / "containerd.pid")


def _who(ctx: StepContext, pid: int) -> tuple[str, bool]:
    """What the pid is now, and whether it is containerd of this daemon."""
    proc = ctx.host.proc(pid)
    if proc is None or not proc.alive:
        return f"pid {pid} is not running", False
    mine = any(p.pid == pid for p in ctx.family().containerd)
    return f"pid {pid} is {proc.comm} ({' '.join(proc.cmdline)[:80]})", mine


def _read_pid(ctx: StepContext) -> tuple[int | None, str]:
    path = ctx.facts.containerd_pidfile
    if not path or not ctx.host.exists(path):
        return None, f"no containerd pidfile ({path or 'this layout has none'})"
    raw = ctx.host.read_text(path, limit=64).strip()
    if not raw.isdigit():
        return None, f"{path} holds no pid ({raw[:20]!r})"
    return int(raw), path


def clear(ctx: StepContext, p: NoParams) -> StepResult:
    path = ctx.facts.containerd_pidfile
    if not path or not ctx.host.exists(path):
        return StepResult(f"no containerd pidfile ({path or 'this layout has none'}): nothing to do", changed=False)
    pid, where = _read_pid(ctx)
    if pid is None:
        return StepResult(f"{where}: not the stale-pid case; nothing removed", stop=Outcome.REFUSED)
    if (why := ctx.host.path_unsafe(path)) is not None:  # only a file only root could write is dockerd's (trust.py)
        return StepResult(f"{path} is not proven to be dockerd's containerd pidfile ({why}); nothing removed",
                          stop=Outcome.REFUSED)
    who, mine = _who(ctx, pid)
    if mine:
        return StepResult(f"{who}: this daemon's own containerd holds the pidfile; it is not stale (containerd is "
                          "wedged, not the pidfile): nothing removed", stop=Outcome.REFUSED)
    try:
        data = ctx.host.fs.quarantine_file(path, [ctx.facts.exec_root], _backup(ctx))
    except OSError as exc:
        raise UnsafeOperation(f"cannot move {path} aside: {exc.strerror or exc}") from exc
    if data.strip() != str(pid).encode():  # rewritten between the proof and the move: put it back, prove again
        ctx.host.fs.restore_file(_backup(ctx), path, [ctx.facts.exec_root])
        raise UnsafeOperation(f"{path} changed while it was being checked ({data[:20]!r}); put back, nothing removed")
    return StepResult(f"{who}, not this daemon's containerd: moved the stale pidfile aside",
                      data=PidfileOutput(pid=pid, content=data.decode(errors="replace")).record(),
                      changes=[f"{path} -> {_backup(ctx)} (verified); pid {pid} left alone"])


def plan_clear(ctx: StepContext, p: NoParams) -> StepResult:
    pid, where = _read_pid(ctx)
    if pid is None:
        return StepResult(f"{where}: would do nothing")
    if (why := ctx.host.path_unsafe(where)) is not None:
        return StepResult(f"{where} is not proven to be dockerd's containerd pidfile ({why}); would refuse")
    who, mine = _who(ctx, pid)
    if mine:
        return StepResult(f"{who}: it is this daemon's containerd; would refuse (not stale)")
    return StepResult(f"would move {where} aside ({who}, not containerd); the process is left alone",
                      changes=[f"{where} -> {_backup(ctx)}"])


def restore(ctx: StepContext, p: NoParams) -> StepResult:
    try:
        done = ctx.host.fs.restore_file(_backup(ctx), ctx.facts.containerd_pidfile, [ctx.facts.exec_root])
    except OSError as exc:
        raise UnsafeOperation(f"cannot restore {ctx.facts.containerd_pidfile}: {exc.strerror or exc}") from exc
    return StepResult(f"restored {ctx.facts.containerd_pidfile}" if done else
                      f"{ctx.facts.containerd_pidfile} exists again (a new containerd wrote it); left as it is")


def plan_restore(ctx: StepContext, p: NoParams) -> StepResult:
    return StepResult(f"would put {ctx.facts.containerd_pidfile} back from {_backup(ctx)} unless it exists again")


action(ActionSpec("containerd.pidfile_clear", NoParams, run=clear, plan=plan_clear, mutates=True, risky=True,
                  summary="prove the managed containerd's pidfile names no containerd, then move it aside"))
action(ActionSpec("containerd.pidfile_restore", NoParams, run=restore, plan=plan_restore, mutates=True, risky=False,
                  summary="put a moved-aside containerd pidfile back (unless a new one exists)"))

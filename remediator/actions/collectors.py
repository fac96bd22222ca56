"""The evidence collectors: each reads one kind of evidence and returns its bytes.

Role: one function per file of the bundle, called in its own thread with its own deadline
(docs/evidence.md: dumps, the view from outside, the checklist). A collector returns content and never
writes it; the capture writes, caps and hashes. A collector that cannot get its evidence raises
with a sentence saying why — that sentence is evidence too (the seed: SIGUSR1 went unanswered).
Every read of the host (files, /proc, commands) goes through the Host port (`ctx.host`).
Must not: change anything but sending SIGUSR1 (a dump request) to dockerd and containerd.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass

from remediator.actions import StepContext
from remediator.actions.docker import read_inventory
from remediator.actions.handoffs import ConfirmOutput
from remediator.clock import poll_until
from remediator.detect.facts import parse_version
from remediator.errors import CommandFailed, CommandTimeout, Denied, HostError
from remediator.redact import redact_text
from remediator.structs import Proc

DUMP_LIMIT = 64 << 20  # a dump bigger than this is cut to its end (the capture's size cap cuts further)
LOG_DUMP = re.compile(r"=== BEGIN goroutine stack dump ===.*?=== END goroutine stack dump ===", re.S)


def redact(data: bytes) -> bytes:
    """Anything that looks like a credential -> <redacted> (remediator.redact: the journal uses the same)."""
    return redact_text(data.decode(errors="replace")).encode()


@dataclass(frozen=True)
class Collector:
    name: str
    file: str
    fn: Callable[[StepContext, float], bytes]
    limit: float | None = None  # own deadline in seconds from the capture's start (None: the whole budget)
    order: int = 5  # lower is written first, so the size cap cuts the big, late files
    after: tuple[str, ...] = ()  # start only when these collectors are done (or past their deadlines)


def _wait_dump(ctx: StepContext, who: Proc, files: Callable[[], set[str]], deadline: float, what: str,
               log_ok: bool) -> bytes:
    """SIGUSR1 `who`, then wait for a new dump file (or, when log_ok, a dump in the daemon log)."""
    before = files()
    _, cursor = ctx.service.log_since(None)
    ctx.host.signal(who, signal.SIGUSR1)
    text = ""
    in_log: bytes | None = None
    grace = 0.0

    def dumped() -> bytes | None:
        nonlocal text, in_log, grace, cursor
        new = sorted((info.mtime, f) for f in files() - before if (info := ctx.host.file_info(f)) is not None)
        if new and (info := ctx.host.file_info(new[-1][1])) is not None and info.size > 0:
            ctx.clock.sleep(0.1)  # let the writer finish the file it just created
            return f"# {new[-1][1]}\n".encode() + ctx.host.read_text(new[-1][1], limit=DUMP_LIMIT).encode()
        more, cursor = ctx.service.log_since(cursor)
        text += more
        if log_ok and in_log is None and (m := LOG_DUMP.search(text)):  # dockerd <= 1.12 and containerd log it
            in_log, grace = b"# from the daemon log\n" + m.group(0).encode(), ctx.clock.monotonic() + 1.0
        if in_log is not None and ctx.clock.monotonic() > grace:  # containerd 1.4+ logs first, then writes the file
            return in_log
        return None

    left = deadline - ctx.clock.monotonic()
    got = poll_until(dumped, timeout=left, every=0.05, clock=ctx.clock) if left > 0 else None
    if got is not None:
        return got
    if in_log is not None:
        return in_log
    raise TimeoutError(f"SIGUSR1 sent to {what} {who.pid} (state {who.state}); no dump appeared: it cannot answer "
                       "signals (hung, stopped, or before its dump trap is armed)")


def _environ(ctx: StepContext, pid: int) -> dict[str, str]:
    try:
        raw = ctx.host.read_text(f"/proc/{pid}/environ", limit=1 << 20)
    except HostError:
        return {}
    return dict(e.split("=", 1) for e in raw.split("\0") if "=" in e)


def _matching(ctx: StepContext, pattern: str) -> set[str]:
    """Host-side files matching a glob in its last component only (dir/name-*.log)."""
    folder, name = os.path.split(pattern)
    return {os.path.join(folder, f) for f in ctx.host.listdir(folder) if fnmatch.fnmatchcase(f, name)}


def goroutines(ctx: StepContext, deadline: float) -> bytes:
    dockerd = ctx.service.find()
    if dockerd is None:
        return b"dockerd not running: no goroutine dump possible\n"
    pattern = [os.path.join(ctx.facts.exec_root, "goroutine-stacks-*.log"),
               os.path.join(ctx.facts.data_root, "goroutine-stacks-*.log")]
    old = parse_version(ctx.facts.version) < (1, 13)  # 1.13+ dumps to a file; a dump in the log is containerd's
    return _wait_dump(ctx, dockerd, lambda: {f for p in pattern for f in _matching(ctx, p)}, deadline, "dockerd", old)


def containerd_dump(ctx: StepContext, deadline: float) -> bytes:
    fam = ctx.family()
    if not fam.containerd:
        return b"no containerd of this daemon running: no containerd dump\n"
    c = fam.containerd[0]
    tmp = _environ(ctx, c.pid).get("TMPDIR", "/tmp")  # containerd 1.4+ writes $TMPDIR/containerd.<pid>.stacks.log
    path = os.path.join(tmp, f"containerd.{c.pid}.stacks.log")
    stamp = info.mtime if (info := ctx.host.file_info(path)) else 0.0

    def files() -> set[str]:
        now = ctx.host.file_info(path)
        return {path} if now is not None and now.mtime > stamp else set()
    return _wait_dump(ctx, c, files, deadline, "containerd", True)


def daemon_log(ctx: StepContext, deadline: float) -> bytes:
    """The daemon log from the start before the last one (so both the failing and the previous
    start are in), at most the last 4 MiB."""
    text = ctx.service.log_tail(4 << 20)
    starts = [m.start() for m in re.finditer(r"msg=\"?Starting up|libcontainerd: new containerd process", text)]
    return text[starts[-2] if len(starts) > 1 else 0:].encode()


def proc_files(ctx: StepContext, deadline: float) -> bytes:
    fam = ctx.family()
    out = [f"# {fam.describe()}"] + [f"# {why}" for _, why in fam.unproven]  # look-alikes: named, not read
    for p in fam.dockerd + fam.containerd + fam.shims:
        if ctx.clock.monotonic() > deadline:
            out.append("... cut at deadline")
            break
        out.append(f"\n=== pid {p.pid} {p.comm} state {p.state}: {' '.join(p.cmdline)}")
        for name in ("status", "wchan", "stack", "limits"):
            try:
                out.append(f"--- {name}\n{ctx.host.read_text(f'/proc/{p.pid}/{name}', limit=1 << 20)}")
            except HostError as exc:
                out.append(f"--- {name}: unreadable ({exc})")
        h = ctx.host.health(p)
        out.append(f"--- threads: {h.describe() if h else 'vanished'}")
        for tid in (h.dstate if h else ())[:20]:
            try:
                out.append(f"--- D-state thread {tid} stack\n{ctx.host.read_text(f'/proc/{p.pid}/task/{tid}/stack')}")
            except HostError:
                pass
    return "\n".join(out).encode()


def strace(ctx: StepContext, deadline: float) -> bytes:
    """`strace -f` of dockerd for a few seconds: shows blocking syscalls (flock on a bolt DB, connect
    to a dead containerd.sock, open on a FIFO); Go-level locks look like futex waits (docs/evidence.md)."""
    dockerd = ctx.service.find()
    if dockerd is None:
        return b"dockerd not running: nothing to trace\n"
    seconds = max(0.5, min(3.0, deadline - ctx.clock.monotonic() - 1.0))
    argv = ("timeout", "-s", "INT", f"{seconds:.1f}", "strace", "-f", "-tt", "-qq", "-s", "128", "-p", str(dockerd.pid))
    try:
        res = ctx.host.run(argv, timeout=seconds + 2.0, ok_codes=range(256))
    except CommandTimeout:
        return f"strace of {dockerd.pid} did not detach in time\n".encode()
    except CommandFailed as exc:  # `timeout` itself is missing on the host
        return f"cannot run {argv[0]} on the host: skipped ({exc})\n".encode()
    if res.rc == 127:  # timeout(1): the command (strace) was not found
        return b"strace not installed: skipped\n"
    return f"# {' '.join(argv)} (rc {res.rc})\n".encode() + res.stderr[-(8 << 20):].encode()


def dmesg(ctx: StepContext, deadline: float) -> bytes:
    try:
        lines, _ = ctx.host.kmsg_since(None, window=3600)
    except Denied as exc:
        return f"kernel messages not read: {exc}\n".encode()
    if not lines:
        return b"no kernel messages in the last hour (or /dev/kmsg unreadable)\n"
    return "\n".join(lines[-500:]).encode()


def state_listing(ctx: StepContext, deadline: float) -> bytes:
    lines = []
    for top in ctx.facts.state_dirs:
        if not ctx.host.exists(top):
            lines.append(f"{top}: absent")
            continue
        for e in ctx.host.fs.walk(top):
            if ctx.clock.monotonic() > deadline:
                lines.append("... cut at deadline")
                return "\n".join(lines).encode()
            empty = " EMPTY-JSON" if e.kind == "file" and e.size == 0 and e.rel.endswith(".json") else ""
            lines.append(f"{top}/{e.rel} {e.kind} {e.mode:o} {e.size} {e.mtime_ns} {e.sha256}{e.target}{empty}")
    return "\n".join(lines).encode()


def inventory(ctx: StepContext, deadline: float) -> bytes:
    return json.dumps(read_inventory(ctx.host, ctx.facts.data_root, env=True), indent=1).encode()


def system(ctx: StepContext, deadline: float) -> bytes:
    try:
        kernel = ctx.host.read_text("/proc/version", limit=4096).strip()
    except HostError as exc:
        kernel = f"kernel unknown ({exc})"
    lines = [f"host {ctx.facts.host}; {kernel}", f"docker: {ctx.facts.version}",
             f"layout: {ctx.facts.layout}; state dirs: {ctx.facts.state_dirs}; containerd at {ctx.facts.containerd_sock}",
             *ctx.facts.notes]
    for tool in ("containerd", "runc"):  # the versions that decide which signatures apply (docs/signatures.md)
        try:
            res = ctx.host.run((tool, "--version"), timeout=5)
            lines.append(f"{tool}: {res.stdout.strip().splitlines()[0] if res.stdout.strip() else '?'}")
        except HostError as exc:
            lines.append(f"{tool}: {exc}")
    for root in (ctx.facts.data_root, ctx.facts.exec_root):
        du = ctx.host.disk_usage(root)
        lines.append(f"df {root}: {du.free >> 20} MiB free of {du.total >> 20}; inodes {du.free_inodes} free of {du.total_inodes}")
    mounts = ctx.host.read_text("/proc/self/mountinfo").splitlines()
    lines += ["--- mounts under the roots"] + [m for m in mounts if ctx.facts.data_root in m or ctx.facts.exec_root in m]
    return "\n".join(lines).encode()


def verdict(ctx: StepContext, deadline: float) -> bytes:
    """The diagnosis that led here, with its trace and every observation."""
    if ctx.verdict is not None:
        return json.dumps(ctx.verdict.as_json(), indent=1).encode()
    found = next((dict(o.verdict) for o in ctx.outputs_of(ConfirmOutput)), None)
    return json.dumps(found or {"verdict": None, "note": "no diagnosis ran before this capture"}, indent=1).encode()


COLLECTORS: dict[str, Collector] = {c.name: c for c in (
    Collector("verdict", "verdict.json", verdict, order=0),
    Collector("system", "system.txt", system, order=1),
    Collector("proc", "proc.txt", proc_files, order=1),
    Collector("inventory", "inventory.json", inventory, order=2),
    Collector("state-listing", "state-listing.txt", state_listing, order=3),
    Collector("dmesg", "dmesg.txt", dmesg, order=4),
    Collector("goroutines", "goroutine-stacks.log", goroutines, limit=5.0, order=5),
    # dockerd's and a managed containerd's dumps can land in the same log: one at a time
    Collector("containerd-dump", "containerd-stacks.log", containerd_dump, limit=10.0, order=6, after=("goroutines",)),
    Collector("daemon-log", "daemon.log", daemon_log, order=7),
    # ptrace re-injects signals: tracing dockerd while its SIGUSR1 is pending would let strace, not the
    # daemon, decide what runs. So strace attaches only after dockerd's dump is answered or given up.
    Collector("strace", "strace.txt", strace, limit=9.0, order=8, after=("goroutines",)),
)}

"""The fuzz harness: fan jobs out over worker processes, watch them, judge every result.

A job is one CLI invocation (argv, optional stdin file, env) with the exit codes it may end with. Workers
(tests/fuzz/worker.py) run jobs in-process under a memory limit and a per-input CPU and wall-clock limit; this side
keeps one job in flight per worker, kills a worker whose job outlives the wall-clock limit by more than a grace
period (code the timers cannot interrupt), and restarts workers that die, charging the death to the job they had started.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import digest as conftest_digest
from tests.fuzz.worker import WALL

WORKER = Path(__file__).with_name("worker.py")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
# a Python exception printed the way the interpreter prints one: its class name at the start of a line
EXC_LINE = re.compile(r"(?m)^(?:[A-Za-z_][\w.]*\.)?(?:[A-Z]\w*(?:Error|Exception)|KeyboardInterrupt|StopIteration|"
                      r"RecursionError|MemoryError|SystemError|AssertionError)(?::|$)")


@dataclass
class Job:
    id: str
    argv: list[str]
    allowed: frozenset[int]
    input: str = ""  # the fuzz input file (for the reproducer)
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    literal: str | None = None  # text that must appear verbatim in the output (user text printed, never markup)
    note: str = ""

    def wire(self) -> str:
        return json.dumps({"id": self.id, "argv": self.argv, "stdin": self.stdin, "env": self.env})


@dataclass
class Result:
    id: str
    status: str  # ok | timeout | hang | died
    code: int | None = None
    seconds: float = 0.0
    out: str = ""
    err: str = ""
    truncated: bool = False
    exception: str | None = None
    traceback: str | None = None
    detail: str = ""
    maxrss_mb: int = 0


def judge(job: Job, r: Result) -> list[str]:
    """Every way this result breaks the contract: no hang, no crash, no traceback, a documented exit code,
    user text printed as text."""
    problems = []
    if r.status != "ok":
        problems.append(f"{r.status}: {r.detail}")
        return problems
    if r.exception is not None:
        problems.append(f"uncaught exception (a traceback in the real CLI): {r.exception}")
    if r.code not in job.allowed:
        problems.append(f"exit code {r.code} not in {sorted(job.allowed)}")
    for name, text in (("stdout", r.out), ("stderr", r.err)):
        if TRACEBACK.search(text):
            problems.append(f"'Traceback' in {name}")
        m = EXC_LINE.search(text)
        if m:
            problems.append(f"a Python exception line in {name}: {text[m.start():m.start() + 120]!r}")
    if job.literal is not None and not r.truncated and job.literal not in r.out + r.err:
        problems.append(f"{job.literal!r} is not in the output verbatim (interpreted as markup?)")
    return problems


class _Worker:
    def __init__(self, n: int, logdir: Path, env: dict[str, str], cwd: Path, mem_mb: int, limit: float, target: str) -> None:
        self.n = n  # its slot: a replacement takes the same number (and so the same FUZZ_WORKER host)
        jobs_r, self.jobs_w = os.pipe()
        self.report_r, report_w = os.pipe()
        self.log = logdir / f"worker-{n}-{time.monotonic_ns()}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(WORKER), str(jobs_r), str(report_w), str(mem_mb), str(limit), target],
                                         pass_fds=(jobs_r, report_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, cwd=cwd)
        os.close(jobs_r)
        os.close(report_w)
        self.buf = b""
        self.job: Job | None = None  # in flight
        self.started = time.monotonic()
        self.ready = False

    def send(self, job: Job) -> None:
        self.job, self.started = job, time.monotonic()
        os.write(self.jobs_w, (job.wire() + "\n").encode())

    def close_jobs(self) -> None:
        if self.jobs_w >= 0:
            os.close(self.jobs_w)
            self.jobs_w = -1

    def log_tail(self, n: int = 4000) -> str:
        with open(self.log, "rb") as fh:
            fh.seek(max(0, os.path.getsize(self.log) - n))
            return fh.read().decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_jobs(jobs: list[Job], *, logdir: Path, env: dict[str, str], cwd: Path, workers: int = 2, mem_mb: int = 512,
             limit: float = 10.0, grace: float = 5.0, target: str = "remediator.cli:main",
             env_for: Any = None) -> dict[str, Result]:
    """Run every job; return its Result by id. env_for(n) may give worker n extra environment."""
    queue = deque(jobs)
    results: dict[str, Result] = {}
    sel = selectors.DefaultSelector()
    live: list[_Worker] = []

    def spawn(n: int) -> None:  # slot n: never two live workers with one number (they would share a host's lock)
        wenv = {**env, **(env_for(n) if env_for else {})}
        w = _Worker(n, logdir, wenv, cwd, mem_mb, limit, target)
        live.append(w)
        sel.register(w.report_r, selectors.EVENT_READ, w)

    def retire(w: _Worker, status: str | None, detail: str) -> None:
        w.kill()
        sel.unregister(w.report_r)
        os.close(w.report_r)
        w.close_jobs()
        live.remove(w)
        if w.job is not None and status is not None:
            results[w.job.id] = Result(w.job.id, status, detail=detail)
        if queue and len(live) < workers:
            spawn(w.n)

    for n in range(min(workers, len(queue))):
        spawn(n)
    while live:
        now = time.monotonic()
        deadlines = [w.started + (limit * WALL + grace if w.ready else 120.0) - now for w in live]
        events = sel.select(timeout=max(0.0, min(deadlines)))
        for key, _ in events:
            w = key.data
            chunk = os.read(w.report_r, 1 << 20)
            if not chunk:
                w.proc.wait()
                rc = w.proc.returncode
                why = f"signal {-rc}" if rc < 0 else f"exit {rc}"
                if not w.ready:  # not an input's fault, and a fresh one would die the same way
                    retire(w, None, "")
                    raise RuntimeError(f"a fuzz worker died before it was ready ({why}): {w.log_tail()}")
                retire(w, "died", f"the worker died ({why}) on this input; its log ends:\n{w.log_tail()}")
                continue
            w.buf += chunk
            while b"\n" in w.buf:
                line, w.buf = w.buf.split(b"\n", 1)
                msg = json.loads(line)
                if "ready" in msg or "id" in msg:
                    if "id" in msg:
                        results[msg["id"]] = Result(**{k: msg.get(k, d) for k, d in
                                                       (("id", ""), ("status", ""), ("code", None), ("seconds", 0.0),
                                                        ("out", ""), ("err", ""), ("truncated", False), ("exception", None),
                                                        ("traceback", None), ("detail", ""), ("maxrss_mb", 0))})
                        w.job = None
                    w.ready = True
                    if queue and msg.get("status") != "timeout":
                        w.send(queue.popleft())
                    elif not queue:
                        w.close_jobs()
        now = time.monotonic()
        for w in list(live):
            budget = limit * WALL + grace if w.ready else 120.0  # past the worker's own wall-clock limit
            if w.job is not None and now - w.started > budget:
                retire(w, "hang", f"no result within {budget:g}s (not even the alarm got through); worker killed")
            elif not w.ready and now - w.started > budget:
                retire(w, None, "")
                raise RuntimeError(f"a fuzz worker did not start within {budget:g}s: {w.log_tail()}")
    sel.close()
    return results


def digest(top: Path) -> str:
    """The tree digest of tests/conftest.py, plus the top directory's own mode and mtime (a chmod of the victim)."""
    st = os.lstat(top)
    return hashlib.sha256(f"{conftest_digest(str(top))}|{st.st_mode}|{st.st_mtime_ns}".encode()).hexdigest()


def save_reproducers(failures: list[tuple[Job, Result, list[str]]], outdir: Path) -> list[str]:
    """Copy each failing input to outdir with a replay script; return one summary line per failure."""
    lines = []
    outdir.mkdir(parents=True, exist_ok=True)
    for job, r, problems in failures:
        d = outdir / job.id
        d.mkdir(parents=True, exist_ok=True)
        argv = list(job.argv)
        if job.input and os.path.isfile(job.input):
            kept = d / ("input" + Path(job.input).suffix)
            shutil.copyfile(job.input, kept)
            argv = [str(kept) if a == job.input else a for a in argv]
        cmd = "remediator " + shlex.join(argv)
        if job.stdin:
            cmd += f" < {shlex.quote(str(d / ('input' + Path(job.input).suffix)))}"
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in job.env.items())
        (d / "replay.sh").write_text(f"#!/bin/sh\n# {job.note}\n# {'; '.join(problems)}\n{envs} {cmd}\n",
                                     errors="surrogateescape")  # an argument of non-UTF-8 bytes: the bytes
        (d / "result.json").write_text(json.dumps(vars(r), indent=1, default=str))
        lines.append(f"{job.id} [{job.note}]: {'; '.join(problems)[:400]}\n    replay: sh {d / 'replay.sh'}"
                     + (f"\n    {r.traceback.strip().splitlines()[-1]}" if r.traceback else ""))
    return lines

"""A fuzz worker: runs many CLI invocations in one process, each under a time limit, the whole under a memory limit.

Started by tests/fuzz/harness.py (never by pytest's collection):
    python worker.py JOBS_FD REPORT_FD MEM_MB LIMIT_S MODULE:COMMAND
It reads one job per line from JOBS_FD ({"id", "argv", "stdin", "env"}), invokes the click command in-process
(click.testing.CliRunner: the real argument parsing, standalone mode, exit codes; "@W@" in an argument is
this worker's number, $FUZZ_WORKER, so workers never share a host lock), and writes JSON lines to
REPORT_FD: {"ready"} once imported, {"start": id} before each job, then its result. An input that uses more
than LIMIT_S of CPU (SIGPROF), or runs past WALL x LIMIT_S of wall time (SIGALRM: it waits on something), is
stopped (a BaseException, so no `except Exception` in the product swallows it) and reported as a timeout (CPU
time, because a machine busy with other work stretches an input's wall time, not the work it does); the worker
then exits, and the harness starts a fresh one. Code stuck where no timer reaches it (C code) is killed by the
harness's own deadline; a worker that dies (RLIMIT_AS, a segfault) is reported by the harness with the job it had started.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback

WALL = 3  # the wall-clock limit, in multiples of the CPU limit (tests/fuzz/harness.py waits that long, plus its grace)
CAP = 1 << 20  # bytes of each captured stream sent back (head and tail); the rest is elided


class FuzzTimeout(BaseException):
    """The per-input time limit: not an Exception, so the product's broad handlers let it through."""


def _alarm(_sig: int, _frame: object) -> None:
    raise FuzzTimeout


def _cap(data: bytes) -> tuple[str, bool]:
    if len(data) <= CAP:
        return data.decode("utf-8", "replace"), False
    half = CAP // 2
    return (data[:half] + b"\n[...elided...]\n" + data[-half:]).decode("utf-8", "replace"), True


def main() -> None:
    jobs_fd, report_fd, mem_mb, limit, target = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    report = os.fdopen(report_fd, "w", buffering=1)
    jobs = os.fdopen(jobs_fd, "r")

    def send(obj: dict[str, object]) -> None:
        report.write(json.dumps(obj) + "\n")

    from click.testing import CliRunner

    module, _, attr = target.partition(":")
    command = getattr(importlib.import_module(module), attr)
    if mem_mb:
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPROF, _alarm)
    runner = CliRunner()
    send({"ready": os.getpid()})
    for line in jobs:
        job = json.loads(line)
        send({"start": job["id"]})
        stdin = None
        if job.get("stdin"):
            with open(job["stdin"], "rb") as fh:
                stdin = fh.read()
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_PROF, limit)
        signal.setitimer(signal.ITIMER_REAL, limit * WALL)
        try:
            argv = [a.replace("@W@", os.environ.get("FUZZ_WORKER", "0")) for a in job["argv"]]
            res = runner.invoke(command, argv, input=stdin, env=job.get("env") or None, prog_name="remediator")
        except FuzzTimeout:
            send({"id": job["id"], "status": "timeout", "seconds": time.monotonic() - t0,
                  "detail": f"did not finish within {limit:g}s of CPU or {limit * WALL:g}s of wall time (stopped by a timer)"})
            return  # its state may be half-way: the harness starts a fresh worker
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.setitimer(signal.ITIMER_PROF, 0)
        seconds = time.monotonic() - t0
        exc = res.exception if res.exception is not None and not isinstance(res.exception, SystemExit) else None
        out, cut_out = _cap(res.stdout_bytes)
        err, cut_err = _cap(res.stderr_bytes)
        send({"id": job["id"], "status": "ok", "code": res.exit_code, "seconds": seconds, "out": out, "err": err,
              "truncated": cut_out or cut_err,
              "exception": None if exc is None else f"{type(exc).__name__}: {str(exc)[:2000]}",
              "traceback": None if exc is None or res.exc_info is None else
              "".join(traceback.format_exception(*res.exc_info))[-8000:],
              "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10})


if __name__ == "__main__":
    main()

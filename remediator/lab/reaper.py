"""A minimal init for lab daemons: run argv as a child and reap every orphan it leaves.

This machine's PID 1 does not reap orphans, so a killed managed containerd stays a zombie and
a restarted dockerd then waits for it ("containerd is still running") until it times out. On a
real host init reaps them; in the lab this subreaper plays that part. Exits when no child is left.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0].startswith("--tmpdir="):  # where containerd writes its stack dumps: inside the lab
        os.environ["TMPDIR"] = argv.pop(0).split("=", 1)[1]
        os.makedirs(os.environ["TMPDIR"], exist_ok=True)
    if not argv:
        print("usage: python -m remediator.lab.reaper [--tmpdir=DIR] ARGV...", file=sys.stderr)
        return 2
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - argv from our own lab
        finally:
            os._exit(127)
    code = 0
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return code
        if pid == child:
            code = os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())

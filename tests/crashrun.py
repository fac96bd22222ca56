"""Test-only entry point: run remediator's CLI with a crash point installed (remediator.crashpoints).

    python -m tests.crashrun [--kill POINT] [--fill POINT=FILE] -- <remediator arguments>

--kill POINT  this process SIGKILLs itself the first time it reaches POINT (after:<step>, during:<step>,
              undone:<step>, midway:backup, midway:clear, midway:quarantine).
--fill POINT=FILE  the first time it reaches POINT, FILE is written until its filesystem is full (ENOSPC): a
              state filesystem that fills mid-incident.

Production has no such switch: only this module (and tests in-process) install a checkpoint."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from remediator import crashpoints


def fill(path: str) -> None:
    """Write `path` until its filesystem has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = b"\0" * (1 << 16)
    with contextlib.suppress(OSError):  # ENOSPC: full, as asked
        while True:
            os.write(fd, block)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0")  # the last bytes of the last page too
    os.close(fd)


def checkpoint(kill: str | None = None, fill_at: str | None = None, fill_file: str = "") -> crashpoints.Checkpoint:
    """A checkpoint that SIGKILLs this process at `kill` and fills `fill_file`'s filesystem at `fill_at`."""
    filled = False

    def reached(point: str) -> None:
        nonlocal filled
        if point == kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if point == fill_at and not filled:
            filled = True
            fill(fill_file)
    return reached


def argv(*, kill: str | None = None, fill: str | None = None) -> list[str]:
    """The command line that runs remediator under this entry point (then the remediator arguments)."""
    opts = (["--kill", kill] if kill else []) + (["--fill", fill] if fill else [])
    return [sys.executable, "-m", "tests.crashrun", *opts, "--"]


def install(argv: Sequence[str]) -> list[str]:
    """Install the checkpoint the options ask for; return the arguments after `--`."""
    args = list(argv)
    if "--" not in args:
        raise SystemExit("usage: python -m tests.crashrun [--kill POINT] [--fill POINT=FILE] -- <arguments>")
    split = args.index("--")
    opts, rest = args[:split], args[split + 1:]
    kill = fill_at = None
    fill_file = ""
    if len(opts) % 2:
        raise SystemExit(f"tests.crashrun: {opts[-1]} wants a value")
    while opts:
        opt, value = opts.pop(0), opts.pop(0)
        if opt == "--kill":
            kill = value
        elif opt == "--fill":
            fill_at, _, fill_file = value.partition("=")
        else:
            raise SystemExit(f"tests.crashrun: unknown option {opt}")
    crashpoints.install(checkpoint(kill, fill_at, fill_file))
    return rest


if __name__ == "__main__":
    rest = install(sys.argv[1:])
    from remediator.cli import main

    sys.argv = ["remediator", *rest]
    main()

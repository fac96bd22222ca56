"""Switches for the tests that need an operator to die, or a disk to fill, at the worst moment, exactly.

REMEDIATOR_TEST_KILL=<point> makes this process SIGKILL itself the first time it reaches that point.
REMEDIATOR_TEST_FILL=<point>=<file> fills the filesystem holding <file> (one file, written until ENOSPC) the
first time it reaches that point: a state filesystem that fills mid-incident.

Points: after:<step> (its result is journaled), during:<step> (it ran, its result is not journaled),
undone:<step> (its rollback finished and is journaled), midway:backup / midway:clear / midway:quarantine (one
entry into the copy, the removal or the quarantine move). Unset, this costs two dict lookups.
"""

from __future__ import annotations

import contextlib
import os
import signal

VAR = "REMEDIATOR_TEST_KILL"
FILL = "REMEDIATOR_TEST_FILL"


def reached(point: str) -> None:
    if os.environ.get(VAR) == point:
        os.kill(os.getpid(), signal.SIGKILL)
    fill = os.environ.get(FILL)
    if fill and fill.partition("=")[0] == point:
        _fill(fill.partition("=")[2])


def _fill(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = b"\0" * (1 << 16)
    with contextlib.suppress(OSError):  # ENOSPC: full, as asked
        while True:
            os.write(fd, block)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0")  # the last bytes of the last page too
    os.close(fd)

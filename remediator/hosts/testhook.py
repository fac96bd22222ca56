"""A kill switch for the resume tests: REMEDIATOR_TEST_KILL=<point> makes this process SIGKILL itself
the first time it reaches that point (an operator dying at the worst moment, exactly).

Points: after:<step> (its result is journaled), during:<step> (it ran, its result is not journaled),
undone:<step> (its rollback finished and is journaled), midway:backup / midway:clear / midway:quarantine (one
entry into the copy, the removal or the quarantine move). Unset, this costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

VAR = "REMEDIATOR_TEST_KILL"


def reached(point: str) -> None:
    if os.environ.get(VAR) == point:
        os.kill(os.getpid(), signal.SIGKILL)

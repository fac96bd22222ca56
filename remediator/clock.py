"""Time, in one place: the clock the code reads and sleeps on, and THE poll-with-a-deadline loop.

Role: `Clock` (monotonic, wall, sleep, and a sleep that a stop event wakes) is injected where code waits
(StepContext.clock, hosts.service.wait_api, LocalHost.wait_gone, detect.verdict.settle, lab.wait_for); `SYSTEM`
is the real one. `poll_until` is the one loop that asks a condition until it holds, a deadline passes or a
stop is asked for: every "poll until X or give up after T" in remediator is a call to it, never a hand-written
`while time.monotonic() < deadline: ... time.sleep(...)`. Tests pass a fake clock (tests/fakes/clock.py), so a
wait of minutes runs instantly and deterministically.
Must not: import anything of remediator (bottom layer), or decide what a timeout means (the caller does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, durations)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (timestamps, expiry of things stored)."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sleep up to `seconds`, waking at once when `stop` is set; return whether it is set."""
        ...


class SystemClock:
    """The real clock: time.monotonic, time.time, time.sleep, Event.wait."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


SYSTEM: Clock = SystemClock()


def poll_until(cond: Callable[[], T | None], *, timeout: float, every: float, clock: Clock = SYSTEM,
               stop: threading.Event | None = None) -> T | None:
    """Ask cond() until it returns something other than None, and return that; return None once `timeout`
    seconds have passed (cond is asked once more at the deadline) or `stop` is set. cond is always asked at
    least once, even with a timeout of 0; an exception from cond goes to the caller. Between two asks it
    sleeps `every` seconds (never past the deadline), on `clock`, waking at once on `stop`."""
    deadline = clock.monotonic() + timeout
    while True:
        got = cond()
        if got is not None:
            return got
        left = deadline - clock.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return None
        pause = min(every, left)
        if stop is not None:
            if clock.wait(stop, pause):
                return None
        else:
            clock.sleep(pause)

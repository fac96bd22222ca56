"""A fake remediator.clock.Clock for unit tests: time moves only when the code under test sleeps.

monotonic() and wall() start at fixed values and advance by exactly what sleep()/wait() ask, so a wait of
minutes runs in microseconds and always takes the same path. `on_sleep` runs after each advance: a test
changes the world there (a file appears, a daemon answers) "while the code sleeps"."""

from __future__ import annotations

import threading
from collections.abc import Callable


class FakeClock:
    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0,
                 on_sleep: Callable[[float], object] | None = None) -> None:
        self.now = start
        self.epoch = wall - start  # wall() = epoch + now: the two clocks move together
        self.slept: list[float] = []  # every pause asked, in order
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        if self.on_sleep is not None:
            self.on_sleep(self.now)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if stop.is_set():
            return True
        self.sleep(seconds)
        return stop.is_set()

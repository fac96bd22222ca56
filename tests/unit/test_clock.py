"""remediator.clock.poll_until, THE poll-with-a-deadline loop, on a fake clock (no real time passes)."""

from __future__ import annotations

import threading
import time

import pytest

from remediator.clock import SYSTEM, poll_until
from tests.fakes.clock import FakeClock


def test_the_first_value_that_is_not_none_is_returned_after_the_pauses_it_took() -> None:
    clock = FakeClock()
    answers = iter([None, None, "up"])
    assert poll_until(lambda: next(answers), timeout=10, every=0.5, clock=clock) == "up"
    assert clock.slept == [0.5, 0.5]


def test_false_and_zero_are_values_only_none_means_not_yet() -> None:
    assert poll_until(lambda: False, timeout=0, every=1, clock=FakeClock()) is False
    assert poll_until(lambda: 0, timeout=0, every=1, clock=FakeClock()) == 0


def test_a_timeout_returns_none_after_one_last_ask_at_the_deadline_and_never_sleeps_past_it() -> None:
    clock = FakeClock()
    asked: list[float] = []

    def cond() -> None:
        asked.append(clock.monotonic() - 1000.0)

    assert poll_until(cond, timeout=1.0, every=0.4, clock=clock) is None
    assert asked == pytest.approx([0.0, 0.4, 0.8, 1.0])
    assert sum(clock.slept) == pytest.approx(1.0)


def test_a_zero_timeout_still_asks_once() -> None:
    calls = []
    assert poll_until(lambda: calls.append(1), timeout=0, every=1, clock=FakeClock()) is None
    assert calls == [1]


def test_an_exception_from_the_condition_goes_to_the_caller() -> None:
    def cond() -> None:
        raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        poll_until(cond, timeout=5, every=1, clock=FakeClock())


def test_a_stop_asked_while_sleeping_ends_the_wait_at_once() -> None:
    stop = threading.Event()
    clock = FakeClock(on_sleep=lambda now: stop.set() if now >= 1003.0 else None)
    assert poll_until(lambda: None, timeout=3600, every=1, clock=clock, stop=stop) is None
    assert sum(clock.slept) == pytest.approx(3.0), "woke at the stop, not at the hour's deadline"


def test_a_stop_already_set_asks_once_and_does_not_sleep() -> None:
    stop = threading.Event()
    stop.set()
    clock = FakeClock()
    assert poll_until(lambda: None, timeout=60, every=1, clock=clock, stop=stop) is None
    assert clock.slept == []


def test_on_the_system_clock_a_stop_from_another_thread_wakes_the_sleep() -> None:
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    t0 = time.monotonic()
    assert poll_until(lambda: None, timeout=30, every=10, clock=SYSTEM, stop=stop) is None
    assert time.monotonic() - t0 < 5, "the 10 s pause was cut short by the stop"


def test_the_fake_clocks_wall_and_monotonic_move_together() -> None:
    clock = FakeClock()
    w0, m0 = clock.wall(), clock.monotonic()
    clock.sleep(42)
    assert (clock.wall() - w0, clock.monotonic() - m0) == (42, 42)

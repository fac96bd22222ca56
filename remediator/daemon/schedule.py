"""Rounds on a fixed grid: start a round every `interval` seconds of the monotonic clock, never two at once.

Role: the daemon's clock for liveness rounds (daemon/liveness.py). Round slots are due at t0 + k·interval
(no drift: a slow round never shifts the grid). A round that overruns its slot makes the next round start
late, at once, with its lateness recorded; slots that passed entirely during an overrun are skipped and
counted, never run back to back. Each round's lateness, duration and process CPU time are handed to
`on_round`; `percentile` and `summarize` turn a run of them into p50/p99 figures.
Must not: run rounds concurrently, cancel a running round (stop is honoured between rounds), or decide
anything about what a round found.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RoundStats(Generic[T]):
    """One round. `slot` is k of its due time t0 + k·interval; times are time.monotonic() seconds."""

    number: int  # 0, 1, 2 ... rounds actually run
    slot: int
    due: float
    started: float
    lateness: float  # started - due, >= 0
    duration: float
    cpu: float  # time.process_time() spent by the whole process while the round ran
    skipped: int  # later slots already due when this (late) round started: not run, never made up
    result: T


async def run_rounds(probe_round: Callable[[], Awaitable[T]], interval: float, stop: asyncio.Event,
                     on_round: Callable[[RoundStats[T]], None], *, max_rounds: int | None = None) -> int:
    """Run `probe_round` at t0, t0 + interval, t0 + 2·interval ... until `stop` is set (or `max_rounds`
    rounds ran); the number of rounds run. The first round starts at once (t0 = now)."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    t0 = time.monotonic()
    slot, number = 0, 0
    while not stop.is_set() and (max_rounds is None or number < max_rounds):
        due = t0 + slot * interval
        wait = due - time.monotonic()
        if wait > 0:
            try:
                async with asyncio.timeout(wait):
                    await stop.wait()
                break  # stopped while waiting for the slot
            except TimeoutError:
                pass
        started, cpu0 = time.monotonic(), time.process_time()
        # late after an overrun: this round takes the earliest missed slot (its lateness says by how
        # much); later slots that are due as well are skipped, so rounds never bunch up
        passed = math.floor((started - t0) / interval)
        skipped = max(0, passed - slot)
        result = await probe_round()
        ended, cpu1 = time.monotonic(), time.process_time()
        on_round(RoundStats(number, slot, due, started, max(0.0, started - due), ended - started, cpu1 - cpu0, skipped, result))
        number += 1
        slot = max(slot, passed) + 1
    return number


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) by nearest rank: an observed value, never interpolated; nan
    for no values."""
    if not values:
        return math.nan
    if not 0 < q <= 100:
        raise ValueError("q must be in (0, 100]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Summary:
    rounds: int
    lateness_p50: float
    lateness_p99: float
    duration_p50: float
    duration_p99: float
    cpu_per_round: float  # mean process CPU seconds per round
    skipped: int


def summarize(stats: Sequence[RoundStats[T]]) -> Summary:
    lateness, duration = [s.lateness for s in stats], [s.duration for s in stats]
    return Summary(len(stats), percentile(lateness, 50), percentile(lateness, 99), percentile(duration, 50),
                   percentile(duration, 99), sum(s.cpu for s in stats) / len(stats) if stats else math.nan,
                   sum(s.skipped for s in stats))

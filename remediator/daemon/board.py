"""The daemon's memory of its hosts between rounds: which worker holds which host, which hosts are remediating,
which look sick, and the last refusal recorded for each. One lock guards all of it.

Role: a worker claims its host before it starts (one worker per host, atomically) and hands it back when it
ends; the circuit breaker counts the sick hosts and the fleet budget the remediating ones, read together with the
gate's decision under the lock (`admit`); a refusal is recorded once per reason and episode (an answering host,
a `release` or a `resume` starts a new episode).
Must not: touch the store, the journal or a host (memory only), or decide anything itself (daemon.policy does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from remediator.daemon.policy import Fleet, Gate


class Board:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, str] = {}  # host -> what its worker is doing (diagnosing, remediating, ...)
        self.remediating: set[str] = set()
        self.sick: set[str] = set()  # liveness failing, or the last verdict was sick: the circuit breaker's count
        self.refused: dict[str, str] = {}  # host -> the refusal reason recorded in this episode

    def claim(self, host: str, what: str, *, remediating: bool = False) -> bool:
        """Mark the host as taken by one worker, atomically; False when another already has it."""
        with self.lock:
            if host in self.active:
                return False
            self.active[host] = what
            if remediating:
                self.remediating.add(host)
            return True

    def claim_within(self, host: str, budget: int) -> bool | None:
        """Take the host to remediate it if the fleet budget has room: True when taken, False when the budget is
        spent, None when another worker has it already."""
        with self.lock:
            if host in self.active:
                return None
            if len(self.remediating) >= budget:
                return False
            self.active[host] = "remediating"
            self.remediating.add(host)
            return True

    def admit(self, host: str, hosts: int, decide: Callable[[Fleet], Gate], *, act: bool) -> Gate:
        """The gate's decision on the fleet as it is now; an allowed host that will be changed (`act`) counts as
        remediating before the lock is let go, so two workers never both fit in the last slot of the budget."""
        with self.lock:
            g = decide(Fleet(hosts, len(self.sick), len(self.remediating)))
            if g.allowed and act:
                self.remediating.add(host)
                self.active[host] = "remediating"
        return g

    def release(self, host: str) -> None:
        """The worker is done with the host (whatever happened)."""
        with self.lock:
            self.active.pop(host, None)
            self.remediating.discard(host)

    def answered(self, host: str) -> bool:
        """The host answered its /_ping: no longer sick, and its refusal episode is over (a new one is recorded
        anew). False, and nothing changed, when a worker holds it (its worker says what it is)."""
        with self.lock:
            if host in self.active:
                return False
            self.sick.discard(host)
            self.refused.pop(host, None)
            return True

    def failing(self, host: str) -> None:
        with self.lock:
            self.sick.add(host)

    def recovered(self, host: str) -> None:
        with self.lock:
            self.sick.discard(host)

    def first_refusal(self, host: str, reason: str) -> bool:
        """True the first time this reason refuses the host in this episode (recorded once, not every round)."""
        with self.lock:
            if self.refused.get(host) == reason:
                return False
            self.refused[host] = reason
            return True

    def new_episode(self, host: str) -> None:
        """Forget the host's last refusal: the next one is recorded again (allowed, released, resumed)."""
        with self.lock:
            self.refused.pop(host, None)

    def keep_only(self, names: Iterable[str]) -> None:
        """A reload removed hosts: they no longer count toward the circuit breaker."""
        with self.lock:
            self.sick &= set(names)

    def working(self) -> list[str]:
        with self.lock:
            return sorted(self.active)

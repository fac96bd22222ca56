"""The daemon's rounds: every `daemon.interval` seconds, one /_ping to every host, then each host's next step.

Role: the round loop (daemon.schedule.run_rounds: round k is due at t0 + k·interval, an overrun never makes two
rounds run at once; SIGTERM/SIGINT stop between rounds, SIGHUP asks for a reload), the liveness round
(daemon.liveness, asyncio, bounded concurrency, each ping under a deadline of at most half the interval), and
`dispatch`: an incident left in flight is resumed (through the gate); answering hosts are healthy (`slow` is
degraded, not sick); the others go to a worker for the full diagnosis unless one has them already. A round that
changes nothing about a host writes nothing for it (1,000 hosts: no 1,000 commits).
Must not: diagnose or heal in the event loop (the workers do, in their pool), or run two rounds at once.
"""

from __future__ import annotations

import asyncio
import signal
import time
import traceback
from collections.abc import Callable

from remediator.daemon.liveness import LivenessProber
from remediator.daemon.schedule import RoundStats, run_rounds
from remediator.daemon.shared import Shared
from remediator.daemon.store import HostStatus
from remediator.daemon.workers import Workers
from remediator.hosts.port import Ping
from remediator.settings import HostConfig
from remediator.vocab import HELD_STATES, Diagnosis, HostState, PingOutcome


class Rounds:
    def __init__(self, shared: Shared, workers: Workers) -> None:
        self.s, self.workers = shared, workers
        self.beat = time.monotonic()  # when the last round started: the systemd watchdog's proof of life

    async def run(self, stopping: Callable[[], None], reload: Callable[[], None]) -> None:
        """Rounds until SIGTERM/SIGINT (`stopping` is called, then the loop ends between rounds)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            stopping()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        loop.add_signal_handler(signal.SIGHUP, reload)
        await run_rounds(self.one_round, self.s.settings.daemon.interval, stop, self._on_round)

    async def one_round(self) -> None:
        self.beat = time.monotonic()
        try:
            pings = await self.liveness(list(self.s.settings.hosts))
            await asyncio.to_thread(self.dispatch, pings)  # store writes: off the event loop
            await asyncio.to_thread(self.s.store.mark_round)  # `status` shows its age
        except Exception as exc:  # noqa: BLE001 - one bad round is logged; the daemon goes on
            where = traceback.extract_tb(exc.__traceback__)[-3:]
            self.s.log("round-failed", level="error", error=f"{type(exc).__name__}: {exc}",
                       where=[f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in where])

    def _on_round(self, st: RoundStats[None]) -> None:
        self.s.metrics.lateness.observe(st.lateness)
        if st.skipped:
            self.s.log("rounds-skipped", level="warning", skipped=st.skipped, duration=round(st.duration, 3))

    async def liveness(self, hosts: list[HostConfig]) -> dict[str, Ping]:
        """One /_ping to every host at once (asyncio, bounded concurrency; bench/probe_scale.py measures it),
        each under a deadline of at most half the interval, so a wedged API never holds up the round."""
        settings = self.s.settings
        timeout = min(settings.probe.timeout, max(0.5, settings.daemon.interval / 2))
        prober = LivenessProber.of(hosts, timeout=timeout, slow=settings.probe.slow,
                                   concurrency=max(256, min(1024, len(hosts) // 10)))  # 10,000 hosts: 1,000 in flight
        return await prober.round()

    def dispatch(self, pings: dict[str, Ping]) -> None:
        """After a liveness round, each pinged host's next step (see the module's docstring)."""
        s = self.s
        hosts = [h for h in s.settings.hosts if h.name in pings]
        statuses, flags, open_rows = s.store.statuses(), s.store.all_flags(), s.journal.in_flight_all()
        s.metrics.rounds.inc()
        for h in hosts:
            p = pings[h.name]
            s.metrics.probe.observe(p.latency)
            if s.stop.is_set():
                break
            quarantined, paused = flags.get(h.name, (None, None))
            if h.name in open_rows:
                self.workers.resume_if_allowed(h, open_rows[h.name].id, quarantined, paused)
            else:
                self._next(h, p, statuses.get(h.name), quarantined, paused)
        s.update_gauges()

    def _next(self, h: HostConfig, p: Ping, last: HostStatus | None, quarantined: str | None,
              paused: str | None) -> None:
        """One host with no incident in flight, after its /_ping."""
        held = paused or quarantined
        if p.outcome == PingOutcome.DENIED:  # this user may not open the socket: no evidence, nothing planned
            self._status(h.name, last, HostState.NO_ACCESS, verdict=Diagnosis.NO_ACCESS,
                         reason=f"/_ping: {p.detail}"[:300])
            return
        if p.outcome in (PingOutcome.OK, PingOutcome.SLOW):  # answering: no diagnosis (slow is degraded, not sick)
            if self.s.board.answered(h.name):
                state = HostState.PAUSED if paused else HostState.QUARANTINED if quarantined else \
                    HostState.OBSERVING if h.policy == "observe" else HostState.HEALTHY
                self._status(h.name, last, state, verdict=Diagnosis.HEALTHY if p.ok else Diagnosis.DEGRADED,
                             reason=held)
            return
        self.s.board.failing(h.name)
        if held:  # held: no diagnosis (a worker each round for nothing), the state says why
            self._status(h.name, last, HostState.PAUSED if paused else HostState.QUARANTINED, reason=held)
            return
        if not self.s.board.claim(h.name, "diagnosing"):
            return
        if last is None or last.state not in HELD_STATES:  # a held host keeps its state (and reason) while re-checked
            self._status(h.name, last, HostState.SUSPECT, reason=f"/_ping: {p.outcome} {p.detail}"[:300])
        self.workers.diagnose(h)

    def _status(self, name: str, last: HostStatus | None, state: HostState, *, verdict: Diagnosis | None = None,
                reason: str | None = None) -> None:
        """Write the host's status only if this round changed it (state, reason, verdict; no open incident)."""
        if last is None or (last.state, last.reason, last.open_incident) != (state, reason, None) or \
                (verdict is not None and verdict != last.verdict):
            self.s.store.set_status(name, state, verdict=verdict, reason=reason)

"""The daemon: its parts wired together, started, reloaded and stopped.

Role: every `daemon.interval` seconds, ping every host's Docker API (cheap; daemon.rounds). A host that does
not answer (or an alert named) gets the full debounced diagnosis in a worker (daemon.workers); a verdict that
selects a runbook passes the policy gate (daemon.policy) and runs through remediator.app — healing alone
(`auto`), asking over the API for each risky step (`approve`, daemon.approvals), or planning only (`observe`, a
dry run: nothing on the host changes). The API talks to the daemon through daemon.control only. On start,
every incident left in flight is resumed first. SIGTERM finishes the step under way and leaves the incident in
flight for the next start; SIGHUP reloads the config in a thread of its own, off the rounds (a bad one, or one
that is not a regular file - a FIFO, a device - is logged and the old one kept). One daemon per state directory
and API socket (daemon.instance): the lock is taken before anything is opened.
Must not: print anything but JSON log lines; import click or rich.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from remediator import app
from remediator.daemon import instance, reach
from remediator.daemon.api import serve
from remediator.daemon.approvals import Approvals
from remediator.daemon.board import Board
from remediator.daemon.control import Control
from remediator.daemon.log import json_log
from remediator.daemon.metrics import Metrics
from remediator.daemon.notify import Notifier, sd_notify, watchdog_interval
from remediator.daemon.rounds import Rounds
from remediator.daemon.shared import Shared
from remediator.daemon.store import Store
from remediator.daemon.workers import Workers
from remediator.errors import InputError
from remediator.journal import Journal
from remediator.outputs import redacting
from remediator.settings import Settings, load_settings
from remediator.vocab import HELD_STATES, Diagnosis, HostState

HELD = HELD_STATES  # states a refusal set: a failing /_ping does not turn them back into "suspect"


class Daemon:
    def __init__(self, config: Path, settings: Settings, *, log: Callable[..., None] = json_log) -> None:
        self.config_path, self.log = config, redacting(log)  # whatever log it is given
        self.state_dir = Path(settings.state_dir)
        app.state_dir_apart(settings)  # by real path, before the store or the journal creates anything in it
        self.instance = instance.acquire(self.state_dir, settings.daemon.api_socket)  # first: a second one stops here
        self.store = Store(self.state_dir)
        self.journal = Journal(self.state_dir)
        self.metrics = Metrics()
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.notifier = Notifier(settings.daemon.webhooks, self.log)
        self.shared = Shared(settings, self.store, self.journal, self.metrics, Board(), self.notifier, self.log,
                             self.stop)
        self.approvals = Approvals(self.shared)
        self.workers = Workers(self.shared, self.approvals, settings.daemon.workers)
        self.pool = self.workers.pool
        self.rounds = Rounds(self.shared, self.workers)
        self.control = Control(self.shared, self.probe_now)

    @property
    def settings(self) -> Settings:
        """The config in force (a SIGHUP reload replaces it)."""
        return self.shared.settings

    # ---- lifecycle -----------------------------------------------------------------------------
    def run(self) -> int:
        try:
            for name, lines in reach.refuse_if_blind(self.settings).items():  # access is not health: never planned for
                self.log("no-access", level="error", host=name, detail=lines)
                self.store.set_status(name, HostState.NO_ACCESS, verdict=Diagnosis.NO_ACCESS,
                                      reason="; ".join(lines)[:300])
            servers = serve(self.control, self.settings.daemon)
        except BaseException:
            self.close()
            raise
        try:
            return self._run()
        finally:
            for s in servers:
                s.shutdown()
                s.server_close()  # the API socket is removed: a clean stop leaves none behind
            self.close()

    def close(self) -> None:
        """Release what the daemon holds: the journal's and the store's connections, then the instance lock."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.journal.disconnect()
        self.store.db.close()
        self.instance.close()

    def _run(self) -> int:
        self.log("started", hosts=[h.name for h in self.settings.hosts], interval=self.settings.daemon.interval,
                 api_socket=self.settings.daemon.api_socket, metrics_listen=self.settings.daemon.metrics_listen)
        self.resume_in_flight()
        sd_notify("READY=1\nSTATUS=probing")
        dog = watchdog_interval()
        if dog:
            threading.Thread(target=self._watchdog, args=(dog,), name="watchdog", daemon=True).start()
        threading.Thread(target=self._reloader, name="reload", daemon=True).start()
        asyncio.run(self.rounds.run(self.shutdown, self.reload.set))
        sd_notify("STOPPING=1")
        self.log("stopping", reason="signal", running=self.shared.board.working())
        self.pool.shutdown(wait=True, cancel_futures=True)  # queued diagnoses never start; running steps finish
        self.notifier.close()
        self.log("stopped")
        return 0

    def shutdown(self) -> None:
        """SIGTERM: steps under way finish, their incidents stay in flight; no new work starts."""
        self.stop.set()  # also the incidents' stop (their Faces): the step under way finishes
        self.reload.set()  # wakes the reloader, which sees stop and ends

    def resume_in_flight(self) -> None:
        """Before anything else: every incident a previous daemon (or a killed `run`) left in flight is resumed by
        the first round (through the gate: held or observed hosts keep theirs waiting; the fleet budget holds)."""
        rows, flags = self.journal.in_flight_all(), self.store.all_flags()
        if rows:
            self.log("in-flight", incidents=[r.id for r in rows.values()], hosts=sorted(rows))
        for h in self.settings.hosts:
            if h.name in rows:
                self.workers.resume_if_allowed(h, rows[h.name].id, *flags.get(h.name, (None, None)))

    def probe_now(self, host: str) -> bool:
        """An alert named this host: diagnose it now, in a worker (the probe still decides; an alert never acts)."""
        h = self.shared.host(host)
        if h is None or self.stop.is_set():
            return False
        if self.shared.board.claim(host, "diagnosing"):
            self.workers.diagnose(h)
        return True  # already being looked at, or now

    # ---- SIGHUP and the watchdog ------------------------------------------------------------------
    def _reloader(self) -> None:
        """SIGHUP's work, off the rounds: a config that hangs its reader (a FIFO) holds up only this thread."""
        while not self.stop.is_set():
            self.reload.wait()
            self.reload.clear()
            if not self.stop.is_set():
                self._reload()

    def _watchdog(self, every: float) -> None:
        while not self.stop.wait(every):
            if time.monotonic() - self.rounds.beat < max(3 * self.settings.daemon.interval, 60):
                sd_notify("WATCHDOG=1")

    def _reload(self) -> None:
        try:
            try:
                mode = os.stat(self.config_path).st_mode
            except OSError as exc:
                raise InputError(f"{self.config_path}: cannot read: {exc.strerror or exc}") from None
            if not stat.S_ISREG(mode):  # a FIFO or a device would block its reader (or never end): refused
                raise InputError(f"{self.config_path}: not a regular file: refused")
            new = load_settings(self.config_path)  # bounded read (loader.MAX_BYTES)
        except InputError as exc:
            self.log("reload-failed", level="error", error=str(exc), kept="the previous config")
            return
        self.shared.settings = new
        names = {h.name for h in new.hosts}
        self.shared.board.keep_only(names)  # a removed host no longer counts toward the circuit breaker
        self.log("reloaded", hosts=sorted(names), note="interval, workers, webhooks and the API keep their "
                 "start-time values until a restart")

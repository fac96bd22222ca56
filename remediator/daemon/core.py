"""The daemon's loop: liveness rounds, diagnosis of the hosts that look sick, incidents in a bounded pool.

Role: every `daemon.interval` seconds, ping every host's Docker API (cheap). A host that does not answer (or an
alert named) gets the full debounced diagnosis in a worker; a verdict that selects a runbook passes the policy
gate (remediator.daemon.policy) and runs through remediator.app — healing alone (`auto`), asking over the API
for each risky step (`approve`), or planning only (`observe`, a dry run: nothing on the host changes). On
start, every incident left in flight is resumed first. SIGTERM finishes the step under way and leaves the
incident in flight for the next start; SIGHUP reloads the config in a thread of its own, off the rounds (a bad
one, or one that is not a regular file - a FIFO, a device - is logged and the old one kept). One daemon per
state directory and API socket (daemon.instance): the lock is taken before anything is opened.
Must not: print anything but JSON log lines; import click or rich.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from remediator import app, engine
from remediator.daemon import instance, policy, reach
from remediator.daemon.metrics import Metrics
from remediator.daemon.notify import Notifier, sd_notify, watchdog_interval
from remediator.daemon.store import Store
from remediator.detect.verdict import HEALTHY_LIKE, Verdict, denials
from remediator.engine import Interrupted
from remediator.errors import InputError, RemediatorError
from remediator.hosts import connect
from remediator.hosts.liveness import LivenessProber
from remediator.hosts.port import Ping
from remediator.hosts.schedule import RoundStats, run_rounds
from remediator.hosts.service import supervisor_state
from remediator.incident import Report
from remediator.journal import Journal
from remediator.outputs import redacting
from remediator.redact import redact_obj, redact_text
from remediator.settings import HostConfig, Settings, load_settings
from remediator.structs import ApprovalRequest, Outcome, StepEvent
from remediator.vocab import HELD_STATES

HELD = HELD_STATES  # states a refusal set: a failing /_ping does not turn them back into "suspect"


def json_log(event: str, level: str = "info", **fields: Any) -> None:
    """One JSON object per line on stdout (journald keeps it as is)."""
    line = redact_text(json.dumps(redact_obj({"ts": round(time.time(), 3), "level": level, "event": event, **fields}),
                                  default=str))  # objects, then their str() (default=str) too
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Daemon:
    def __init__(self, config: Path, settings: Settings, *, log: Callable[..., None] = json_log) -> None:
        self.config_path, self.settings, self.log = config, settings, redacting(log)  # whatever log it is given
        self.state_dir = Path(settings.state_dir)
        app.state_dir_apart(settings)  # by real path, before the store or the journal creates anything in it
        self.instance = instance.acquire(self.state_dir, settings.daemon.api_socket)  # first: a second one stops here
        self.store = Store(self.state_dir)
        self.journal = Journal(self.state_dir)
        self.metrics = Metrics()
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.lock = threading.Lock()
        self.active: dict[str, str] = {}  # host -> what its worker is doing (diagnosing, remediating, ...)
        self.remediating: set[str] = set()
        self.sick: set[str] = set()  # liveness failing, or the last verdict was sick: the circuit breaker's count
        self.last_refusal: dict[str, str] = {}
        self.pool = ThreadPoolExecutor(max_workers=settings.daemon.workers, thread_name_prefix="incident")
        self.notifier = Notifier(settings.daemon.webhooks, self.log)
        self.beat = time.monotonic()

    # ---- lifecycle -----------------------------------------------------------------------------
    def run(self) -> int:
        from remediator.daemon.api import serve  # the API needs the daemon; imported here to keep the cycle out

        try:
            for name, lines in reach.refuse_if_blind(self.settings).items():  # access is not health: never planned for
                self.log("no-access", level="error", host=name, detail=lines)
                self.store.set_status(name, "no-access", verdict="no-access", reason="; ".join(lines)[:300])
            servers = serve(self)
        except BaseException:
            self.close()
            raise
        try:
            return self._run(servers)
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

    def _run(self, servers: list[Any]) -> int:
        self.log("started", hosts=[h.name for h in self.settings.hosts], interval=self.settings.daemon.interval,
                 api_socket=self.settings.daemon.api_socket, metrics_listen=self.settings.daemon.metrics_listen)
        self.resume_in_flight()
        sd_notify("READY=1\nSTATUS=probing")
        dog = watchdog_interval()
        if dog:
            threading.Thread(target=self._watchdog, args=(dog,), name="watchdog", daemon=True).start()
        threading.Thread(target=self._reloader, name="reload", daemon=True).start()
        asyncio.run(self._rounds())
        sd_notify("STOPPING=1")
        self.log("stopping", reason="signal", running=sorted(self.active))
        self.pool.shutdown(wait=True, cancel_futures=True)  # queued diagnoses never start; running steps finish
        self.notifier.close()
        self.log("stopped")
        return 0

    async def _rounds(self) -> None:
        """The schedule bench/probe_scale.py measures (hosts/schedule.run_rounds): round k is due at t0 + k·interval,
        an overrun never makes two rounds run at once; SIGTERM/SIGINT stop between rounds, SIGHUP reloads."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        def stopping() -> None:
            self.shutdown()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping)
        loop.add_signal_handler(signal.SIGHUP, self.reload.set)

        async def one_round() -> None:
            self.beat = time.monotonic()
            try:
                pings = await self._liveness(list(self.settings.hosts))
                await asyncio.to_thread(self.dispatch, pings)  # store writes: off the event loop
                await asyncio.to_thread(self.store.mark_round)  # `status` shows its age
            except Exception as exc:  # noqa: BLE001 - one bad round is logged; the daemon goes on
                where = traceback.extract_tb(exc.__traceback__)[-3:]
                self.log("round-failed", level="error", error=f"{type(exc).__name__}: {exc}",
                         where=[f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in where])

        def on_round(st: RoundStats[None]) -> None:
            self.metrics.lateness.observe(st.lateness)
            if st.skipped:
                self.log("rounds-skipped", level="warning", skipped=st.skipped, duration=round(st.duration, 3))

        await run_rounds(one_round, self.settings.daemon.interval, stop, on_round)

    def shutdown(self) -> None:
        """SIGTERM: steps under way finish, their incidents stay in flight; no new work starts."""
        self.stop.set()  # also the incidents' stop (their Faces): the step under way finishes
        self.reload.set()  # wakes the reloader, which sees stop and ends

    def _reloader(self) -> None:
        """SIGHUP's work, off the rounds: a config that hangs its reader (a FIFO) holds up only this thread."""
        while not self.stop.is_set():
            self.reload.wait()
            self.reload.clear()
            if not self.stop.is_set():
                self._reload()

    def _watchdog(self, every: float) -> None:
        while not self.stop.wait(every):
            if time.monotonic() - self.beat < max(3 * self.settings.daemon.interval, 60):
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
        self.settings = new
        names = {h.name for h in new.hosts}
        with self.lock:
            self.sick &= names  # a removed host no longer counts toward the circuit breaker
        self.log("reloaded", hosts=sorted(names), note="interval, workers, webhooks and the API keep their "
                 "start-time values until a restart")

    # ---- rounds --------------------------------------------------------------------------------
    async def _liveness(self, hosts: list[HostConfig]) -> dict[str, Ping]:
        """One /_ping to every host at once (asyncio, bounded concurrency; bench/probe_scale.py measures it),
        each under a deadline of at most half the interval, so a wedged API never holds up the round."""
        timeout = min(self.settings.probe.timeout, max(0.5, self.settings.daemon.interval / 2))
        prober = LivenessProber.of(hosts, timeout=timeout, slow=self.settings.probe.slow,
                                   concurrency=max(256, min(1024, len(hosts) // 10)))  # 10,000 hosts: 1,000 in flight
        return await prober.round()

    def dispatch(self, pings: dict[str, Ping]) -> None:
        """After a liveness round: an incident left in flight is resumed (through the gate); answering hosts are
        healthy; the others go to a worker for the full diagnosis, unless one is busy with them already."""
        hosts = [h for h in self.settings.hosts if h.name in pings]
        statuses, flags, open_rows = self.store.statuses(), self.store.all_flags(), self.journal.in_flight_all()
        self.metrics.rounds.inc()

        def status(name: str, state: str, *, verdict: str | None = None, reason: str | None = None) -> None:
            last = statuses.get(name)  # a round that changes nothing writes nothing (1,000 hosts: no 1,000 commits)
            if last is None or (last.state, last.reason, last.open_incident) != (state, reason, None) or \
                    (verdict is not None and verdict != last.verdict):
                self.store.set_status(name, state, verdict=verdict, reason=reason)

        for h in hosts:
            p = pings[h.name]
            self.metrics.probe.observe(p.latency)
            if self.stop.is_set():
                break
            quarantined, paused = flags.get(h.name, (None, None))
            if h.name in open_rows:
                self._resume_if_allowed(h, open_rows[h.name].id, quarantined, paused)
                continue
            if p.outcome == "denied":  # this user may not open the socket: no evidence, nothing planned
                status(h.name, "no-access", verdict="no-access", reason=f"/_ping: {p.detail}"[:300])
                continue
            if p.outcome in ("ok", "slow"):  # answering: no diagnosis (slow is degraded, not sick)
                with self.lock:
                    if h.name in self.active:
                        continue
                    self.sick.discard(h.name)
                    self.last_refusal.pop(h.name, None)  # the episode is over: a new one is recorded anew
                held = paused or quarantined
                state = "paused" if paused else "quarantined" if quarantined else \
                    "observing" if h.policy == "observe" else "healthy"
                status(h.name, state, verdict="healthy" if p.ok else "degraded", reason=held)
                continue
            with self.lock:
                self.sick.add(h.name)
            if paused or quarantined:  # held: no diagnosis (a worker each round for nothing), the state says why
                status(h.name, "paused" if paused else "quarantined", reason=paused or quarantined)
                continue
            if not self._claim(h.name, "diagnosing"):
                continue
            last = statuses.get(h.name)
            if last is None or last.state not in HELD:  # a held host keeps its state (and reason) while re-checked
                status(h.name, "suspect", reason=f"/_ping: {p.outcome} {p.detail}"[:300])
            self.pool.submit(self._guarded, h, self._handle, h)
        self._update_gauges()

    def _claim(self, host: str, what: str, remediating: bool = False) -> bool:
        """Mark the host as taken by one worker, atomically; False when another already has it."""
        with self.lock:
            if host in self.active:
                return False
            self.active[host] = what
            if remediating:
                self.remediating.add(host)
            return True

    def _resume_if_allowed(self, h: HostConfig, row_id: str, quarantined: str | None, paused: str | None) -> None:
        """An incident in flight (a killed daemon or `run`) is finished before anything new on that host, unless
        the host is held (paused, quarantined) or observed (its incident waits, shown in status), or the fleet
        budget is spent (it waits for a slot)."""
        held = paused or quarantined or ("policy observe: an in-flight incident waits for a human "
                                         "(`remediator resume ID`)" if h.policy == "observe" else None)
        if held:
            self.store.set_status(h.name, "paused" if paused else "quarantined" if quarantined else "observing",
                                  reason=held, open_incident=row_id)
            return
        with self.lock:
            if h.name in self.active:
                return
            if len(self.remediating) >= self.settings.daemon.limits.fleet_budget:
                self.store.set_status(h.name, "waiting", reason="an incident in flight waits for the fleet budget",
                                      open_incident=row_id)
                return
            self.active[h.name] = "remediating"
            self.remediating.add(h.name)
        self.log("resuming", host=h.name, incident=row_id)
        self.store.set_status(h.name, "remediating", reason="resuming an incident left in flight", open_incident=row_id)
        self.pool.submit(self._guarded, h, lambda x: self._resume(x, row_id), h)

    def _open(self, host: str) -> str | None:
        row = self.journal.in_flight(host)
        return row.id if row else None

    def _update_gauges(self) -> None:
        st = self.store.statuses()
        names = {h.name for h in self.settings.hosts}
        self.metrics.set_hosts([s.state for n, s in st.items() if n in names],
                               [s.verdict or "unknown" for n, s in st.items() if n in names])
        self.metrics.approvals.set(len(self.store.approvals()))

    def probe_now(self, host: str) -> bool:
        """An alert named this host: diagnose it now, in a worker (the probe still decides; an alert never acts)."""
        h = next((x for x in self.settings.hosts if x.name == host), None)
        if h is None or self.stop.is_set():
            return False
        if self._claim(host, "diagnosing"):
            self.pool.submit(self._guarded, h, self._handle, h)
        return True  # already being looked at, or now

    # ---- one host --------------------------------------------------------------------------------
    def _guarded(self, h: HostConfig, fn: Callable[[HostConfig], None], arg: HostConfig) -> None:
        try:
            fn(arg)
        except Interrupted as exc:
            self.log("interrupted", host=h.name, detail=str(exc))
        except RemediatorError as exc:
            self.log("host-error", level="error", host=h.name, error=str(exc))
            self.store.set_status(h.name, "suspect", reason=str(exc)[:300], open_incident=self._open(h.name))
        except Exception as exc:  # noqa: BLE001 - a worker never dies silently; the host is retried next round
            self.log("worker-crashed", level="error", host=h.name, error=f"{type(exc).__name__}: {exc}")
        finally:  # the worker owns the claim made for it (dispatch, probe_now, resume): nobody else clears it
            with self.lock:
                self.active.pop(h.name, None)
                self.remediating.discard(h.name)

    def resume_in_flight(self) -> None:
        """Before anything else: every incident a previous daemon (or a killed `run`) left in flight is resumed by
        the first round (through the gate: held or observed hosts keep theirs waiting; the fleet budget holds)."""
        rows, flags = self.journal.in_flight_all(), self.store.all_flags()
        if rows:
            self.log("in-flight", incidents=[r.id for r in rows.values()], hosts=sorted(rows))
        for h in self.settings.hosts:
            if h.name in rows:
                self._resume_if_allowed(h, rows[h.name].id, *flags.get(h.name, (None, None)))

    def _resume(self, h: HostConfig, incident: str) -> None:
        if self.stop.is_set():
            return
        try:  # refuses an incident that is no longer in flight: never opens a new one
            report = app.resume_incident(self.settings, incident, faces=self._faces(h))
        except InputError as exc:
            self.log("resume-skipped", host=h.name, incident=incident, reason=str(exc))
            return
        self._after(h, report)

    def _handle(self, h: HostConfig) -> None:
        if self.stop.is_set():
            return  # SIGTERM: nothing new starts
        sup, unit = supervisor_state(connect(h), h.service)  # systemd first: one call, before any diagnosis
        held = policy.supervisor_gate(sup)
        if held is not None:  # stopped by an admin, restarting by itself, or systemctl unanswerable: hands off
            self._refused(h, held, None, unit)
            return
        facts, verdict = app.diagnose(h, self.settings)
        self.log("verdict", host=h.name, verdict=verdict.diagnosis, confidence=verdict.confidence,
                 runbook=verdict.runbook)
        self.metrics.hosts_verdict.labels(verdict.diagnosis)  # the label exists even before the gauge update
        if verdict.runbook is None:
            blind = verdict.diagnosis == "no-access"  # access is not health: marked, never planned for
            with self.lock:
                if verdict.diagnosis in HEALTHY_LIKE or blind:
                    self.sick.discard(h.name)
            self.store.set_status(h.name, "no-access" if blind else "healthy" if verdict.diagnosis in HEALTHY_LIKE
                                  else "suspect", verdict=verdict.diagnosis, open_incident=self._open(h.name),
                                  reason="; ".join(denials(verdict))[:300] if blind else None)
            return
        observe = h.policy == "observe"
        sup, unit = supervisor_state(connect(h), h.service)  # again: the diagnosis took rounds
        now = time.time()
        history = self.journal.host_incidents(h.name, now - max(self.settings.daemon.limits.window,
                                                                 self.settings.daemon.limits.cooldown))
        quarantined, paused = self.store.flags(h.name)
        released = self.store.released_at(h.name)  # a release starts the host's budget afresh
        history = [r for r in history if r.started >= released or r.ended is None]
        with self.lock:
            fleet = policy.Fleet(len(self.settings.hosts), len(self.sick), len(self.remediating))
            g = policy.gate(h.name, self.settings.daemon.limits, now=now, history=history, quarantined=quarantined,
                            paused=paused, windows=self.settings.daemon.maintenance, supervisor=sup, fleet=fleet,
                            dry_run=observe)
            if g.allowed and not observe:
                self.remediating.add(h.name)
                self.active[h.name] = "remediating"
        if not g.allowed:
            self._refused(h, g, verdict, unit)
            return
        self.last_refusal.pop(h.name, None)
        if policy.relapse(history, now, self.settings.daemon.limits.probation) is not None:
            self.metrics.relapses.inc()
            self.log("relapse", level="warning", host=h.name, verdict=verdict.diagnosis)
        self.store.set_status(h.name, g.state, verdict=verdict.diagnosis, reason=None)
        self.log("acting", host=h.name, verdict=verdict.diagnosis, runbook=verdict.runbook, policy=h.policy)
        self.notifier.send("incident-opened", host=h.name, verdict=verdict.diagnosis, runbook=verdict.runbook,
                           policy=h.policy)
        if self.stop.is_set():
            return
        report = app.heal_host(self.settings, h.name, "auto", dry_run=observe, faces=self._faces(h),
                               diagnosed=(facts, verdict))
        self._after(h, report)

    def _refused(self, h: HostConfig, g: policy.Gate, verdict: Verdict | None, unit: dict[str, str]) -> None:
        if g.quarantine and self.store.set_flag(h.name, "quarantined", g.detail):
            self.metrics.quarantines.inc()
            self.notifier.send("quarantined", host=h.name, reason=g.detail)
        if self.last_refusal.get(h.name) != g.reason:  # recorded once per reason and episode, not every round
            self.last_refusal[h.name] = g.reason
            self.metrics.refusals.labels(g.reason).inc()
            self.store.refuse(h.name, g.reason, g.detail)
            self.log("refused", level="warning", host=h.name, reason=g.reason, detail=g.detail,
                     verdict=verdict.diagnosis if verdict else None, runbook=verdict.runbook if verdict else None,
                     unit=unit or None)
        self.store.set_status(h.name, g.state, verdict=verdict.diagnosis if verdict else None, reason=g.detail,
                              open_incident=self._open(h.name))

    def _after(self, h: HostConfig, report: Report) -> None:
        if report.incident is None:  # the verdict selected nothing: no incident was opened
            diagnosis = report.verdict.diagnosis if report.verdict else None
            self.store.set_status(h.name, "healthy" if diagnosis in HEALTHY_LIKE else "suspect", verdict=diagnosis,
                                  reason=None)
            return
        chain = " → ".join(report.chain) or "?"
        self.metrics.incidents.labels(chain, report.outcome.value).inc()
        if len(report.chain) > 1:
            self.metrics.climbs.inc()
        if report.started is not None and report.ended is not None and report.outcome is Outcome.RECOVERED:
            self.metrics.recover.observe(report.ended - report.started)
        self.log("outcome", host=h.name, incident=report.incident, outcome=report.outcome.value,
                 summary=report.summary, runbook=chain)
        self.notifier.send("outcome", host=h.name, incident=report.incident, outcome=report.outcome.value,
                           summary=report.summary)
        if report.outcome is Outcome.FAILED and self.store.set_flag(
                h.name, "quarantined", f"incident {report.incident} failed: the host was changed and could not be "
                "put back; it needs a person"):
            self.metrics.quarantines.inc()
        healed = report.outcome in (Outcome.RECOVERED, Outcome.HEALTHY)
        if healed:
            with self.lock:
                self.sick.discard(h.name)
        state = "observing" if report.outcome is Outcome.PLANNED else "healthy" if healed else "suspect"
        self.store.set_status(h.name, state, reason=redact_text(report.summary)[:300], open_incident=self._open(h.name))

    # ---- faces -------------------------------------------------------------------------------------
    def _faces(self, h: HostConfig) -> app.Faces:
        def report(kind: str, step: str | None, text: str, lines: list[str] | None = None, *,
                   event: StepEvent | None = None) -> None:
            if event is not None and event.ok:  # a step's action ended: its duration, as it happens
                self.metrics.steps.labels(event.action).observe(event.seconds)
            self.log("step", host=h.name, kind=kind, step=step, text=redact_text(text)[:500], lines=(lines or [])[:20] or None)

        return app.Faces(approver=self._approver(h), report=report, stop=self.stop)

    def _approver(self, h: HostConfig) -> engine.Approver:
        def approve(req: ApprovalRequest) -> tuple[bool, str]:
            if h.policy == "auto":
                return True, "policy auto (remediator daemon)"
            incident = req.incident
            a = self.store.request(incident=incident, host=h.name, step=req.step, plan_sha256=req.plan_sha256,
                                   summary=req.summary, changes=req.changes, ttl=self.settings.daemon.approval_ttl)
            self.store.set_status(h.name, "awaiting-approval", reason=f"step {req.step}: {req.summary}"[:300],
                                  open_incident=incident)
            self.log("approval-needed", host=h.name, incident=incident, step=req.step, approval=a.id,
                     summary=req.summary)
            self.notifier.send("approval-needed", host=h.name, incident=incident, step=req.step, approval=a.id,
                               summary=req.summary)
            self._update_gauges()
            d = self.store.wait_decision(a.id, a.expires, self.stop)  # what the store holds after the CAS
            self.store.set_status(h.name, "remediating", open_incident=incident)
            if d is None or d.decision is None:
                self.store.settle(a.id, "withdrawn", "daemon", "the daemon stopped; asked again after the restart")
                raise Interrupted(f"the daemon stopped while step {req.step} awaited approval {a.id}; the incident "
                                  "stays in flight and asks again after the restart")
            if d.decision != "approved":
                return False, f"{d.decision} by {d.by} (approval {a.id})"
            why = self._changed_while_waiting(h)
            if why:
                self.store.annotate(a.id, f"not executed: {why}")
                return False, f"approved by {d.by}, but {why} before {req.step} ran: not executed"
            return True, f"approved by {d.by} (approval {a.id})"

        return approve

    def _changed_while_waiting(self, h: HostConfig) -> str:
        """Why an approval given after a wait must not be acted on ("" when it may): the host is held now, its
        supervisor took over, or it reads healthy, degraded or starting again."""
        quarantined, paused = self.store.flags(h.name)
        if paused or quarantined:
            return f"the host was {'paused' if paused else 'quarantined'} meanwhile ({paused or quarantined})"
        sup, _unit = supervisor_state(connect(h), h.service)
        if sup is not None:
            return f"systemd says {sup}"
        _facts, now = app.diagnose(h, self.settings, rounds=1)
        if now.diagnosis == "no-access":
            return "the host cannot be looked at now (no-access): " + "; ".join(denials(now))[:200]
        if now.diagnosis in HEALTHY_LIKE:
            return f"the host recovered by itself (it reads {now.diagnosis})"
        return ""

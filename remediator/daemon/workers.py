"""The daemon's workers: one host at a time, from a sick /_ping (or an alert) to the end of its incident.

Role: a bounded pool runs, for one claimed host, the full diagnosis; a verdict that selects a runbook passes
systemd's view and the policy gate (under the board's lock) and runs through remediator.app (`auto`: healing
alone, `approve`: asking over the API for each risky step, `observe`: a dry run); an incident left in flight is
resumed first, through the gate. Afterwards the worker records the host's state, metrics and webhooks, and
quarantines a host an incident could not put back. The worker owns its claim and hands it back when it ends.
Must not: run two workers for one host, or act on a host the gate refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from remediator import app
from remediator.daemon import policy
from remediator.daemon.approvals import Approvals
from remediator.daemon.shared import Shared
from remediator.detect.facts import Facts
from remediator.detect.verdict import HEALTHY_LIKE, Verdict, denials
from remediator.engine import Interrupted
from remediator.errors import InputError, RemediatorError
from remediator.hosts import connect
from remediator.hosts.service import supervisor_state
from remediator.incident import Report
from remediator.redact import redact_text
from remediator.settings import HostConfig
from remediator.structs import Outcome, StepEvent
from remediator.vocab import Diagnosis, HostState


class Workers:
    def __init__(self, shared: Shared, approvals: Approvals, workers: int) -> None:
        self.s, self.approvals = shared, approvals
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="incident")

    # ---- launching ---------------------------------------------------------------------------------
    def diagnose(self, h: HostConfig) -> None:
        """In a worker: the host's full diagnosis, and its incident if the gate allows (the caller claimed it)."""
        self.pool.submit(self._guarded, h, self.handle)

    def resume_if_allowed(self, h: HostConfig, row_id: str, quarantined: str | None, paused: str | None) -> None:
        """An incident in flight (a killed daemon or `run`) is finished before anything new on that host, unless
        the host is held (paused, quarantined) or observed (its incident waits, shown in status), or the fleet
        budget is spent (it waits for a slot)."""
        s = self.s
        held = paused or quarantined or ("policy observe: an in-flight incident waits for a human "
                                         "(`remediator resume ID`)" if h.policy == "observe" else None)
        if held:
            s.store.set_status(h.name, HostState.PAUSED if paused else HostState.QUARANTINED if quarantined
                               else HostState.OBSERVING, reason=held, open_incident=row_id)
            return
        taken = s.board.claim_within(h.name, s.settings.daemon.limits.fleet_budget)
        if taken is None:
            return
        if not taken:
            s.store.set_status(h.name, HostState.WAITING, reason="an incident in flight waits for the fleet budget",
                               open_incident=row_id)
            return
        s.log("resuming", host=h.name, incident=row_id)
        s.store.set_status(h.name, HostState.REMEDIATING, reason="resuming an incident left in flight",
                           open_incident=row_id)
        self.pool.submit(self._guarded, h, lambda x: self._resume(x, row_id))

    def _guarded(self, h: HostConfig, fn: Callable[[HostConfig], None]) -> None:
        s = self.s
        try:
            fn(h)
        except Interrupted as exc:
            s.log("interrupted", host=h.name, detail=str(exc))
        except RemediatorError as exc:
            s.log("host-error", level="error", host=h.name, error=str(exc))
            s.store.set_status(h.name, HostState.SUSPECT, reason=str(exc)[:300], open_incident=s.open_incident(h.name))
        except Exception as exc:  # noqa: BLE001 - a worker never dies silently; the host is retried next round
            s.log("worker-crashed", level="error", host=h.name, error=f"{type(exc).__name__}: {exc}")
        finally:  # the worker owns the claim made for it (dispatch, probe_now, resume): nobody else clears it
            s.board.release(h.name)

    def _resume(self, h: HostConfig, incident: str) -> None:
        if self.s.stop.is_set():
            return
        try:  # refuses an incident that is no longer in flight: never opens a new one
            report = app.resume_incident(self.s.settings, incident, faces=self.faces(h))
        except InputError as exc:
            self.s.log("resume-skipped", host=h.name, incident=incident, reason=str(exc))
            return
        self._after(h, report)

    # ---- one sick host -----------------------------------------------------------------------------
    def handle(self, h: HostConfig) -> None:
        """One sick host: systemd's view, the diagnosis, the gate, then the incident (or the refusal)."""
        if self.s.stop.is_set():
            return  # SIGTERM: nothing new starts
        sup, unit = supervisor_state(connect(h), h.service)  # systemd first: one call, before any diagnosis
        held = policy.supervisor_gate(sup)
        if held is not None:  # stopped by an admin, restarting by itself, or systemctl unanswerable: hands off
            self._refused(h, held, None, unit)
            return
        facts, verdict = app.diagnose(h, self.s.settings)
        self.s.log("verdict", host=h.name, verdict=verdict.diagnosis, confidence=verdict.confidence,
                   runbook=verdict.runbook)
        self.s.metrics.hosts_verdict.labels(verdict.diagnosis)  # the label exists even before the gauge update
        if verdict.runbook is None:
            self._nothing_to_run(h, verdict)
            return
        g = self._gate(h, verdict)
        if g is not None:
            self._act(h, facts, verdict, g)

    def _nothing_to_run(self, h: HostConfig, verdict: Verdict) -> None:
        blind = verdict.diagnosis == Diagnosis.NO_ACCESS  # access is not health: marked, never planned for
        healthy = verdict.diagnosis in HEALTHY_LIKE
        if healthy or blind:
            self.s.board.recovered(h.name)
        state = HostState.NO_ACCESS if blind else HostState.HEALTHY if healthy else HostState.SUSPECT
        self.s.store.set_status(h.name, state, verdict=verdict.diagnosis, open_incident=self.s.open_incident(h.name),
                                reason="; ".join(denials(verdict))[:300] if blind else None)

    def _gate(self, h: HostConfig, verdict: Verdict) -> policy.Gate | None:
        """The gate's decision, with systemd asked again (the diagnosis took rounds); None when refused."""
        s, limits = self.s, self.s.settings.daemon.limits
        observe = h.policy == "observe"
        sup, unit = supervisor_state(connect(h), h.service)
        now = time.time()
        history = s.journal.host_incidents(h.name, now - max(limits.window, limits.cooldown))
        quarantined, paused = s.store.flags(h.name)
        released = s.store.released_at(h.name)  # a release starts the host's budget afresh
        history = [r for r in history if r.started >= released or r.ended is None]
        g = s.board.admit(h.name, len(s.settings.hosts), lambda fleet: policy.gate(
            h.name, limits, now=now, history=history, quarantined=quarantined, paused=paused,
            windows=s.settings.daemon.maintenance, supervisor=sup, fleet=fleet, dry_run=observe), act=not observe)
        if not g.allowed:
            self._refused(h, g, verdict, unit)
            return None
        s.board.new_episode(h.name)
        if policy.relapse(history, now, limits.probation) is not None:
            s.metrics.relapses.inc()
            s.log("relapse", level="warning", host=h.name, verdict=verdict.diagnosis)
        return g

    def _act(self, h: HostConfig, facts: Facts, verdict: Verdict, g: policy.Gate) -> None:
        s = self.s
        s.store.set_status(h.name, g.state, verdict=verdict.diagnosis, reason=None)
        s.log("acting", host=h.name, verdict=verdict.diagnosis, runbook=verdict.runbook, policy=h.policy)
        s.notifier.send("incident-opened", host=h.name, verdict=verdict.diagnosis, runbook=verdict.runbook,
                        policy=h.policy)
        if s.stop.is_set():
            return
        report = app.heal_host(s.settings, h.name, "auto", dry_run=h.policy == "observe", faces=self.faces(h),
                               diagnosed=(facts, verdict))
        self._after(h, report)

    def _refused(self, h: HostConfig, g: policy.Gate, verdict: Verdict | None, unit: dict[str, str]) -> None:
        s = self.s
        if g.quarantine and s.store.set_flag(h.name, "quarantined", g.detail):
            s.metrics.quarantines.inc()
            s.notifier.send("quarantined", host=h.name, reason=g.detail)
        if s.board.first_refusal(h.name, g.reason):  # recorded once per reason and episode, not every round
            s.metrics.refusals.labels(g.reason).inc()
            s.store.refuse(h.name, g.reason, g.detail)
            s.log("refused", level="warning", host=h.name, reason=g.reason, detail=g.detail,
                  verdict=verdict.diagnosis if verdict else None, runbook=verdict.runbook if verdict else None,
                  unit=unit or None)
        s.store.set_status(h.name, g.state, verdict=verdict.diagnosis if verdict else None, reason=g.detail,
                           open_incident=s.open_incident(h.name))

    # ---- after an incident -------------------------------------------------------------------------
    def _after(self, h: HostConfig, report: Report) -> None:
        s = self.s
        if report.incident is None:  # the verdict selected nothing: no incident was opened
            diagnosis = report.verdict.diagnosis if report.verdict else None
            s.store.set_status(h.name, HostState.HEALTHY if diagnosis in HEALTHY_LIKE else HostState.SUSPECT,
                               verdict=diagnosis, reason=None)
            return
        chain = " → ".join(report.chain) or "?"
        self._count(report, chain)
        s.log("outcome", host=h.name, incident=report.incident, outcome=report.outcome.value,
              summary=report.summary, runbook=chain)
        s.notifier.send("outcome", host=h.name, incident=report.incident, outcome=report.outcome.value,
                        summary=report.summary)
        if report.outcome is Outcome.FAILED and s.store.set_flag(
                h.name, "quarantined", f"incident {report.incident} failed: the host was changed and could not be "
                "put back; it needs a person"):
            s.metrics.quarantines.inc()
        healed = report.outcome in (Outcome.RECOVERED, Outcome.HEALTHY)
        if healed:
            s.board.recovered(h.name)
        state = HostState.OBSERVING if report.outcome is Outcome.PLANNED else HostState.HEALTHY if healed \
            else HostState.SUSPECT
        s.store.set_status(h.name, state, reason=redact_text(report.summary)[:300],
                           open_incident=s.open_incident(h.name))

    def _count(self, report: Report, chain: str) -> None:
        """The incident's metrics: by chain and outcome, ladder climbs, time to recover (the step durations come
        from the StepEvents as they happen: faces)."""
        m = self.s.metrics
        m.incidents.labels(chain, report.outcome.value).inc()
        if len(report.chain) > 1:
            m.climbs.inc()
        if report.started is not None and report.ended is not None and report.outcome is Outcome.RECOVERED:
            m.recover.observe(report.ended - report.started)

    # ---- faces -------------------------------------------------------------------------------------
    def faces(self, h: HostConfig) -> app.Faces:
        def report(kind: str, step: str | None, text: str, lines: list[str] | None = None, *,
                   event: StepEvent | None = None) -> None:
            if event is not None and event.ok:  # a step's action ended: its duration, as it happens
                self.s.metrics.steps.labels(event.action).observe(event.seconds)
            self.s.log("step", host=h.name, kind=kind, step=step, text=redact_text(text)[:500],
                       lines=(lines or [])[:20] or None)

        return app.Faces(approver=self.approvals.approver(h), report=report, stop=self.s.stop)

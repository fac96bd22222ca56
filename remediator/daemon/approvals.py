"""The daemon's approver: a risky step under policy `approve` waits for a human's decision over the API.

Role: the engine's `Approver` for one host. Under `auto` it says yes at once; otherwise it records a pending
approval for exactly this plan (store.request), says so (status, log, webhook), and waits for the decision the
store holds after its compare-and-set (or the TTL, or SIGTERM: then the incident stays in flight and asks again
after the restart). An approval given after a wait is acted on only if the host still needs it: not held
meanwhile, not taken over by systemd, not healthy, degraded or starting again.
Must not: decide for a human, or run the step (the engine does, on its word).
"""

from __future__ import annotations

from remediator import app, engine
from remediator.daemon.shared import Shared
from remediator.detect.verdict import HEALTHY_LIKE, denials
from remediator.engine import Interrupted
from remediator.hosts import connect
from remediator.hosts.service import supervisor_state
from remediator.settings import HostConfig
from remediator.structs import ApprovalRequest
from remediator.vocab import Diagnosis, HostState


class Approvals:
    def __init__(self, shared: Shared) -> None:
        self.s = shared

    def approver(self, h: HostConfig) -> engine.Approver:
        s = self.s

        def approve(req: ApprovalRequest) -> tuple[bool, str]:
            if h.policy == "auto":
                return True, "policy auto (remediator daemon)"
            incident = req.incident
            a = s.store.request(incident=incident, host=h.name, step=req.step, plan_sha256=req.plan_sha256,
                                summary=req.summary, changes=req.changes, ttl=s.settings.daemon.approval_ttl)
            s.store.set_status(h.name, HostState.AWAITING_APPROVAL, reason=f"step {req.step}: {req.summary}"[:300],
                               open_incident=incident)
            s.log("approval-needed", host=h.name, incident=incident, step=req.step, approval=a.id,
                  summary=req.summary)
            s.notifier.send("approval-needed", host=h.name, incident=incident, step=req.step, approval=a.id,
                            summary=req.summary)
            s.update_gauges()
            d = s.store.wait_decision(a.id, a.expires, s.stop)  # what the store holds after the CAS
            s.store.set_status(h.name, HostState.REMEDIATING, open_incident=incident)
            if d is None or d.decision is None:
                s.store.settle(a.id, "withdrawn", "daemon", "the daemon stopped; asked again after the restart")
                raise Interrupted(f"the daemon stopped while step {req.step} awaited approval {a.id}; the incident "
                                  "stays in flight and asks again after the restart")
            if d.decision != "approved":
                return False, f"{d.decision} by {d.by} (approval {a.id})"
            why = self.changed_while_waiting(h)
            if why:
                s.store.annotate(a.id, f"not executed: {why}")
                return False, f"approved by {d.by}, but {why} before {req.step} ran: not executed"
            return True, f"approved by {d.by} (approval {a.id})"

        return approve

    def changed_while_waiting(self, h: HostConfig) -> str:
        """Why an approval given after a wait must not be acted on ("" when it may): the host is held now, its
        supervisor took over, or it reads healthy, degraded or starting again."""
        quarantined, paused = self.s.store.flags(h.name)
        if paused or quarantined:
            return f"the host was {'paused' if paused else 'quarantined'} meanwhile ({paused or quarantined})"
        sup, _unit = supervisor_state(connect(h), h.service)
        if sup is not None:
            return f"systemd says {sup}"
        _facts, now = app.diagnose(h, self.s.settings, rounds=1)
        if now.diagnosis == Diagnosis.NO_ACCESS:
            return "the host cannot be looked at now (no-access): " + "; ".join(denials(now))[:200]
        if now.diagnosis in HEALTHY_LIKE:
            return f"the host recovered by itself (it reads {now.diagnosis})"
        return ""

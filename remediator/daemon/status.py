"""`remediator status [--json]` and GET /v1/status: every host, its state, last verdict, open incident,
pending approvals and quarantines — read from the state directory, so it works with the daemon down.

Role: one object for both faces (the CLI prints it, the API returns it). `daemon` says whether a daemon holds
the state directory's lock (daemon.instance) and how old its last round is: with none running, or a last round
older than three intervals, the hosts' states are what was last recorded (stale), not what is.
Must not: probe hosts (the daemon's rounds do; this reads what they recorded).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from remediator.daemon.instance import running
from remediator.daemon.store import Store
from remediator.journal import Journal
from remediator.settings import Settings
from remediator.vocab import HostState


def status_object(settings: Settings, store: Store, journal: Journal) -> dict[str, Any]:
    statuses = store.statuses()
    approvals = store.approvals()
    hosts = []
    for h in settings.hosts:
        s = statuses.get(h.name)
        quarantined, paused = store.flags(h.name)
        row = journal.in_flight(h.name)
        state = s.state if s else "unknown"  # never recorded: no HostState yet
        if paused:
            state = HostState.PAUSED
        elif quarantined:
            state = HostState.QUARANTINED
        hosts.append({
            "name": h.name, "policy": h.policy, "state": state, "verdict": s.verdict if s else None,
            "verdict_at": s.verdict_at if s else None, "reason": paused or quarantined or (s.reason if s else None),
            "open_incident": row.id if row else None, "quarantined": quarantined, "paused": paused,
            "updated": s.updated if s else None,
            "pending_approvals": [a.id for a in approvals if a.host == h.name],
        })
    now = time.time()
    alive, pid = running(Path(settings.state_dir))
    last = store.last_round()
    age = round(now - last, 1) if last is not None else None
    fresh = alive and age is not None and age <= max(3 * settings.daemon.interval, 30)
    return {"generated": now, "daemon": {"running": alive, "pid": pid, "last_round_age": age, "stale": not fresh},
            "hosts": hosts, "approvals": [a.as_dict() for a in approvals],
            "refusals": store.refusals(limit=20)}

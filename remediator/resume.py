"""Resume: rebuild an interrupted incident from the journal alone.

Role: an incident whose row never got an `ended` is in flight — its operator was SIGKILLed, lost its
SSH session, or the machine rebooted. Read back the facts its plans were rendered from, the rungs it
ran, and, for the last rung, the steps that completed (with their outputs: the snapshot, the backup
manifests), the step that was running, a rollback under way, and the approvals given.
Must not: touch the host (the app layer re-diagnoses, the engine goes on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediator.detect import facts as factsmod
from remediator.engine import Progress, Rung
from remediator.journal import IncidentRow, Journal
from remediator.structs import Outcome

# the machine's end states, and the outcome each one means (an operator can die between the two writes)
ENDS = {"recovered": Outcome.RECOVERED, "healthy": Outcome.HEALTHY, "rolled_back": Outcome.ROLLED_BACK,
        "not_healed": Outcome.NOT_HEALED, "failed": Outcome.FAILED, "refused": Outcome.REFUSED,
        "escalated": Outcome.ESCALATED, "collected": Outcome.COLLECTED}


@dataclass
class Interrupted:
    row: IncidentRow
    facts: factsmod.Facts
    earlier: list[Rung]  # rungs that ended before the last one
    runbook: str  # the last rung's runbook
    sha256: str
    number: int
    progress: Progress
    ended: Outcome | None = None  # the last rung reached an end state but the incident was never closed
    pending_action: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        if self.ended is not None:
            return f"after {self.runbook} ended ({self.ended.value}), before the incident was closed"
        if self.progress.rolling_back:
            return f"while {self.runbook} was rolling back"
        if self.progress.pending:
            return f"in the middle of step {self.progress.pending} ({self.pending_action}) of {self.runbook}"
        last = self.progress.done[-1][0] if self.progress.done else None
        return f"after step {last} of {self.runbook}" if last else f"before the first step of {self.runbook}"


def _facts(d: dict[str, Any]) -> factsmod.Facts:
    version = factsmod.parse_version(str(d.get("docker_version", "")))
    layout, exec_root = str(d["layout"]), str(d["exec_root"])
    return factsmod.Facts(
        host=str(d["host"]), docker_host=str(d["docker_host"]), data_root=str(d["data_root"]), exec_root=exec_root,
        version=str(d.get("docker_version", "")), layout=layout, state_dirs=list(d.get("state_dirs") or []),
        dockerd_pid=d.get("dockerd_pid"), notes=list(d.get("notes") or []) + ["facts read back from the journal"],
        containerd_sock=str(d.get("containerd_sock") or factsmod.containerd_sock_for(layout, version, exec_root, None)),
        containerd_pidfile=str(d.get("containerd_pidfile") or factsmod.containerd_pidfile_for(layout, version, exec_root)))


def read(journal: Journal, row: IncidentRow) -> Interrupted:
    """Everything the engine needs to go on, from the journal alone."""
    events = journal.events(row.id)
    facts = next((_facts(d) for _, kind, _, d in events if kind == "facts"), None)
    if facts is None:
        raise ValueError(f"incident {row.id} has no facts in the journal: it never started a step")
    rungs: list[tuple[dict[str, Any], list[tuple[str, str | None, dict[str, Any]]]]] = []
    for _, kind, step, d in events:
        if kind == "rung":
            rungs.append((d, []))
        elif rungs:
            rungs[-1][1].append((kind, step, d))
    if not rungs:  # a journal from before the ladder: one rung, the incident's runbook
        rungs = [({"runbook": row.runbook, "sha256": "", "number": 1}, [(k, s, d) for _, k, s, d in events])]
    earlier = []
    for head, evs in rungs[:-1]:
        last_state = next((d.get("dest") for k, _, d in reversed(evs) if k == "state"), None)
        earlier.append(Rung(str(head["runbook"]), ENDS.get(str(last_state), Outcome.FAILED), []))
    head, evs = rungs[-1]
    progress, pending_action, last_state = Progress(), None, None
    for kind, step, d in evs:
        if kind == "approval" and d.get("approved") and step:
            progress.approvals[step] = str(d.get("plan_sha256") or "")
        elif kind == "intent" and step and "rollback" not in d:
            progress.pending, pending_action = step, str(d.get("action"))
        elif kind == "result" and step and "rollback" not in d:
            if d.get("ok"):
                progress.done.append((step, dict(d.get("data") or {}), bool(d.get("changed", True))))
            progress.pending = None
        elif kind == "rollback":
            progress.rolling_back, progress.pending = True, None
        elif kind == "result" and step and d.get("ok") and "rollback" in d:
            progress.undone.add((step, str(d["rollback"])))
        elif kind == "state":
            last_state = d.get("dest")
    ended = ENDS.get(str(last_state)) if last_state in ENDS else None
    return Interrupted(row, facts, earlier, str(head["runbook"]), str(head.get("sha256") or ""),
                       int(head.get("number") or len(rungs)), progress, ended, pending_action)

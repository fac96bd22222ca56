"""The daemon's control surface: everything the API may ask of a running daemon, and nothing more.

Role: `DaemonControl` is the protocol daemon.routes and daemon.api are written against (so the API never holds
the Daemon, and the Daemon imports the API without a cycle); `Control` is the daemon's implementation over its
store, journal, metrics and board. A decision is one compare-and-set in the store (`decide` says who won); a
release or a resume starts a new refusal episode (the next refusal is recorded again); every change is logged
with the peer that asked.
Must not: heal anything (it records decisions and flags; the workers act on them), or know HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from remediator.daemon.shared import Shared
from remediator.daemon.status import status_object
from remediator.daemon.store import Approval


@dataclass(frozen=True)
class Decided:
    """What a decision came to: `approval` is what the store holds afterwards (None: no such approval pending or
    decided); `won` is True when this call decided it, False when another decision came first."""

    approval: Approval | None
    won: bool


class DaemonControl(Protocol):
    def log(self, event: str, level: str = "info", **fields: Any) -> None: ...

    def health(self) -> dict[str, Any]: ...

    def metrics(self) -> bytes: ...

    def status(self) -> dict[str, Any]: ...

    def pending(self) -> list[Approval]: ...

    def decide(self, ident: str, decision: str, step: str | None, note: str, who: str) -> Decided: ...

    def hosts(self) -> set[str]: ...

    def release(self, host: str, who: str) -> bool: ...

    def pause(self, host: str, reason: str, who: str) -> bool: ...

    def resume_host(self, host: str, who: str) -> bool: ...

    def probe_now(self, host: str) -> bool: ...

    def stopping(self) -> bool: ...


class Control:
    """The daemon's DaemonControl. `probe_now` is the daemon's own (it claims the host and starts a worker)."""

    def __init__(self, shared: Shared, probe_now: Callable[[str], bool]) -> None:
        self.s, self.probe_now = shared, probe_now

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        self.s.log(event, level=level, **fields)

    def health(self) -> dict[str, Any]:
        return {"ok": True, "hosts": len(self.s.settings.hosts)}

    def metrics(self) -> bytes:
        return self.s.metrics.render()

    def status(self) -> dict[str, Any]:
        return status_object(self.s.settings, self.s.store, self.s.journal)

    def pending(self) -> list[Approval]:
        return self.s.store.approvals()

    def decide(self, ident: str, decision: str, step: str | None, note: str, who: str) -> Decided:
        """Decide the newest pending approval `ident` names (an approval id, or an incident id [and step])."""
        store = self.s.store
        pending = store.find_pending(ident, step)
        if not pending:
            return Decided(store.approval(ident), False)  # decided before, or no such approval
        won, now = store.settle(pending[0].id, decision, who, note)
        if won and now is not None:
            self.s.log("approval-decided", approval=now.id, incident=now.incident, step=now.step, decision=decision,
                       by=who, note=note or None)
        return Decided(now, won)

    def hosts(self) -> set[str]:
        return {h.name for h in self.s.settings.hosts}

    def release(self, host: str, who: str) -> bool:
        changed = self.s.store.set_flag(host, "quarantined", None)
        self.s.board.new_episode(host)
        return self._logged("release", host, changed, who)

    def pause(self, host: str, reason: str, who: str) -> bool:
        return self._logged("pause", host, self.s.store.set_flag(host, "paused", reason), who)

    def resume_host(self, host: str, who: str) -> bool:
        changed = self.s.store.set_flag(host, "paused", None)
        self.s.board.new_episode(host)
        return self._logged("resume", host, changed, who)

    def stopping(self) -> bool:
        return self.s.stop.is_set()

    def _logged(self, verb: str, host: str, changed: bool, who: str) -> bool:
        self.s.log("host-" + verb, host=host, changed=changed, by=who)
        return changed

"""The API's routes: what each request may do, on values checked before anything is looked up.

Role: `route(d, method, path, body, who)` -> (code, body), or ApiError (a 4xx with a message). Ids and host names
are checked against remediator.idents (the one grammar) before any lookup: a path segment that is not a valid
id is a 400, never a lookup and never another route (`ID/approve?` cannot turn a deny into an approval); a path
with a query, a fragment or a percent-escape is a 400. A decision is one compare-and-set in the store: of two
racing decisions exactly one wins; the other gets 409 naming the winner (the same decision again: 200, "already
decided"). The approver recorded is `who`, the peer's identity (its user name from SO_PEERCRED on the unix
socket, the token's name over TCP); the body's free text is kept only as a note.
Must not: heal anything (it records decisions; the workers act on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remediator import idents
from remediator.daemon.status import status_object
from remediator.errors import InputError

if TYPE_CHECKING:
    from remediator.daemon.core import Daemon

SERVED = ("GET", "POST")


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _checked(kind: str, value: object, where: str) -> str:
    try:
        return idents.check(kind, value, where)
    except InputError as exc:
        raise ApiError(400, str(exc)) from None


def _text(body: dict[str, Any], key: str, limit: int, default: str = "") -> str:
    """A free-text field: a string of at most `limit` printable characters (no control characters)."""
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise ApiError(400, f"{key} must be a string of at most {limit} printable characters")
    return value


def _parts(method: str, path: str) -> list[str]:
    if method not in SERVED:
        raise ApiError(405, f"method {idents.shown(method, 20)} not allowed (GET and POST are served)")
    bare = path.split("?", 1)[0]
    if bare in ("/healthz", "/metrics") and method == "GET":
        return [bare[1:]]  # a scraper's query string is harmless here
    parts = path.split("/")[1:]
    if any(c in path for c in "?#%\\") or not path.startswith("/") or "" in parts:
        raise ApiError(400, f"malformed path {idents.shown(path, 100)}: no query, fragment, escape or empty segment")
    return parts


def route(d: Daemon, method: str, path: str, body: dict[str, Any], metrics_only: bool,
          who: str = "api") -> tuple[int, Any]:
    parts = _parts(method, path)
    if method == "GET" and parts == ["healthz"]:
        return 200, {"ok": True, "hosts": len(d.settings.hosts)}
    if method == "GET" and parts == ["metrics"]:
        return 200, d.metrics.render()
    if metrics_only:
        raise ApiError(404, "only /metrics and /healthz here")
    if method == "GET" and parts == ["v1", "status"]:
        return 200, status_object(d.settings, d.store, d.journal)
    if method == "GET" and parts == ["v1", "approvals"]:
        return 200, {"approvals": [a.as_dict() for a in d.store.approvals()]}
    if len(parts) == 4 and parts[:2] == ["v1", "approvals"] and parts[3] in ("approve", "deny"):
        if method != "POST":
            raise ApiError(405, f"{method} not allowed here (POST)")
        return decide(d, parts[2], parts[3], body, who)
    if len(parts) == 4 and parts[:2] == ["v1", "hosts"]:
        if method != "POST":
            raise ApiError(405, f"{method} not allowed here (POST)")
        return host_action(d, parts[2], parts[3], body, who)
    if parts == ["v1", "alerts"]:
        if method != "POST":
            raise ApiError(405, f"{method} not allowed here (POST)")
        if d.stop.is_set():
            raise ApiError(503, "the daemon is stopping")
        return 202, alerts(d, body)
    if parts in (["v1", "status"], ["v1", "approvals"], ["healthz"], ["metrics"]):
        raise ApiError(405, f"{method} not allowed here (GET)")
    raise ApiError(404, f"no route {method} {idents.shown(path, 100)}")


def decide(d: Daemon, raw_ident: str, verb: str, body: dict[str, Any], who: str) -> tuple[int, Any]:
    try:
        ident = idents.one_of(("approval id", "incident id"), raw_ident, "approval")
    except InputError as exc:
        raise ApiError(400, str(exc)) from None
    step = body.get("step")
    if step is not None:
        step = _checked("step id", step, "step")
    note = _text(body, "note", 200) or _text(body, "by", 200)  # `by` from an older CLI: a note, not the approver
    decision = "approved" if verb == "approve" else "denied"
    pending = d.store.find_pending(ident, step)
    if not pending:
        decided = d.store.approval(ident)
        if decided is not None and decided.decision == decision:  # idempotent: the same decision again
            return 200, {"approval": decided.as_dict(), "note": "already decided"}
        if decided is not None:
            raise ApiError(409, f"approval {ident} was already {decided.decision} by {decided.by}")
        raise ApiError(404, f"no pending approval {ident}" + (f" for step {step}" if step else ""))
    won, now = d.store.settle(pending[0].id, decision, who, note)
    if now is None:
        raise ApiError(404, f"no approval {pending[0].id}")
    if not won:  # another decision came first (a racing approve/deny, the TTL, a withdrawal): it stands
        if now.decision == decision:
            return 200, {"approval": now.as_dict(), "note": "already decided"}
        raise ApiError(409, f"approval {now.id} was already {now.decision} by {now.by}")
    d.log("approval-decided", approval=now.id, incident=now.incident, step=now.step, decision=decision, by=who,
          note=note or None)
    return 200, {"approval": now.as_dict()}


def host_action(d: Daemon, raw_host: str, verb: str, body: dict[str, Any], who: str) -> tuple[int, Any]:
    host = _checked("host name", raw_host, "host")
    if verb not in ("release", "pause", "resume"):
        raise ApiError(404, f"unknown host action {idents.shown(verb, 40)} (release, pause, resume)")
    if host not in {h.name for h in d.settings.hosts}:
        raise ApiError(404, f"no host {host} in the config")
    reason = _text(body, "reason", 300, "by the API") or "by the API"
    if verb == "release":
        changed = d.store.set_flag(host, "quarantined", None)
        d.last_refusal.pop(host, None)
    elif verb == "pause":
        changed = d.store.set_flag(host, "paused", reason)
    else:
        changed = d.store.set_flag(host, "paused", None)
        d.last_refusal.pop(host, None)
    d.log("host-" + verb, host=host, changed=changed, by=who)
    return 200, {"host": host, "action": verb, "changed": changed}


def alerts(d: Daemon, body: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager's webhook (version 4): each firing alert names a host by its `host`, `hostname`, `instance`
    or `nodename` label; those hosts are probed at once. An alert never acts by itself."""
    items = body.get("alerts")
    if body.get("version") not in (None, "4") or not isinstance(items, list):
        raise ApiError(400, "not an Alertmanager webhook (version 4 with an alerts list)")
    known = {h.name for h in d.settings.hosts}
    probed: list[str] = []
    unknown: list[str] = []
    for a in items[:1000]:
        if not isinstance(a, dict) or a.get("status", "firing") != "firing":
            continue
        labels = a.get("labels")
        if not isinstance(labels, dict):
            continue
        for key in ("host", "hostname", "nodename", "instance"):
            value = labels.get(key)
            if isinstance(value, str) and value:
                name = value.split(":", 1)[0] if key == "instance" else value
                (probed if name in known else unknown).append(name if idents.matches("host name", name)
                                                              else idents.shown(name, 64))
                break
    for name in set(probed):
        d.probe_now(name)
    d.log("alerts", probed=sorted(set(probed)), unknown=sorted(set(unknown))[:20])
    return {"probing": sorted(set(probed)), "unknown": sorted(set(unknown))[:20]}

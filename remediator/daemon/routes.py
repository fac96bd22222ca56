"""The API's routes: what each request may do, on values checked before anything is looked up.

Role: `route(control, method, path, body, metrics_only, who)` -> (code, body), or ApiError (a 4xx with a
message), through the table ROUTES: one small handler per route, talking to the daemon only through
daemon.control.DaemonControl. Ids and host names are checked against remediator.idents (the one grammar)
before any lookup: a path segment that is not a valid id is a 400, never a lookup and never another route
(`ID/approve?` cannot turn a deny into an approval); a path with a query, a fragment or a percent-escape is a
400. A decision is one compare-and-set in the store: of two racing decisions exactly one wins; the other gets
409 naming the winner (the same decision again: 200, "already decided"). The approver recorded is `who`, the
peer's identity (its user name from SO_PEERCRED on the unix socket, the token's name over TCP); the body's free
text is kept only as a note.
Must not: heal anything (it records decisions; the workers act on them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from remediator import idents
from remediator.daemon.control import DaemonControl
from remediator.errors import InputError

SERVED = ("GET", "POST")


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    parts: list[str]  # the path's segments: ["v1", "approvals", ID, "approve"]
    body: dict[str, Any]
    who: str  # the peer's identity: its user on the unix socket, the token's name over TCP


Answer = tuple[int, Any]
Handler = Callable[[DaemonControl, Request], Answer]
ANY = None  # a path segment checked by its handler (an id, a host name, a host action)


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


# ---- the handlers: each checks its own segments and body, then asks the daemon ------------------------------
def health(c: DaemonControl, r: Request) -> Answer:
    return 200, c.health()


def metrics(c: DaemonControl, r: Request) -> Answer:
    return 200, c.metrics()


def status(c: DaemonControl, r: Request) -> Answer:
    return 200, c.status()


def approvals(c: DaemonControl, r: Request) -> Answer:
    return 200, {"approvals": [a.as_dict() for a in c.pending()]}


def decision(c: DaemonControl, r: Request) -> Answer:
    return decide(c, r.parts[2], r.parts[3], r.body, r.who)


def host_action(c: DaemonControl, r: Request) -> Answer:
    host = _checked("host name", r.parts[2], "host")
    verb = r.parts[3]
    act = HOST_ACTIONS.get(verb)
    if act is None:
        raise ApiError(404, f"unknown host action {idents.shown(verb, 40)} (release, pause, resume)")
    if host not in c.hosts():
        raise ApiError(404, f"no host {host} in the config")
    reason = _text(r.body, "reason", 300, "by the API") or "by the API"
    return 200, {"host": host, "action": verb, "changed": act(c, host, reason, r.who)}


def alerting(c: DaemonControl, r: Request) -> Answer:
    if c.stopping():
        raise ApiError(503, "the daemon is stopping")
    return 202, alerts(c, r.body)


HOST_ACTIONS: dict[str, Callable[[DaemonControl, str, str, str], bool]] = {
    "release": lambda c, host, _reason, who: c.release(host, who),
    "pause": lambda c, host, reason, who: c.pause(host, reason, who),
    "resume": lambda c, host, _reason, who: c.resume_host(host, who),
}


@dataclass(frozen=True)
class Route:
    pattern: tuple[str | tuple[str, ...] | None, ...]  # a segment: itself, one of several, or ANY
    methods: dict[str, Handler]
    metrics: bool = False  # served on daemon.metrics_listen too

    def matches(self, parts: list[str]) -> bool:
        return len(parts) == len(self.pattern) and all(
            p is ANY or (part in p if isinstance(p, tuple) else part == p) for p, part in zip(self.pattern, parts, strict=True))


ROUTES = (
    Route(("healthz",), {"GET": health}, metrics=True),
    Route(("metrics",), {"GET": metrics}, metrics=True),
    Route(("v1", "status"), {"GET": status}),
    Route(("v1", "approvals"), {"GET": approvals}),
    Route(("v1", "approvals", ANY, ("approve", "deny")), {"POST": decision}),
    Route(("v1", "hosts", ANY, ANY), {"POST": host_action}),
    Route(("v1", "alerts"), {"POST": alerting}),
)


def route(c: DaemonControl, method: str, path: str, body: dict[str, Any], metrics_only: bool,
          who: str = "api") -> Answer:
    parts = _parts(method, path)
    found = next((r for r in ROUTES if r.matches(parts)), None)
    handler = found.methods.get(method) if found else None
    if metrics_only and not (found and found.metrics and handler):
        raise ApiError(404, "only /metrics and /healthz here")
    if found is None:
        raise ApiError(404, f"no route {method} {idents.shown(path, 100)}")
    if handler is None:
        raise ApiError(405, f"{method} not allowed here ({', '.join(found.methods)})")
    return handler(c, Request(parts, body, who))


def decide(c: DaemonControl, raw_ident: str, verb: str, body: dict[str, Any], who: str) -> Answer:
    try:
        ident = idents.one_of(("approval id", "incident id"), raw_ident, "approval")
    except InputError as exc:
        raise ApiError(400, str(exc)) from None
    step = body.get("step")
    if step is not None:
        step = _checked("step id", step, "step")
    note = _text(body, "note", 200) or _text(body, "by", 200)  # `by` from an older CLI: a note, not the approver
    wanted = "approved" if verb == "approve" else "denied"
    got = c.decide(ident, wanted, step, note, who)
    if got.approval is None:
        raise ApiError(404, f"no pending approval {ident}" + (f" for step {step}" if step else ""))
    if got.won:
        return 200, {"approval": got.approval.as_dict()}
    if got.approval.decision == wanted:  # idempotent: the same decision again, or a race it lost to its twin
        return 200, {"approval": got.approval.as_dict(), "note": "already decided"}
    a = got.approval  # another decision came first (a racing approve/deny, the TTL, a withdrawal): it stands
    raise ApiError(409, f"approval {a.id} was already {a.decision} by {a.by}")


def alerts(c: DaemonControl, body: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager's webhook (version 4): each firing alert names a host by its `host`, `hostname`, `instance`
    or `nodename` label; those hosts are probed at once. An alert never acts by itself."""
    items = body.get("alerts")
    if body.get("version") not in (None, "4") or not isinstance(items, list):
        raise ApiError(400, "not an Alertmanager webhook (version 4 with an alerts list)")
    known = c.hosts()
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
        c.probe_now(name)
    c.log("alerts", probed=sorted(set(probed)), unknown=sorted(set(unknown))[:20])
    return {"probing": sorted(set(probed)), "unknown": sorted(set(unknown))[:20]}

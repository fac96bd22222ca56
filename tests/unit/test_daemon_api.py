"""The daemon's HTTP API over its unix socket (remediator/daemon/api.py), against a stand-in daemon: approvals
bound and idempotent, host actions, Alertmanager, and bad input always a 4xx (a seeded fuzz of 1,200 requests:
0 5xx, nothing changed by a failed request)."""

from __future__ import annotations

import http.client
import json
import random
from pathlib import Path

from tests.unit.daemon_stand import ME, Served, StandIn


def _pending(d: StandIn) -> str:
    return d.store.request(incident="20261128T000000-abcdef", host="h1", step="stop", plan_sha256="a" * 64,
                           summary="would stop dockerd", changes=["SIGTERM dockerd"], ttl=3600).id


def test_socket_mode_and_health(served: Served) -> None:
    d, call = served.d, served.http
    assert (Path(d.settings.daemon.api_socket).stat().st_mode & 0o777) == 0o660
    assert call("GET", "/healthz")[0] == 200
    code, body = call("GET", "/metrics")
    assert code == 200 and b"remediator_incidents" in body


def test_approve_is_bound_and_idempotent_and_deny_is_final(served: Served) -> None:
    d, call = served.d, served.http
    aid = _pending(d)
    code, body = call("GET", "/v1/approvals")
    assert code == 200 and [a["id"] for a in body["approvals"]] == [aid]
    code, body = call("POST", f"/v1/approvals/{aid}/approve", json.dumps({"note": "alice: go"}).encode())
    assert code == 200 and body["approval"]["decision"] == "approved"
    assert body["approval"]["by"] == ME, "the approver is the peer's user (SO_PEERCRED), not what the body says"
    assert body["approval"]["note"] == "alice: go", "free text is only a note"
    code, body = call("POST", f"/v1/approvals/{aid}/approve", json.dumps({"by": "carol"}).encode())
    assert code == 200 and body["approval"]["note"] == "alice: go" and body["note"] == "already decided"  # idempotent
    code, body = call("POST", f"/v1/approvals/{aid}/deny", json.dumps({"by": "bob"}).encode())
    assert code == 409 and f"already approved by {ME}" in body["error"]  # a script must not believe it denied
    assert d.store.approval(aid).decision == "approved"  # type: ignore[union-attr]
    assert _pending(d) != aid, "the same plan asked again after a decision is a new request"
    newer = d.store.request(incident="20261128T000000-abcdef", host="h1", step="stop", plan_sha256="b" * 64,
                            summary="the plan changed", changes=[], ttl=3600).id
    assert [a.id for a in d.store.approvals()] == [newer], "asking again for a changed plan withdraws the old question"
    code, body = call("POST", "/v1/approvals/20261128T000000-abcdef/deny", json.dumps({"step": "stop"}).encode())
    assert code == 200 and body["approval"]["decision"] == "denied"


def test_host_actions_and_alerts(served: Served) -> None:
    d, call = served.d, served.http
    assert call("POST", "/v1/hosts/h1/pause", b'{"reason": "kernel upgrade"}')[1]["changed"] is True
    assert d.store.flags("h1") == (None, "kernel upgrade")
    assert call("POST", "/v1/hosts/h1/resume")[1]["changed"] is True
    d.store.set_flag("h2", "quarantined", "3 remediations")
    assert call("POST", "/v1/hosts/h2/release")[1]["changed"] is True and d.store.flags("h2") == (None, None)
    alert = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "DockerDown", "instance": "h2:9323"}},
        {"status": "resolved", "labels": {"host": "h1"}}, {"status": "firing", "labels": {"host": "elsewhere"}}]}
    code, body = call("POST", "/v1/alerts", json.dumps(alert).encode())
    assert code == 202 and body == {"probing": ["h2"], "unknown": ["elsewhere"]} and d.probed == ["h2"]


def test_a_release_or_a_resume_starts_a_new_refusal_episode(served: Served) -> None:
    """The same refusal reason is recorded once per episode; a release or a resume over the API ends the episode,
    so the next refusal is recorded (and counted) again."""
    board, call = served.d.board, served.http
    assert board.first_refusal("h2", "budget") and not board.first_refusal("h2", "budget")
    assert call("POST", "/v1/hosts/h2/release")[0] == 200
    assert board.first_refusal("h2", "budget"), "released: a new episode"
    assert board.first_refusal("h1", "paused") and not board.first_refusal("h1", "paused")
    assert call("POST", "/v1/hosts/h1/pause")[0] == 200 and not board.first_refusal("h1", "paused")
    assert call("POST", "/v1/hosts/h1/resume")[0] == 200
    assert board.first_refusal("h1", "paused"), "resumed: a new episode"


BAD: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/v1/approvals/nope/approve", b"{}", {}),
    ("POST", "/v1/approvals/x/approve", b"{not json", {}),
    ("POST", "/v1/approvals/x/approve", b"[1,2]", {}),
    ("POST", "/v1/approvals/x/approve", b'{"by": 5}', {}),
    ("POST", "/v1/approvals/x/approve", b'{"step": []}', {}),
    ("POST", "/v1/approvals/../approve", b"{}", {}),
    ("POST", "/v1/hosts/nobody/pause", b"{}", {}),
    ("POST", "/v1/hosts/h1/explode", b"{}", {}),
    ("POST", "/v1/hosts/h1/pause", b'{"reason": 7}', {}),
    ("POST", "/v1/alerts", b'{"version": "3"}', {}),
    ("POST", "/v1/alerts", b"x" * (70 << 10), {}),
    ("POST", "/v1/alerts", b"{}", {"Content-Length": "abc"}),
    ("GET", "/v1/nothing", None, {}),
    ("DELETE", "/v1/status", None, {}),
    ("PUT", "/v1/alerts", b"{}", {}),
    ("POST", "/v1/approvals/x/approve", b"[" * 100_000, {}),
]


def test_bad_requests_are_4xx_and_change_nothing(served: Served) -> None:
    d, call = served.d, served.http
    aid = _pending(d)
    for method, path, body, headers in BAD:
        code, _ = call(method, path, body, headers)
        assert 400 <= code < 500, (method, path, code)
    assert d.store.approval(aid).decision is None  # type: ignore[union-attr]
    assert d.store.flags("h1") == (None, None)


def test_a_seeded_fuzz_of_1200_requests_never_gets_a_5xx(served: Served) -> None:
    d, call = served.d, served.http
    aid = _pending(d)
    rng = random.Random(20261128)
    paths = ["/v1/approvals/{}/approve", "/v1/approvals/{}/deny", "/v1/hosts/{}/pause", "/v1/hosts/{}/release",
             "/v1/alerts", "/v1/status", "/healthz", "/v1/{}", "/{}"]
    junk = ["", "h1", "h2", "[/]", "%00", "..", "a" * 300, "%C3%BC", "h1/../h2", "null", "{}", "%F0%9F%98%80", "?x=1"]
    bodies: list[bytes] = [b"", b"{}", b"null", b"[]", b'{"by": ""}', b'{"by": "x", "step": 1}', b"\xff\xfe",
                           b'{"alerts": [1, "x", {"labels": 5}]}', b'{"version": "4", "alerts": {}}',
                           json.dumps({"by": "z" * 500}).encode(), b'{"reason": "' + b"r" * 400 + b'"}']
    codes: dict[int, int] = {}
    for _ in range(1200):
        path = rng.choice(paths).format(rng.choice(junk))
        method = rng.choice(["GET", "POST", "POST", "PUT", "DELETE"])
        body = rng.choice(bodies) if method != "GET" else None
        try:
            code, _ = call(method, path, body)
        except http.client.InvalidURL:
            continue  # the client refused to send it: nothing reached the daemon
        codes[code] = codes.get(code, 0) + 1
    assert not [c for c in codes if c >= 500], codes
    assert d.store.approval(aid).decision is None, "no fuzz request decided a real approval"  # type: ignore[union-attr]
    assert not [e for e, _ in d.logged if e == "api-error"]

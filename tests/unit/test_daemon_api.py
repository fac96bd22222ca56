"""The daemon's HTTP API over its unix socket (remediator/daemon/api.py), against a stand-in daemon: approvals
bound and idempotent, host actions, Alertmanager, and bad input always a 4xx (a seeded fuzz of 1,200 requests:
0 5xx, nothing changed by a failed request)."""

from __future__ import annotations

import http.client
import json
import os
import pwd
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.daemon.api import serve
from remediator.daemon.metrics import Metrics
from remediator.daemon.store import Store
from remediator.journal import Journal
from remediator.settings import Settings

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir



class StandIn:
    """What the API reads from a Daemon: settings, store, journal, metrics, log, probe_now."""

    def __init__(self, tmp: Path) -> None:
        self.settings = Settings.model_validate({"state_dir": str(tmp / "state"), "hosts": [{"name": "h1"}, {"name": "h2"}],
                                                 "daemon": {"api_socket": str(tmp / "api.sock")}})
        self.store = Store(tmp / "state")
        self.journal = Journal(tmp / "state")
        self.metrics = Metrics()
        self.last_refusal: dict[str, str] = {}
        self.stop = threading.Event()
        self.probed: list[str] = []
        self.logged: list[tuple[str, dict[str, Any]]] = []

    def log(self, event: str, **fields: Any) -> None:
        self.logged.append((event, fields))

    def probe_now(self, host: str) -> bool:
        self.probed.append(host)
        return True


class Conn(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.sock_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.sock_path)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[StandIn, Any]]:
    d = StandIn(tmp_path)
    servers = serve(d)  # type: ignore[arg-type]

    def call(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        c = Conn(d.settings.daemon.api_socket)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw

    try:
        yield d, call
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        d.store.db.close()
        d.journal.disconnect()


def _pending(d: StandIn) -> str:
    return d.store.request(incident="20261128T000000-abcdef", host="h1", step="stop", plan_sha256="a" * 64,
                           summary="would stop dockerd", changes=["SIGTERM dockerd"], ttl=3600).id


def test_socket_mode_and_health(api: tuple[StandIn, Any]) -> None:
    d, call = api
    assert (Path(d.settings.daemon.api_socket).stat().st_mode & 0o777) == 0o660
    assert call("GET", "/healthz")[0] == 200
    code, body = call("GET", "/metrics")
    assert code == 200 and b"remediator_incidents" in body


def test_approve_is_bound_and_idempotent_and_deny_is_final(api: tuple[StandIn, Any]) -> None:
    d, call = api
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


def test_host_actions_and_alerts(api: tuple[StandIn, Any]) -> None:
    d, call = api
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


def test_bad_requests_are_4xx_and_change_nothing(api: tuple[StandIn, Any]) -> None:
    d, call = api
    aid = _pending(d)
    for method, path, body, headers in BAD:
        code, _ = call(method, path, body, headers)
        assert 400 <= code < 500, (method, path, code)
    assert d.store.approval(aid).decision is None  # type: ignore[union-attr]
    assert d.store.flags("h1") == (None, None)


def test_a_seeded_fuzz_of_1200_requests_never_gets_a_5xx(api: tuple[StandIn, Any]) -> None:
    d, call = api
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

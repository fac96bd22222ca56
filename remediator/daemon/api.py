"""The daemon's local HTTP API: approvals from anywhere, status, health, metrics, Alertmanager.

Role: a unix socket (mode 0660: the group may approve) and, optionally, 127.0.0.1:PORT with a bearer token read
from a 0600 file; plus daemon.metrics_listen serving only /metrics and /healthz. Routes:
  GET  /healthz                      200 "ok" while the loop is alive
  GET  /metrics                      Prometheus text format
  GET  /v1/status                    the same object as `remediator status --json`
  GET  /v1/approvals                 pending approvals
  POST /v1/approvals/ID/approve      {"by": "..."} (ID: an approval id, or an incident id [+ "step"])
  POST /v1/approvals/ID/deny         {"by": "..."}
  POST /v1/hosts/NAME/release|pause|resume   quarantine release, pause, resume
  POST /v1/alerts                    Alertmanager webhook (version 4): probe the named hosts now
Bad input is a 4xx with {"error": "..."}: malformed JSON, an unknown id or host, a missing or wrong token, a
body over 64 KiB. Nothing is changed by a request that fails.
Must not: heal anything (it records decisions; the workers act on them).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import socketserver
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remediator.daemon.status import status_object
from remediator.safeio import open_regular

if TYPE_CHECKING:
    from remediator.daemon.core import Daemon

MAX_BODY = 64 << 10


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class UnixHTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_UNIX
    daemon_threads = True

    def server_bind(self) -> None:
        path = str(self.server_address)
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise OSError(f"{path} exists and is not a socket: refusing to replace it")
            os.unlink(path)
        socketserver.TCPServer.server_bind(self)
        os.chmod(path, 0o660)
        self.server_name, self.server_port = "localhost", 0


def read_token(path: str) -> str:
    with open_regular(path, follow=False) as fh:  # a secret: no symlink, no FIFO or device, bounded
        st = os.fstat(fh.fileno())
        if st.st_mode & 0o077:
            raise OSError(f"token file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}): chmod 600 it")
        token = fh.read(4096).decode("utf-8", "replace").strip()
    if len(token) < 16:
        raise OSError(f"token file {path} holds fewer than 16 characters")
    return token


def make_handler(d: Daemon, *, token: str | None, metrics_only: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "remediator"
        sys_version = ""
        timeout = 10  # a client that sends half a request does not hold a thread forever

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return  # requests are logged as JSON below, not to stderr

        def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            raw_len = self.headers.get("Content-Length", "0")
            if not raw_len.isdigit():
                raise ApiError(400, "Content-Length must be a number")
            n = int(raw_len)
            if n > MAX_BODY:
                self.rfile.read(min(n, 1 << 20))  # drained (bounded) so the client reads the 413, not a reset
                self.close_connection = True
                raise ApiError(413, f"body larger than {MAX_BODY} bytes")
            raw = self.rfile.read(n) if n else b""
            if not raw.strip():
                return {}
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise ApiError(400, f"malformed JSON: {str(exc)[:100]}") from None
            if not isinstance(body, dict):
                raise ApiError(400, "the body must be a JSON object")
            return body

        def _auth(self) -> None:
            if token is None:
                return  # the unix socket: its mode (0660) is the access control
            got = self.headers.get("Authorization", "")
            if not got.startswith("Bearer "):
                raise ApiError(401, "missing bearer token")
            if not hmac.compare_digest(got[7:].strip().encode(), token.encode()):
                raise ApiError(403, "wrong token")

        def _dispatch(self, method: str) -> None:
            try:
                payload = self._body()  # read first, whatever the method: an early answer must not reset the client
                self._auth()
                path = self.path.split("?", 1)[0]
                code, body = route(d, method, path, payload if method == "POST" else {}, metrics_only)
                if isinstance(body, bytes):
                    self._send(code, body, "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self._send(code, body)
            except ApiError as exc:
                self._send(exc.code, {"error": str(exc)})
            except OSError:
                self.close_connection = True  # the client went away, or was too slow: nothing to answer
            except Exception as exc:  # noqa: BLE001 - a bug: answer 500 and log it; the daemon goes on
                d.log("api-error", level="error", path=self.path[:200], error=f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(OSError):
                    self._send(500, {"error": "internal error (logged)"})

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_PUT(self) -> None:  # noqa: N802 - every other method: a 405, never the stdlib's 501
            self._dispatch("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_HEAD(self) -> None:  # noqa: N802
            self._dispatch("HEAD")

        def do_OPTIONS(self) -> None:  # noqa: N802
            self._dispatch("OPTIONS")

    return Handler


def _name(part: str, what: str) -> str:
    if not part or len(part) > 128 or not all(c.isalnum() or c in "-_." for c in part):
        raise ApiError(400, f"malformed {what}")
    return part


def route(d: Daemon, method: str, path: str, body: dict[str, Any], metrics_only: bool) -> tuple[int, Any]:
    parts = [p for p in path.split("/") if p]
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
    if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "approvals"] and parts[3] in ("approve", "deny"):
        ident = _name(parts[2], "approval or incident id")
        step = body.get("step")
        if step is not None and not isinstance(step, str):
            raise ApiError(400, "step must be a string")
        by = body.get("by", "api")
        if not isinstance(by, str) or not by or len(by) > 100:
            raise ApiError(400, "by must be a non-empty string of at most 100 characters")
        pending = d.store.find_pending(ident, step)
        decision = "approved" if parts[3] == "approve" else "denied"
        if not pending:
            decided = d.store.approval(ident)
            if decided is not None and decided.decision == decision:  # idempotent: the same decision again
                return 200, {"approval": decided.as_dict(), "note": "already decided"}
            if decided is not None:
                raise ApiError(409, f"approval {ident} was already {decided.decision} by {decided.by}")
            raise ApiError(404, f"no pending approval {ident!r}" + (f" for step {step!r}" if step else ""))
        out = [d.store.decide(a.id, decision, by) for a in pending[:1]]
        d.log("approval-decided", approval=pending[0].id, incident=pending[0].incident, step=pending[0].step,
              decision=decision, by=by)
        return 200, {"approval": out[0].as_dict() if out[0] else None}
    if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "hosts"]:
        host = _name(parts[2], "host name")
        if host not in {h.name for h in d.settings.hosts}:
            raise ApiError(404, f"no host {host!r} in the config")
        verb = parts[3]
        reason = body.get("reason", "by the API")
        if not isinstance(reason, str) or len(reason) > 300:
            raise ApiError(400, "reason must be a string of at most 300 characters")
        if verb == "release":
            changed = d.store.set_flag(host, "quarantined", None)
            d.last_refusal.pop(host, None)
        elif verb == "pause":
            changed = d.store.set_flag(host, "paused", reason or "paused")
        elif verb == "resume":
            changed = d.store.set_flag(host, "paused", None)
            d.last_refusal.pop(host, None)
        else:
            raise ApiError(404, f"unknown host action {verb!r}")
        d.log("host-" + verb, host=host, changed=changed)
        return 200, {"host": host, "action": verb, "changed": changed}
    if method == "POST" and parts == ["v1", "alerts"]:
        if d.stop.is_set():
            raise ApiError(503, "the daemon is stopping")
        return 202, alerts(d, body)
    raise ApiError(404 if method in ("GET", "POST") else 405, f"no route {method} {path[:100]}")


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
                (probed if name in known else unknown).append(name)
                break
    for name in set(probed):
        d.probe_now(name)
    d.log("alerts", probed=sorted(set(probed)), unknown=sorted(set(unknown))[:20])
    return {"probing": sorted(set(probed)), "unknown": sorted(set(unknown))[:20]}


def serve(d: Daemon) -> list[ThreadingHTTPServer]:
    """Start the API socket, the optional loopback API and the metrics listener, each in its own thread."""
    cfg = d.settings.daemon
    servers: list[ThreadingHTTPServer] = [UnixHTTPServer(cfg.api_socket, make_handler(d, token=None, metrics_only=False))]  # type: ignore[arg-type]
    if cfg.api_listen and cfg.token_file:
        host, port = cfg.api_listen.rsplit(":", 1)
        servers.append(ThreadingHTTPServer((host, int(port)),
                                           make_handler(d, token=read_token(cfg.token_file), metrics_only=False)))
    if cfg.metrics_listen:
        host, port = cfg.metrics_listen.rsplit(":", 1)
        servers.append(ThreadingHTTPServer((host.strip("[]"), int(port)),
                                           make_handler(d, token=None, metrics_only=True)))
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, name=f"http-{type(s).__name__}", daemon=True).start()
    return servers

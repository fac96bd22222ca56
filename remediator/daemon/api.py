"""The daemon's local HTTP API: approvals from anywhere, status, health, metrics, Alertmanager.

Role: a unix socket (mode 0660: the group may approve) and, optionally, 127.0.0.1:PORT with a bearer token read
from a file owned by root (or the daemon's user) that no group or other may read or write; plus
daemon.metrics_listen serving only /metrics and /healthz. Routes (daemon.routes):
  GET  /healthz                      200 while the loop is alive
  GET  /metrics                      Prometheus text format
  GET  /v1/status                    the same object as `remediator status --json`
  GET  /v1/approvals                 pending approvals
  POST /v1/approvals/ID/approve      {"note": "..."} (ID: an approval id, or an incident id [+ "step"])
  POST /v1/approvals/ID/deny         {"note": "..."}
  POST /v1/hosts/NAME/release|pause|resume   quarantine release, pause, resume
  POST /v1/alerts                    Alertmanager webhook (version 4): probe the named hosts now
Transport limits (daemon.server): bounded connections, one deadline per exchange, a per-client cap.
Here, in this order: the headers are parsed (bounded), Content-Length is checked (digits only, at most 9; over
64 KiB: 413), the token is checked (over TCP) before a byte of the body is read, then the body, then the route.
Every answer is JSON, errors included ({"error": "..."}); any method but GET and POST is a 405. Nothing is
changed by a request that fails.
Must not: heal anything (it records decisions; the workers act on them).
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import os
import socket
import stat
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import BaseServer
from typing import Any

from remediator.daemon.control import DaemonControl
from remediator.daemon.routes import ApiError, route
from remediator.daemon.server import Bounded, Capped, Limits, TCPServer, UnixServer
from remediator.errors import InputError
from remediator.outputs import dumps
from remediator.safeio import open_regular
from remediator.settings import DaemonConfig

MAX_BODY = 64 << 10
LIMITS = Limits()
METRICS_LIMITS = Limits(connections=16, per_client=8)


def read_token(path: str) -> tuple[str, str]:
    """(the token's name, the token) from `path`; InputError (exit 2 at start) unless it is a regular file owned
    by root or this user that no group or other may read or write, holding at least 16 characters."""
    try:
        fh = open_regular(path, follow=False)  # a secret: no symlink, no FIFO or device (remediator/safeio.py)
    except OSError as exc:
        raise InputError(f"daemon.token_file {path}: cannot open: {exc.strerror or exc}") from None
    with fh:
        st = os.fstat(fh.fileno())
        if st.st_uid not in (0, os.geteuid()):
            raise InputError(f"daemon.token_file {path}: owned by uid {st.st_uid}, not by root or this daemon's "
                             "user: refused (whoever owns it can change the token)")
        if st.st_mode & 0o077:
            raise InputError(f"daemon.token_file {path}: mode {stat.S_IMODE(st.st_mode):o} lets the group or others "
                             "in: refused (chmod 600 it)")
        raw = fh.read(4097)
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InputError(f"daemon.token_file {path}: not ASCII text") from None
    if len(raw) > 4096 or len(token) < 16 or not token.isprintable() or any(c.isspace() for c in token):
        raise InputError(f"daemon.token_file {path}: must hold one token of 16 to 4096 printable characters")
    return f"token {Path(path).name}", token


class Handler(BaseHTTPRequestHandler):
    """One exchange per connection (HTTP/1.0). Subclassed per listener with its token and scope."""

    server_version = "remediator"
    sys_version = ""
    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"  # an unparsable request still gets a status line (not HTTP/0.9's none)
    control: DaemonControl
    token: tuple[str, str] | None = None  # (name, secret): the TCP listener's
    metrics_only = False
    limits = LIMITS

    def setup(self) -> None:
        super().setup()
        self.rfile = io.BufferedReader(Capped(self.connection, self.limits.max_bytes))

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # every method reaches _dispatch: a 405 with a JSON body, never a 501
            return lambda: self._dispatch(name[3:])
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return  # never stderr: the daemon's log is JSON lines, and a peer must not be able to write into it

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own errors (a malformed request line, headers too long...) as JSON 4xx too."""
        if code >= 500:
            code, message = 400, message or "unsupported request"
        with contextlib.suppress(OSError):
            self._send(code, {"error": str(message or explain or code)[:200]})
        self.close_connection = True

    def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (dumps(body, default=str) + "\n").encode()  # redacted (outputs.py)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if code == 405:
            self.send_header("Allow", "GET, POST")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _length(self) -> int:
        if self.headers.get("Transfer-Encoding") is not None:
            raise ApiError(400, "Transfer-Encoding is not accepted: send a Content-Length")
        values = self.headers.get_all("Content-Length") or []
        if len(values) > 1:
            raise ApiError(400, "more than one Content-Length")
        raw = values[0].strip() if values else "0"
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise ApiError(400, "Content-Length must be a number of at most 9 digits")
        n = int(raw)
        if n > MAX_BODY:
            raise ApiError(413, f"body larger than {MAX_BODY} bytes")
        return n

    def _auth(self) -> str:
        """Who asks: the token's name over TCP (checked here, before the body), the peer's user on the socket."""
        if self.token is None:
            peer = self.server.peer(self.request) if isinstance(self.server, Bounded) else None
            return str(peer.user) if peer is not None and peer.user else "unknown peer"
        got = self.headers.get("Authorization", "")
        if not got.startswith("Bearer "):
            raise ApiError(401, "missing bearer token")
        if not hmac.compare_digest(got[7:].strip().encode(), self.token[1].encode()):
            raise ApiError(403, "wrong token")
        return self.token[0]

    def _body(self, n: int) -> dict[str, Any]:
        raw = self.rfile.read(n) if n else b""
        if len(raw) < n:
            raise OSError("the peer sent less than its Content-Length")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"malformed JSON: {str(exc)[:100]}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    def _linger(self) -> None:
        """After an early answer: stop sending, then read (and drop) what the peer still sends, bounded by the
        deadline and Limits.max_bytes, so it reads our answer rather than a connection reset."""
        with contextlib.suppress(OSError, ValueError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            while self.rfile.read1(16384):
                pass

    def _dispatch(self, method: str) -> None:
        self.close_connection = True
        try:
            n = self._length()
            who = self._auth()
            payload = self._body(n) if method == "POST" else {}
            code, body = route(self.control, method, self.path, payload, self.metrics_only, who)
            if isinstance(body, bytes):
                self._send(code, body, "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._send(code, body)
            if n and method != "POST":
                self._linger()  # a body nobody reads: dropped after the answer, not left to reset it
            return
        except ApiError as exc:
            self._send(exc.code, {"error": str(exc)})
        except InputError as exc:
            self._send(400, {"error": str(exc)})
        except OSError:
            return  # the client went away, or was too slow: nothing to answer
        except Exception as exc:  # noqa: BLE001 - a bug: answer 500 and log it in one line; the daemon goes on
            self.control.log("api-error", level="error", path=self.path[:200],
                            error=f"{type(exc).__name__}: {str(exc)[:200]}")
            with contextlib.suppress(OSError):
                self._send(500, {"error": "internal error (logged)"})
        self._linger()


def make_handler(c: DaemonControl, *, token: tuple[str, str] | None, metrics_only: bool) -> type[Handler]:
    return type("ApiHandler", (Handler,), {"control": c, "token": token, "metrics_only": metrics_only,
                                           "limits": METRICS_LIMITS if metrics_only else LIMITS})


def serve(c: DaemonControl, cfg: DaemonConfig) -> list[BaseServer]:
    """Start the API socket, the optional loopback API and the metrics listener, each in its own thread. The
    token file is read first: a bad one is refused (InputError, exit 2) before anything listens."""
    import threading

    token = read_token(cfg.token_file) if cfg.api_listen and cfg.token_file else None
    servers: list[BaseServer] = [UnixServer(cfg.api_socket, make_handler(c, token=None, metrics_only=False),
                                            limits=LIMITS, log=c.log)]
    try:
        if cfg.api_listen and token:
            host, port = cfg.api_listen.rsplit(":", 1)
            servers.append(TCPServer((host.strip("[]"), int(port)), make_handler(c, token=token, metrics_only=False),
                                     limits=LIMITS, log=c.log))
        if cfg.metrics_listen:
            host, port = cfg.metrics_listen.rsplit(":", 1)
            servers.append(TCPServer((host.strip("[]"), int(port)), make_handler(c, token=None, metrics_only=True),
                                     limits=METRICS_LIMITS, log=c.log))
    except BaseException:
        for s in servers:
            s.server_close()
        raise
    for s in servers:
        threading.Thread(target=s.serve_forever, name=f"http-{type(s).__name__}", daemon=True).start()
    return servers

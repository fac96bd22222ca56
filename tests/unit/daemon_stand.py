"""One stand-in daemon behind the real API, for the tests of the API (test_daemon_api*.py, test_daemon_authority.py).

`StandIn` is the daemon's real control surface (daemon.control.Control over a real store, journal, metrics and
board) with a probe that only records the host and a log that keeps what it is given; `Served` serves it on a
unix socket (and the loopback API when the settings say so). The fixture `served` (tests/conftest.py) is one
`Served` in a short socket directory, closed afterwards even when the test fails.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import socket
import threading
from pathlib import Path
from typing import Any

from remediator.daemon import client
from remediator.daemon.api import serve
from remediator.daemon.board import Board
from remediator.daemon.control import Control
from remediator.daemon.metrics import Metrics
from remediator.daemon.notify import Notifier
from remediator.daemon.shared import Shared
from remediator.daemon.store import Store
from remediator.journal import Journal
from remediator.settings import Settings

ME = pwd.getpwuid(os.getuid()).pw_name
INCIDENT = "20261128T000000-abcdef"


class StandIn:
    """The daemon as the API sees it: its real Control, with probe_now and the log recorded instead of acted on."""

    def __init__(self, tmp: Path, settings: dict[str, Any] | None = None) -> None:
        config = {"state_dir": str(tmp / "state"), "hosts": [{"name": "h1"}, {"name": "h2"}],
                  "daemon": {"api_socket": str(tmp / "api.sock")}}
        self.settings = Settings.model_validate({**config, **(settings or {})})
        self.store = Store(tmp / "state")
        self.journal = Journal(tmp / "state")
        self.board = Board()
        self.stop = threading.Event()
        self.probed: list[str] = []
        self.logged: list[tuple[str, dict[str, Any]]] = []
        shared = Shared(self.settings, self.store, self.journal, Metrics(), self.board, Notifier([], self.log),
                        self.log, self.stop)
        self.control = Control(shared, self.probe_now)

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


class Served:
    def __init__(self, tmp: Path, settings: dict[str, Any] | None = None) -> None:
        self.d = StandIn(tmp, settings)
        self.sock = self.d.settings.daemon.api_socket
        self.cfg = tmp / "config.yaml"
        self.cfg.write_text(f"state_dir: {tmp / 'state'}\ndaemon: {{api_socket: {self.sock}}}\n"
                            "hosts:\n  - name: h1\n  - name: h2\n")
        self.servers = serve(self.d.control, self.d.settings.daemon)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Through the CLI's own client (a JSON body, a JSON answer)."""
        return client.exchange(self.sock, method, path, body, deadline=10)

    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Through http.client: any bytes as the body, any headers; the answer's JSON, or its bytes."""
        c = Conn(self.sock)
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

    def raw(self, data: bytes, address: Any = None, timeout: float = 10) -> bytes:
        fam = socket.AF_UNIX if address is None else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(address or self.sock)
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    def pending(self, plan: str = "a") -> str:
        return self.d.store.request(incident=INCIDENT, host="h1", step="stop", plan_sha256=plan * 64,
                                    summary="would stop dockerd", changes=["SIGTERM dockerd"], ttl=3600).id

    def close(self) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.d.store.db.close()
        self.d.journal.disconnect()

"""Webhooks (generic JSON and Slack-compatible), sd_notify, and SIGHUP's reload keeping the old config on error."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from remediator.daemon.core import Daemon
from remediator.daemon.notify import Notifier, sd_notify, watchdog_interval
from remediator.settings import Webhook, load_settings


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir



def test_webhooks_post_json_and_slack_and_a_dead_receiver_is_only_logged() -> None:
    got: list[tuple[str, Any]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            return

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    logged: list[tuple[str, dict[str, Any]]] = []
    n = Notifier([Webhook(url=f"http://127.0.0.1:{port}/generic"), Webhook(url=f"http://127.0.0.1:{port}/slack", format="slack"),
                  Webhook(url="http://127.0.0.1:1/dead", timeout=1)], lambda e, **f: logged.append((e, f)))
    n.send("outcome", host="h1", incident="i-1", outcome="recovered", summary="recovered: dockerd answers")
    n.close()
    srv.shutdown()
    srv.server_close()
    assert ("/generic", {"event": "outcome", "host": "h1", "incident": "i-1", "outcome": "recovered",
                         "summary": "recovered: dockerd answers"}) in got
    slack = next(b for p, b in got if p == "/slack")
    assert slack == {"text": "remediator: outcome on h1 — recovered: dockerd answers (incident i-1)"}
    assert [e for e, _ in logged] == ["webhook-failed"]


def test_sd_notify_sends_to_the_socket_systemd_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert sd_notify("READY=1")
        assert s.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sd_notify("READY=1")
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None


def test_a_bad_config_on_sighup_keeps_the_old_one(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    head = f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'api.sock'}}}\n"  # not the machine's
    cfg.write_text(f"{head}hosts:\n  - name: a\n")  # /run/remediator (its lock is one per machine)
    logged: list[tuple[str, dict[str, Any]]] = []
    d = Daemon(cfg, load_settings(cfg), log=lambda e, **f: logged.append((e, f)))
    try:
        cfg.write_text(f"{head}hosts:\n  - name: a\n    polcy: auto\n")
        d._reload()
        assert [h.name for h in d.settings.hosts] == ["a"] and logged[-1][0] == "reload-failed"
        assert f"{cfg}:5:5: hosts[0].polcy" in str(logged[-1][1]["error"])
        cfg.write_text(f"{head}hosts:\n  - name: a\n  - name: b\n")
        d._reload()
        assert [h.name for h in d.settings.hosts] == ["a", "b"] and logged[-1][0] == "reloaded"
    finally:
        d.pool.shutdown()
        d.journal.disconnect()


def test_a_receiver_answering_garbage_does_not_kill_the_sender() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def garbage() -> None:
        for _ in range(2):
            conn, _addr = srv.accept()
            conn.recv(65536)
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            conn.close()

    t = threading.Thread(target=garbage, daemon=True)
    t.start()
    logged: list[str] = []
    n = Notifier([Webhook(url=f"http://127.0.0.1:{port}/x", timeout=5)], lambda e, **f: logged.append(e))
    n.send("outcome", host="h1")
    n.send("outcome", host="h2")  # still sent: the thread survived the first one
    n.close()
    t.join(timeout=10)
    srv.close()
    assert logged == ["webhook-failed", "webhook-failed"] and not t.is_alive()

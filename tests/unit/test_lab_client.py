"""remediator.lab.client: the API client's failures, the process-group stop, socket removal, the progress lines;
and `demo --yes` without `--daemon` refused as bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from remediator.lab.client import Api, ApiUnreachable, DemoFailed, describe, remove_sockets, stop_group
from tests.conftest import cli


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir


class _Unix(ThreadingHTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", 0


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        return

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        code, body = (200, {"ok": True}) if self.path == "/healthz" else (404, {"error": f"no route {self.path}"})
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api_sock(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "api.sock")
    server = _Unix(path, _Handler)  # type: ignore[arg-type]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()


def test_the_client_reads_an_answer_and_names_a_4xx(api_sock: str) -> None:
    assert Api(api_sock).call("GET", "/healthz") == {"ok": True}
    with pytest.raises(DemoFailed, match=r"GET /nope with 404: no route /nope") as info:
        Api(api_sock).call("GET", "/nope")
    assert not isinstance(info.value, ApiUnreachable)


def test_no_daemon_on_the_socket_is_unreachable_and_names_the_socket(tmp_path: Path) -> None:
    with pytest.raises(ApiUnreachable, match=str(tmp_path / "none.sock")):
        Api(str(tmp_path / "none.sock")).call("GET", "/v1/status", timeout=1)


def test_a_listener_that_never_answers_is_unreachable_within_the_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "mute.sock")
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(path)
        mute.listen(1)
        with pytest.raises(ApiUnreachable, match="timed out"):
            Api(path).call("GET", "/v1/status", timeout=0.5)


def test_stop_group_terms_then_kills_only_the_group_it_was_given() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert stop_group(polite, 10) == -signal.SIGTERM
    deaf = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, "
                             "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
                            start_new_session=True, stdout=subprocess.PIPE)
    assert deaf.stdout is not None and deaf.stdout.readline() == b"ready\n"
    assert stop_group(deaf, 0.5) == -signal.SIGKILL
    deaf.stdout.close()
    assert stop_group(deaf, 0.5) == -signal.SIGKILL, "a group already gone: its exit status, nothing signalled"


def test_remove_sockets_removes_sockets_below_the_root_and_never_follows_a_symlink(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    socks = []
    for p in (root / "api.sock", root / "a" / "b" / "docker.sock", outside / "other.sock"):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        socks.append(s)
    (root / "a" / "file.txt").write_text("x")
    os.symlink(outside, root / "link")
    try:
        assert remove_sockets(root) == 2
    finally:
        for s in socks:
            s.close()
    assert not (root / "api.sock").exists() and not (root / "a" / "b" / "docker.sock").exists()
    assert (outside / "other.sock").exists() and (root / "a" / "file.txt").read_text() == "x"


def test_progress_lines_tell_the_story_and_skip_the_noise() -> None:
    assert describe({"event": "verdict", "verdict": "containerd-state", "confidence": "high",
                     "runbook": "docker-libcontainerd"}) == "verdict containerd-state (high) → runbook docker-libcontainerd"
    assert describe({"event": "step", "kind": "ok", "step": "stop", "text": "dockerd stopped"}).split() == \
        ["stop", "ok:", "dockerd", "stopped"]
    assert describe({"event": "outcome", "outcome": "recovered", "summary": "s"}) == "outcome recovered: s"
    assert describe({"event": "step", "kind": "facts", "step": None, "text": "x"}) == ""
    assert describe({"event": "started"}) == ""


def test_demo_yes_without_daemon_is_bad_input() -> None:
    res = cli("demo", "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--yes: only with --daemon" in res.stderr and "Traceback" not in res.stderr

"""The API under hostile transport (issue 14 points 3 and 9): methods and lengths the server does not serve,
a token checked before the body, slow and greedy peers, hang-ups, a bad token file, and a CLI client facing a
slow or malformed answer. Against the stand-in daemon of test_daemon_api (real sockets, real store)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from remediator.cli import main
from remediator.daemon import api as api_mod
from remediator.daemon import client
from remediator.daemon.api import read_token
from remediator.daemon.server import Limits
from remediator.errors import InputError
from tests.unit.daemon_stand import Served


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir

SERVED_NOT = ["TRACE", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO", "CONNECT"]


@pytest.mark.parametrize("method", SERVED_NOT)
def test_every_method_not_served_is_a_405_with_a_json_body(served: Served, method: str) -> None:
    code, body = served.call(method, "/v1/status")
    assert code == 405 and "not allowed" in body["error"]
    answer = served.raw(f"{method} /v1/approvals/abc/approve HTTP/1.0\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.0 405") and b"Allow: GET, POST" in answer


@pytest.mark.parametrize(("headers", "want"), [
    ("Content-Length: " + "9" * 5000, 400),
    ("Content-Length: 1234567890", 400),
    ("Content-Length: -1", 400),
    ("Content-Length: \u0663", 400),  # an Arabic-Indic digit: str.isdigit() says yes, int() would accept it
    ("Content-Length: 5\r\nContent-Length: 6", 400),
    ("Transfer-Encoding: chunked", 400),
    ("Content-Length: 200000", 413),
])
def test_content_length_is_validated(served: Served, headers: str, want: int) -> None:
    aid = served.pending()
    answer = served.raw(f"POST /v1/approvals/{aid}/approve HTTP/1.0\r\n{headers}\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(want).encode(), answer[:200]
    assert "error" in json.loads(body)
    assert served.d.store.approval(aid).decision is None  # type: ignore[union-attr]


def test_the_stdlibs_own_errors_are_json_4xx_too(served: Served) -> None:
    for data in (b"GET /v1/status HTTP/2.0\r\n\r\n", b"GET " + b"a" * 70000 + b" HTTP/1.0\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"GET /v1/status HTTP/1.0\r\nX: " + b"y" * 70000 + b"\r\n\r\n"):
        answer = served.raw(data)
        code = int(answer.split(b" ")[1])
        assert 400 <= code < 500, answer[:200]
        assert "error" in json.loads(answer.partition(b"\r\n\r\n")[2])



def _tcp_served(tmp_path: Path) -> tuple[Served, int]:
    """A daemon API on the unix socket and on a free loopback port, behind a 0600 token file."""
    token = tmp_path / "token"
    token.write_text("s3cret-token-of-enough-length\n")
    token.chmod(0o600)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return Served(tmp_path, {"daemon": {"api_socket": str(tmp_path / "api.sock"), "api_listen": f"127.0.0.1:{port}",
                                        "token_file": str(token)}}), port

def test_the_token_is_checked_before_the_body_is_read(tmp_path: Path) -> None:
    """A peer without the token announces a body and never sends it: the answer is a 401 at once, not a wait."""
    s, port = _tcp_served(tmp_path)
    try:
        t0 = time.monotonic()
        answer = s.raw(b"POST /v1/alerts HTTP/1.0\r\nContent-Length: 60000\r\n\r\n", ("127.0.0.1", port), timeout=5)
        assert answer.startswith(b"HTTP/1.0 401") and time.monotonic() - t0 < 3, answer[:100]
        answer = s.raw(b"POST /v1/hosts/h1/pause HTTP/1.0\r\nAuthorization: Bearer nope\r\nContent-Length: 2\r\n\r\n{}",
                       ("127.0.0.1", port))
        assert answer.startswith(b"HTTP/1.0 403") and s.d.store.flags("h1") == (None, None)
        answer = s.raw(b"POST /v1/hosts/h1/pause HTTP/1.0\r\nAuthorization: Bearer s3cret-token-of-enough-length\r\n"
                       b"Content-Length: 2\r\n\r\n{}", ("127.0.0.1", port))
        assert answer.startswith(b"HTTP/1.0 200") and s.d.store.flags("h1")[1] == "by the API"
        assert ("host-pause", {"host": "h1", "changed": True, "by": "token token"}) in s.d.logged
    finally:
        s.close()


def test_a_token_file_others_may_read_or_own_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-of-enough-length\n")
    token.chmod(0o640)
    with pytest.raises(InputError, match="mode 640 lets the group or others in"):
        read_token(str(token))
    token.chmod(0o600)
    assert read_token(str(token)) == ("token token", "s3cret-token-of-enough-length")
    os.chown(token, 65534, 65534)
    with pytest.raises(InputError, match="owned by uid 65534"):
        read_token(str(token))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(InputError, match="not a regular file"):
        read_token(str(fifo))  # refused at once, never a hang
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="cannot open"):
        read_token(str(link))


def test_a_drip_feeding_peer_is_cut_at_the_deadline_and_others_are_answered(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_mod, "LIMITS", Limits(connections=8, per_client=4, deadline=1.5))
    s = Served(tmp_path)
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        slow.connect(s.sock)
        t0 = time.monotonic()
        cut = None
        for ch in b"GET /v1/status HTTP/1.0\r\n":  # a byte every 0.2 s: each byte would reset a per-recv timeout
            try:
                slow.send(bytes([ch]))
            except OSError:
                cut = time.monotonic() - t0
                break
            if ch == ord("v"):
                assert s.call("GET", "/healthz")[0] == 200, "another peer is answered meanwhile"
            time.sleep(0.2)  # the attack's own pace, not a synchronisation
        if cut is None:
            slow.settimeout(5)
            assert slow.recv(100) == b""
            cut = time.monotonic() - t0
        assert cut < 4, f"cut after {cut:.1f}s (deadline 1.5s)"
    finally:
        slow.close()
        s.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="a socket owned by another user needs root to make")
def test_local_users_over_loopback_tcp_are_counted_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over loopback TCP every local user is 127.0.0.1: the per-client cap counts the owner of the peer's socket
    (daemon.peers, sock_diag) instead, so one user holding its whole share leaves another's untouched."""
    from remediator.daemon.peers import tcp_owner

    monkeypatch.setattr(api_mod, "LIMITS", Limits(connections=8, per_client=2, deadline=10))
    s, port = _tcp_served(tmp_path)
    os.seteuid(65534)  # sockets are owned by who creates them: these three are nobody's
    try:
        theirs = [socket.socket() for _ in range(3)]
    finally:
        os.seteuid(0)
    try:
        for c in theirs[:2]:
            c.settimeout(5)
            c.connect(("127.0.0.1", port))
        assert tcp_owner(theirs[0].getsockname(), theirs[0].getpeername()) == 65534
        deadline = time.monotonic() + 5
        while s.servers[1].active() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        theirs[2].settimeout(5)
        theirs[2].connect(("127.0.0.1", port))
        assert theirs[2].recv(1000).startswith(b"HTTP/1.0 503"), "nobody's third connection is over its share"
        mine = s.raw(b"GET /v1/status HTTP/1.0\r\n\r\n", ("127.0.0.1", port))
        assert mine.startswith(b"HTTP/1.0 401"), "root's share is its own: served (and asked for the token)"
    finally:
        for c in theirs:
            c.close()
        s.close()


def test_one_peer_holds_at_most_its_share_and_a_hang_up_leaves_no_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(api_mod, "LIMITS", Limits(connections=8, per_client=3, deadline=3))
    s = Served(tmp_path)
    idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(3)]
    try:
        for c in idle:
            c.connect(s.sock)
        deadline = time.monotonic() + 5
        while s.servers[0].active() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as fourth:  # answered at once, before it asks
            fourth.settimeout(5)
            fourth.connect(s.sock)
            answer = fourth.recv(1000)
        assert answer.startswith(b"HTTP/1.0 503") and b"too many connections" in answer
        for c in idle:
            c.close()
        while s.servers[0].active() and time.monotonic() < deadline + 5:
            time.sleep(0.02)
        assert s.call("GET", "/healthz")[0] == 200, "the share is given back when its connections end"
        for _ in range(50):  # clients that hang up before reading the answer (an error answer, a big one)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.connect(s.sock)
                # over the share, the server answers 503 and closes before this is sent: that is a hang-up too
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    c.sendall(b"POST /v1/approvals/nope/approve HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}")
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        deadline = time.monotonic() + 10  # the hung-up ones still queued are served (and dropped) first
        while True:
            with contextlib.suppress(client.Unreachable):  # still over the share: a 503, or reset before it is read
                if s.call("GET", "/healthz")[0] == 200:
                    break
            assert time.monotonic() < deadline, "the API never answered 200 again after the hang-ups"
            time.sleep(0.05)
    finally:
        for c in idle:
            c.close()
        s.close()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert not [e for e, _ in s.d.logged if e == "api-error"]


class _Liar:
    """A socket that answers whatever it is given, slowly or not at all (the CLI's side of item 9)."""

    def __init__(self, path: Path, answer: bytes, pace: float = 0.0) -> None:
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(4)
        self.answer, self.pace = answer, pace
        self.done = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self) -> None:
        conn, _ = self.srv.accept()
        with conn:
            conn.recv(65536)
            for i in range(len(self.answer)):
                if self.done.is_set():
                    return
                try:
                    conn.send(self.answer[i:i + 1] if self.pace else self.answer[i:])
                except OSError:
                    return
                if not self.pace:
                    return
                self.done.wait(self.pace)

    def close(self) -> None:
        self.done.set()
        self.srv.close()
        self.t.join(5)


@pytest.mark.parametrize(("answer", "pace", "exc"), [
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}" + b" " * 100, 0.3, client.Unreachable),  # drip-fed
    (b"SSH-2.0-OpenSSH_9.2\r\n", 0.0, client.Malformed),
    (b"HTTP/1.0 200 OK\r\n\r\n<html>", 0.0, client.Malformed),
    (b"HTTP/1.0 200 OK\r\n\r\n[1, 2]", 0.0, client.Malformed),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 99\r\n\r\n{}", 0.0, client.Malformed),
    (b"HTTP/1.0 2000 OK\r\n\r\n{}", 0.0, client.Malformed),
    (b"", 0.0, client.Malformed),
])
def test_the_cli_client_has_one_deadline_and_refuses_a_malformed_answer(tmp_path: Path, answer: bytes, pace: float,
                                                                         exc: type[Exception]) -> None:
    liar = _Liar(tmp_path / "api.sock", answer, pace)
    try:
        t0 = time.monotonic()
        with pytest.raises(exc):
            client.exchange(str(tmp_path / "api.sock"), "GET", "/v1/approvals", deadline=1.5)
        assert time.monotonic() - t0 < 3
    finally:
        liar.close()


def test_the_cli_says_so_without_a_traceback(tmp_path: Path) -> None:
    liar = _Liar(tmp_path / "api.sock", b"HTTP/1.0 200 OK\r\n\r\nnot json")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'api.sock'}}}\nhosts:\n  - name: h1\n")
    try:
        res = CliRunner().invoke(main, ["approvals", "--config", str(cfg)])
    finally:
        liar.close()
    assert res.exit_code == 8 and "answered, but not as the daemon's API" in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)

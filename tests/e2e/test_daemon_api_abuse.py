"""End-to-end: a real `remediator daemon` process under abuse of its API (issue 14 point 3, issue 15).

No dockerd is needed: the one host is a stand-in Docker API socket that answers /_ping "OK", so every round
finds it healthy and nothing is diagnosed or changed. The daemon runs as a subprocess in its own session with
systemd's default of 1,024 open files; the attacker is a separate process running as `nobody`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediator.daemon import client
from remediator.lab import wait_for
from tests.conftest import REPO, cli, track

ATTACKER = r"""
import json, os, resource, socket, sys, time
port, n, pace, stats = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))
line = b"GET /v1/status HTTP/1.0\r\n"
socks, opened, reopened, refused = {}, 0, 0, 0
def open_one(i):
    global opened, refused
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    except OSError:
        refused += 1
    socks[i] = [s, 0]
    opened += 1
for i in range(n):
    open_one(i)
last = 0.0
while True:
    t0 = time.monotonic()
    for i in range(n):
        s, k = socks[i]
        try:
            s.send(line[k % len(line):k % len(line) + 1])  # one byte per connection per pass
            socks[i][1] = k + 1
        except (BlockingIOError, InterruptedError):
            pass  # still connecting (in the daemon's backlog)
        except OSError:
            s.close()
            reopened += 1
            open_one(i)
    if time.monotonic() - last > 1:
        last = time.monotonic()
        with open(stats + ".tmp", "w") as fh:
            json.dump({"uid": os.getuid(), "open": len(socks), "opened": opened, "reopened": reopened,
                       "refused": refused}, fh)
        os.replace(stats + ".tmp", stats)
    time.sleep(max(0.0, pace - (time.monotonic() - t0)))
"""


class _Ping(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.recv(4096)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK")


class FakeDocker(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.docker = FakeDocker(str(tmp / "docker.sock"), _Ping)
        threading.Thread(target=self.docker.serve_forever, daemon=True).start()
        self.port = _free_port()
        self.token = tmp / "token"
        self.token.write_text("a-token-long-enough-for-the-daemon\n")
        self.token.chmod(0o600)
        self.sock = str(tmp / "run" / "api.sock")
        self.cfg = tmp / "config.yaml"
        self.cfg.write_text(
            f"state_dir: {tmp / 'state'}\ndaemon: {{interval: 1, api_socket: {self.sock}, "
            f"api_listen: '127.0.0.1:{self.port}', token_file: {self.token}}}\n"
            f"hosts:\n  - name: h1\n    policy: observe\n    docker_host: unix://{tmp / 'docker.sock'}\n")
        self.procs: list[subprocess.Popen[bytes]] = []

    def daemon(self, log: str = "daemon.log", nofile: int = 1024) -> subprocess.Popen[bytes]:
        """`remediator daemon` with RLIMIT_NOFILE soft `nofile` (systemd's default), set before exec."""
        boot = (f"import os, resource, sys; h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; "
                f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, h)); "
                f"os.execv(sys.executable, [sys.executable, '-m', 'remediator', 'daemon', '--config', {str(self.cfg)!r}])")
        with open(self.tmp / log, "ab") as fh:
            p = subprocess.Popen([sys.executable, "-c", boot], stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                                 start_new_session=True)
        self.procs.append(p)
        return p

    def status(self, deadline: float = 5) -> dict[str, Any]:
        code, body = client.exchange(self.sock, "GET", "/v1/status", deadline=deadline)
        assert code == 200, body
        return body

    def log(self, name: str = "daemon.log") -> str:
        return (self.tmp / name).read_text(errors="replace")

    def stop(self, p: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
        return p.wait(timeout=timeout)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
        self.docker.shutdown()
        self.docker.server_close()


@pytest.fixture
def lab() -> Iterator[Lab]:
    tmp = Path(tempfile.mkdtemp(prefix="rmd-api-", dir="/tmp"))
    track(tmp)  # its daemon and peers name it: removed even if this worker crashes
    os.chmod(tmp, 0o755)
    lab = Lab(tmp)
    try:
        yield lab
    finally:
        try:
            lab.cleanup()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_1100_slow_tcp_peers_from_an_unprivileged_user_do_not_take_the_daemon_down(lab: Lab) -> None:
    d = lab.daemon()
    wait_for(lambda: os.path.exists(lab.sock) and lab.status()["daemon"]["last_round_age"] is not None, 30,
             "the daemon's socket and its first round")
    limits = Path(f"/proc/{d.pid}/limits").read_text()
    assert [ln.split()[3] for ln in limits.splitlines() if ln.startswith("Max open files")] == ["1024"]
    mine = lab.tmp / "attacker"  # nobody's: the only place it may write its counts
    mine.mkdir()
    os.chown(mine, 65534, 65534)
    stats = mine / "stats.json"
    with open(lab.tmp / "attacker.err", "wb") as err:
        attacker = subprocess.Popen(["/usr/bin/python3", "-I", "-c", ATTACKER, str(lab.port), "1100", "3", str(stats)],
                                    user=65534, group=65534, cwd="/", start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=err)
    lab.procs.append(attacker)
    try:
        wait_for(lambda: stats.exists(), 30, "the attacker's 1,100 connections")
        worst, most_fds, ages = 0.0, 0, []
        cpu0, t0_all = _cpu(d.pid), time.monotonic()
        t_end = time.monotonic() + 25
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            st = lab.status(deadline=5)  # raises client.Unreachable past 5 s
            worst = max(worst, time.monotonic() - t0)
            ages.append(st["daemon"]["last_round_age"])
            most_fds = max(most_fds, _fds(d.pid))
            assert attacker.poll() is None, (lab.tmp / "attacker.err").read_text()
            time.sleep(1)  # the observer's pace: one look a second
        seen = json.loads(stats.read_text())
        cpu = (_cpu(d.pid) - cpu0) / (time.monotonic() - t0_all)
    finally:
        lab.stop(attacker, signal.SIGKILL)
    print(f"attacker {seen}; unix API worst {worst:.2f}s; round ages max {max(ages)}; daemon fds max {most_fds}; "
          f"daemon CPU {cpu:.0%} of a core")
    assert seen["uid"] == 65534 and seen["open"] == 1100, seen
    assert seen["reopened"] >= 20, f"the daemon cut slow peers at the deadline and they came back: {seen}"
    assert worst < 5, f"the unix API took {worst:.1f}s"
    assert max(ages) < 5, f"rounds stalled under the attack: ages {ages}"
    assert most_fds < 400, f"{most_fds} descriptors open in the daemon (limit 1024)"
    assert cpu < 0.8, f"the daemon spent {cpu:.0%} of a core under the attack (no spinning)"
    assert d.poll() is None and lab.stop(d) == 0
    log = lab.log()
    for bad in ("Traceback", "EMFILE", "Too many open files", "api-error", "worker-crashed", "round-failed"):
        assert bad not in log, f"{bad!r} in the daemon log:\n{log[-3000:]}"


def test_one_daemon_per_config_status_says_so_and_a_fifo_on_sighup_is_refused(lab: Lab) -> None:
    first = lab.daemon()
    wait_for(lambda: os.path.exists(lab.sock) and lab.status()["daemon"]["last_round_age"] is not None, 30,
             "the first daemon's socket and round")
    inode = os.stat(lab.sock).st_ino
    second = lab.daemon(log="second.log")
    assert second.wait(timeout=60) == 2, lab.log("second.log")
    assert "another remediator daemon (pid" in lab.log("second.log") and "Traceback" not in lab.log("second.log")
    assert os.stat(lab.sock).st_ino == inode, "the second daemon left the first one's socket alone"
    st = lab.status()
    assert st["daemon"]["running"] is True and st["daemon"]["stale"] is False
    res = cli("status", "--config", str(lab.cfg), "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["daemon"]["running"] is True, res.stderr
    # SIGHUP with the config swapped for a FIFO: refused, never read; rounds and SIGTERM go on
    lab.cfg.rename(lab.tmp / "config.saved")
    os.mkfifo(lab.cfg, 0o600)
    os.kill(first.pid, signal.SIGHUP)
    wait_for(lambda: "reload-failed" in lab.log(), 20, "the refused reload")
    assert "not a regular file" in lab.log()
    before = lab.status()["daemon"]["last_round_age"]
    wait_for(lambda: lab.status()["daemon"]["last_round_age"] < 3, 10, "rounds going on after the SIGHUP")
    assert before is not None
    t0 = time.monotonic()
    assert lab.stop(first) == 0 and time.monotonic() - t0 < 20
    assert not os.path.lexists(lab.sock), "a clean stop removes the API socket"
    os.unlink(lab.cfg)
    (lab.tmp / "config.saved").rename(lab.cfg)
    res = cli("status", "--config", str(lab.cfg), "--json")
    dmn = json.loads(res.stdout)["daemon"]
    assert dmn["running"] is False and dmn["stale"] is True and dmn["last_round_age"] is not None
    table = cli("status", "--config", str(lab.cfg))
    assert "daemon: not running" in table.stdout and "(stale)" in table.stdout, table.stdout
    assert "Traceback" not in lab.log()


def test_a_token_file_the_group_may_read_stops_the_daemon_at_start(lab: Lab) -> None:
    lab.token.chmod(0o640)
    p = lab.daemon()
    assert p.wait(timeout=60) == 2
    assert "lets the group or others in" in lab.log() and not os.path.lexists(lab.sock)
    assert "Traceback" not in lab.log()

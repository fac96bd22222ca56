"""CI: drive an installed remediator (a wheel in a fresh venv, or pipx) from outside the checkout.

Run with the installed package's own interpreter:  VENV/bin/python .ci/installed.py VENV/bin/remediator LABEL
Every command's --help (ending with its exit codes); then `daemon` against a real sandbox dockerd (policy observe:
nothing on it is changed), `/healthz` on metrics_listen, `status --json`, `approvals --json`, `probe --json`,
SIGTERM -> exit 0, and `approvals` with the daemon gone -> exit 8. Everything it started is stopped and removed,
also on failure. Prints one line of timings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from remediator import exitcodes
from remediator.cli import main
from remediator.cli.common import commands
from remediator.lab import Sandbox

R, LABEL = sys.argv[1], sys.argv[2]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def sh(*args: str, want: int = 0) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([R, *args], capture_output=True, text=True, timeout=300, cwd="/", env=ENV,
                         stdin=subprocess.DEVNULL)
    if res.returncode != want:
        sys.exit(f"{LABEL}: remediator {' '.join(args)} exited {res.returncode}, not {want}:\n{res.stdout}{res.stderr}")
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(what: str, check, timeout: float = 60):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = check()
            if got:
                return got
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{LABEL}: {what}: not within {timeout:g}s")


t0 = time.monotonic()
names = [name for name, _cmd in commands(main)]
for name in ["", *names]:
    out = sh(*name.split(), "--help").stdout
    if name and "Exit codes:" not in out:
        sys.exit(f"{LABEL}: `remediator {name} --help` does not end with its exit codes")
t_help = time.monotonic() - t0

work = Path(tempfile.mkdtemp(prefix="rmd-ci-daemon-", dir="/tmp"))
sb = Sandbox(name="ci")
daemon: subprocess.Popen[bytes] | None = None
try:
    t1 = time.monotonic()
    sb.start()
    sb.populate(1)
    port = free_port()
    cfg = work / "config.yaml"
    cfg.write_text(f"state_dir: {work / 'state'}\nprobe: {{timeout: 1.0, interval: 0.2}}\n"
                   f"daemon: {{interval: 1, api_socket: {work / 'api.sock'}, metrics_listen: '127.0.0.1:{port}'}}\n"
                   f"hosts:\n{sb.host_yaml(policy='observe')}")
    t2 = time.monotonic()
    with open(work / "daemon.log", "ab") as log:
        daemon = subprocess.Popen([R, "daemon", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd="/",
                                  env=ENV, start_new_session=True)
    poll("/healthz on metrics_listen", lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200)
    t_up = time.monotonic() - t2
    status = json.loads(sh("status", "--config", str(cfg), "--json").stdout)
    assert [h["name"] for h in status["hosts"]] == ["ci"], status
    approvals = json.loads(sh("approvals", "--config", str(cfg), "--json").stdout)
    assert approvals["approvals"] == [], approvals
    probe = json.loads(sh("probe", "--config", str(cfg), "--json").stdout)
    assert probe["verdict"] == "healthy", probe
    os.killpg(daemon.pid, signal.SIGTERM)
    code = daemon.wait(timeout=60)
    daemon = None
    if code != 0:
        sys.exit(f"{LABEL}: the daemon exited {code} on SIGTERM, not 0:\n{(work / 'daemon.log').read_text()[-3000:]}")
    sh("approvals", "--config", str(cfg), want=exitcodes.NO_DAEMON)
    print(f"{LABEL}: {len(names)} commands' --help in {t_help:.1f}s; sandbox up in {t2 - t1:.1f}s; daemon /healthz "
          f"in {t_up:.1f}s; status --json, approvals --json, probe (healthy), SIGTERM -> 0, then approvals -> 8; "
          f"total {time.monotonic() - t0:.1f}s")
finally:
    if daemon is not None:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
    sb.cleanup()
    shutil.rmtree(work, ignore_errors=True)

"""What an idle `remediator daemon` costs: one real healthy dockerd sandbox, the daemon at its default 10 s
interval for a while, then its CPU (utime+stime from /proc, as % of one core) and RSS (VmRSS, VmHWM).

Issue 10's target: an idle daemon with one healthy host < 1 % of a core and < 60 MB RSS.
Run (root, docker.io installed): .venv/bin/python bench/daemon_idle.py [--seconds 60] [--interval 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from remediator.lab import Sandbox, wait_for

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval", type=float, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rmd-bench-"))
    with Sandbox(name="idle") as sb:
        sb.start()
        sb.populate(2)
        cfg = tmp / "config.yaml"
        cfg.write_text(f"state_dir: {tmp / 'state'}\ndaemon: {{interval: {args.interval}, api_socket: {tmp / 'api.sock'}}}\n"
                       f"hosts:\n{sb.host_yaml(policy='auto')}")
        proc = subprocess.Popen([sys.executable, "-m", "remediator", "daemon", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: (tmp / "api.sock").exists(), 30, "the daemon's API socket")
            time.sleep(2 * args.interval)  # measured: warm-up rounds (imports, first diagnosis) are not idle
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(args.seconds)  # measured: the idle window itself (this bench is about time passing)
            c1, t1 = cpu_seconds(proc.pid), time.monotonic()
            rss, hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"idle daemon, 1 healthy host, interval {args.interval:g}s, measured over {t1 - t0:.0f}s:")
    print(f"  CPU {c1 - c0:.3f}s = {100 * (c1 - c0) / (t1 - t0):.2f} % of one core (target < 1 %)")
    print(f"  RSS {rss / 1024:.1f} MB, peak {hwm / 1024:.1f} MB (target < 60 MB)")


if __name__ == "__main__":
    main()

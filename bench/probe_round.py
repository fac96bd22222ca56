"""Cost of one probe round against one host, side by side with the health check others use.

One real sandbox dockerd with N containers. Interleaved, R times each:
  - remediator's probe round (10 probes concurrently: socket, /_ping, /version, /info,
    /containers/json, containerd gRPC, /proc of dockerd+containerd, log since last round,
    disk/inodes, kernel messages);
  - `docker ps` (node-problem-detector's and GKE health-monitor's health check), a child process.
Prints median and p90 wall and CPU per call, and the ratios. Then the same round against the
SIGSTOPped daemon: its wall time is the probe deadline, its CPU stays small.
Usage: python bench/probe_round.py [--containers 10] [--rounds 30]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import time

from remediator.detect import facts as factsmod
from remediator.detect.diagnose import prober_for
from remediator.hosts.service import controller
from remediator.lab import Sandbox
from remediator.settings import ProbeConfig


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def stats(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1000:7.1f} ms  p90 {xs[int(len(xs) * 0.9) - 1] * 1000:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=30)
    a = ap.parse_args()
    sb = Sandbox(name="bench")
    try:
        sb.start()
        sb.populate(a.containers)
        facts = factsmod.resolve(sb.host)
        prober = prober_for(sb.host, controller(sb.host), facts, ProbeConfig(timeout=2.0))
        prober.round()  # warm-up: the first round reads the log tail
        walls, cpus, ps_walls, ps_cpus = [], [], [], []
        for _ in range(a.rounds):
            r = prober.round()
            walls.append(r.wall)
            cpus.append(r.cpu)
            c0, t0 = children_cpu(), time.monotonic()
            subprocess.run(["docker", "-H", f"unix://{sb.sock}", "ps"], check=True, capture_output=True, timeout=60)
            ps_walls.append(time.monotonic() - t0)
            ps_cpus.append(children_cpu() - c0)
        print(f"host: real dockerd ({facts.version}), {a.containers} containers, {a.rounds} interleaved samples")
        print(f"probe round  wall {stats(walls)}   cpu {stats(cpus)}")
        print(f"docker ps    wall {stats(ps_walls)}   cpu {stats(ps_cpus)}")
        print(f"ratio probe round / docker ps: wall {statistics.median(walls) / statistics.median(ps_walls):.2f}x, "
              f"cpu {statistics.median(cpus) / statistics.median(ps_cpus):.2f}x")
        sb.wedge()
        hung = [prober.round() for _ in range(3)]
        print(f"wedged dockerd (probe timeout 2 s): wall {stats([r.wall for r in hung])}   cpu {stats([r.cpu for r in hung])}")
    finally:
        sb.cleanup()


if __name__ == "__main__":
    main()

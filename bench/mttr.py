"""MTTR benchmark: the bare manual fix vs `remediator run --yes`, side by side in one run.

For each size, two identical sandboxes are broken the same way (corrupt meta.db after a dockerd
crash). The manual fix is what an SRE types: kill the leftover shims and containers, move the
state dirs aside, start dockerd, start what is not running. remediator's time is stop -> verified
from its journal (evidence capture excluded; it has its own budget, printed separately).
Usage: python bench/mttr.py [--sizes 4,20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from remediator.hosts.service import controller
from remediator.lab import Sandbox, wait_for


def manual_fix(sb: Sandbox) -> dict[str, float]:
    t = {"start": time.monotonic()}
    fam = sb.host.family(data_root=sb.data, exec_root=sb.exec_)
    controller(sb.host).stop(15)
    for p in fam.containers + fam.shims + fam.containerd:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sb.host.wait_gone(fam.all(), 10)
    t["stopped"] = time.monotonic()
    aside = sb.root / "aside"
    aside.mkdir()
    for d in (f"{sb.exec_}/containerd", f"{sb.data}/containerd/daemon", f"{sb.exec_}/runtime-runc"):
        shutil.move(d, aside / d.strip("/").replace("/", "_"))
    t["cleared"] = time.monotonic()
    controller(sb.host).start(60)
    t["started"] = time.monotonic()
    want = {c["Id"] for c in sb.host.docker_call("containers", all=True)}
    for c in sb.host.docker_call("containers", all=True):
        if c["State"] != "running":
            sb.host.docker_call("start", c["Id"])
    wait_for(lambda: sb.running() == want, 60, "all containers running")
    t["verified"] = time.monotonic()
    return {"stop": t["stopped"] - t["start"], "aside": t["cleared"] - t["stopped"],
            "start": t["started"] - t["cleared"], "verify": t["verified"] - t["started"], "total": t["verified"] - t["start"]}


def remediator_fix(sb: Sandbox) -> dict[str, float]:
    cfg = sb.root / "config.yaml"
    cfg.write_text(sb.config_yaml(str(sb.root / "state")))
    res = subprocess.run([sys.executable, "-m", "remediator", "run", "--config", str(cfg), "--host", sb.name, "--yes"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise SystemExit(f"remediator failed:\n{res.stdout}\n{res.stderr}")
    db = sqlite3.connect(sb.root / "state" / "journal.sqlite3")
    ev = {}
    for ts, kind, step, detail in db.execute("SELECT ts, kind, step, detail FROM events ORDER BY seq"):
        d = json.loads(detail)
        if kind in ("intent", "result") and "rollback" not in d:
            ev[(kind, step)] = ts
    ph = {name: ev[("result", step)] - ev[("intent", step)] for name, step in
          (("evidence", "evidence"), ("stop", "stop"), ("aside", "quarantine"), ("start", "start"), ("verify", "verify"),
           ("archive", "archive"))}
    ph["total"] = ev[("result", "verify")] - ev[("intent", "stop")]
    return ph


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,20")
    ap.add_argument("--repeat", type=int, default=3, help="pairs per size, alternating; the median ratio is reported")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    cols = ("stop", "aside", "start", "verify", "total")
    print(f"{'containers':>10} {'method':<11} " + " ".join(f"{k:>8}" for k in cols))
    for n in sizes:
        ratios, archive, evidence = [], [], []
        for i in range(args.repeat):
            results = {}
            order = (("manual", manual_fix), ("remediator", remediator_fix))
            for method, fix in (order if i % 2 == 0 else order[::-1]):  # alternate who goes first
                with Sandbox(name="bench") as sb:
                    sb.start()
                    sb.populate(n)
                    sb.corrupt_metadb()
                    results[method] = fix(sb)
                r = results[method]
                print(f"{n:>10} {method:<11} " + " ".join(f"{r.get(k, 0.0):8.2f}" for k in cols))
            ratios.append(results["remediator"]["total"] / results["manual"]["total"])
            archive.append(results["remediator"]["archive"])
            evidence.append(results["remediator"]["evidence"])
        ratios.sort()
        print(f"{n:>10} ratio remediator/manual (stop -> verified), median of {len(ratios)}: "
              f"{ratios[len(ratios) // 2]:.2f}x  (all: {', '.join(f'{x:.2f}' for x in ratios)}; evidence capture, "
              f"excluded: {max(evidence):.2f}s; the copy into the incident, after verify: {max(archive):.2f}s)")


if __name__ == "__main__":
    main()

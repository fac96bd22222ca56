"""Throwaway driver: break real lab sandboxes one fault at a time and record what remediator does.

Usage (root, dockerd/containerd/runc/busybox installed):  python bench/fault_matrix.py [FAULT ...]
Per fault: a sandbox with 3 containers
the fault
`probe --json`
`run --dry-run`
`run --yes`
the containers
running afterwards. The sandbox is always cleaned up (only its own processes are signalled).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from remediator.lab import Sandbox
from remediator.lab.sandbox import damage

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "remediator", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env={**os.environ, "COLUMNS": "200"})


def family(sb: Sandbox):  # type: ignore[no-untyped-def]
    return sb.host.family(data_root=sb.data, exec_root=sb.exec_, containerd_sock=sb.ctrd_sock or "")


def middle_random(db: Path) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(2 * page)
        fh.write(os.urandom(max(0, size - 2 * page)))


def f_meta_trunc(sb: Sandbox) -> None:
    sb.crash()
    os.truncate(sb.metadb, 0)
    try_start(sb)


def f_meta_deleted(sb: Sandbox) -> None:
    sb.crash()
    sb.metadb.unlink()
    try_start(sb)


def f_meta_middle(sb: Sandbox) -> None:
    sb.crash()
    middle_random(sb.metadb)
    try_start(sb)


def f_meta_dir(sb: Sandbox) -> None:
    sb.crash()
    sb.metadb.unlink()
    sb.metadb.mkdir()
    try_start(sb)


def f_meta_symlink(sb: Sandbox) -> None:
    sb.crash()
    outside = sb.root / "outside-meta.db"
    shutil.copy(sb.metadb, outside)
    damage(outside, "random")
    sb.metadb.unlink()
    sb.metadb.symlink_to(outside)
    try_start(sb)


def f_ctrd_stop(sb: Sandbox) -> None:
    for p in family(sb).containerd:
        os.kill(p.pid, signal.SIGSTOP)


def f_ctrd_kill(sb: Sandbox) -> None:
    for p in family(sb).containerd:
        os.kill(p.pid, signal.SIGKILL)
    time.sleep(2)


def f_dockerd_kill(sb: Sandbox) -> None:
    sb.crash()


def f_pidfile_unrelated(sb: Sandbox) -> None:
    sb.crash()
    pid = sb.host.spawn_detached([sys.executable, "-c", "import signal; signal.pause()", str(sb.root)],
                                 log=str(sb.root / "bystander.log"))
    Path(sb.pidfile).write_text(str(pid))
    try_start(sb)


def f_exec_ctrd_deleted(sb: Sandbox) -> None:
    shutil.rmtree(Path(sb.exec_) / "containerd", ignore_errors=True)
    time.sleep(2)


def f_runc_garbage(sb: Sandbox) -> None:
    ids = sorted(sb.running())
    sb.crash()
    for s in family(sb).shims:  # shims and containers die too: only runc's state remains
        os.kill(s.pid, signal.SIGKILL)
    for cid in ids:
        for p in sb.host.procs():
            if p.alive and cid in " ".join(p.cmdline):
                os.kill(p.pid, signal.SIGKILL)
    time.sleep(1)
    runc = Path(sb.exec_) / "runtime-runc" / "moby"
    for cid in ids:
        d = runc / cid
        d.mkdir(parents=True, exist_ok=True)
        (d / "state.json").write_bytes(os.urandom(200))
    try_start(sb)


def f_shim_killed(sb: Sandbox) -> None:
    shims = family(sb).shims
    os.kill(shims[0].pid, signal.SIGKILL)
    time.sleep(2)


def f_ctrd_sock_removed(sb: Sandbox) -> None:
    for s in Path(sb.exec_, "containerd").glob("containerd.sock*"):
        s.unlink()


def f_wedge_and_meta(sb: Sandbox) -> None:
    damage(sb.metadb, "random")
    sb.wedge()


def f_exec_tmpfs_full(sb: Sandbox) -> None:
    filler = Path(sb.exec_) / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
    sb.crash()
    try_start(sb)


def try_start(sb: Sandbox) -> None:
    from remediator.hosts.service import controller
    try:
        controller(sb.host).start(20)
    except Exception as e:  # noqa: BLE001
        print(f"   (start after fault failed: {str(e)[:100]})")
    else:
        print("   (start after fault succeeded)")


FAULTS: dict[str, Callable[[Sandbox], None]] = {k[2:]: v for k, v in globals().items() if k.startswith("f_")}


def verdict_of(probe: str) -> str:
    try:
        data = json.loads(probe)
    except ValueError:
        return "?"
    m = re.search(r'"(?:verdict|diagnosis)": "([a-z-]+)"', json.dumps(data))
    return m.group(1) if m else "?"


def one(name: str) -> dict[str, str]:
    tmpfs = name == "exec_tmpfs_full"
    sb = Sandbox(name="t")
    row = {"fault": name}
    try:
        if tmpfs:
            Path(sb.exec_).mkdir(parents=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", sb.exec_], check=True)
        sb.start()
        sb.populate(3)
        before = sb.running()
        FAULTS[name](sb)
        cfg = sb.root / "config.yaml"
        cfg.write_text(sb.config_yaml(str(sb.root / "state")))
        p = cli("probe", "--config", str(cfg), "--host", "t", "--json")
        row["probe"] = verdict_of(p.stdout)
        d = cli("run", "--config", str(cfg), "--host", "t", "--dry-run")
        row["dry"] = f"rc={d.returncode}"
        m = re.search(r"verdict (\S+)", d.stdout)
        row["verdict"] = m.group(1) if m else "-"
        m = re.search(r"(\S+) on t\b", d.stdout)
        row["runbook"] = m.group(1) if m else "-"
        y = cli("run", "--config", str(cfg), "--host", "t", "--yes")
        row["rc"] = str(y.returncode)
        parts = y.stdout.split("─" * 20)
        tail = parts[-1].strip().splitlines() if len(parts) > 1 else y.stdout.strip().splitlines()[-1:]
        row["outcome"] = (tail[0].strip("─ ") if tail else "-")[:90]
        row["runbooks_run"] = ",".join(dict.fromkeys(re.findall(r"─ (\S+) on t\b", y.stdout)))
        try:
            after = sb.running()
            row["back"] = f"{len(before & after)}/{len(before)}"
        except Exception as e:  # noqa: BLE001
            row["back"] = f"no answer ({type(e).__name__})"
        (REPO / "bench" / "fault-logs").mkdir(exist_ok=True)
        (REPO / "bench" / "fault-logs" / f"{name}.txt").write_text(
            f"PROBE rc={p.returncode}\n{p.stdout[-3000:]}{p.stderr[-2000:]}\nDRY rc={d.returncode}\n{d.stdout}{d.stderr}"
            f"\nYES rc={y.returncode}\n{y.stdout}{y.stderr}")
    except Exception as e:  # noqa: BLE001
        row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        if Path(sb.log).exists():
            (REPO / "bench" / "fault-logs").mkdir(exist_ok=True)
            shutil.copy(sb.log, REPO / "bench" / "fault-logs" / f"{name}.dockerd.log")
        sb.cleanup()
        if tmpfs:
            subprocess.run(["umount", "-l", sb.exec_], check=False)
    return row


def main() -> None:
    names = sys.argv[1:] or list(FAULTS)
    for n in names:
        t = time.monotonic()
        row = one(n)
        row["secs"] = f"{time.monotonic() - t:.0f}"
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

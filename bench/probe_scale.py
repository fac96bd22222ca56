"""The daemon's liveness layer at fleet scale (issue 10): daemon/liveness.py + daemon/schedule.py against
1,000 fake Docker API servers on unix sockets, at the daemon's 10 s period.

Three processes, so the figures are the prober's alone:
  - this one only orchestrates and prints;
  - `--role serve`: one asyncio process serving every fake host's socket in a temp dir. Host i is, by a
    fixed rule: missing (1 %: no socket file), hanging (2 %: accepts, reads, never answers - a SIGSTOPped
    dockerd), slow (5 %: answers after 1-3 s), else healthy (answers /_ping like dockerd, at once);
  - `--role probe`: the measured process. It builds HostConfigs and a LivenessProber (as the daemon will),
    runs `--rounds` rounds on the scheduler at `--period`, and prints per round: lateness, duration, process
    CPU seconds (and % of one core over the period), outcomes, RSS (VmRSS) and peak RSS (VmHWM).
Then the same for each `--scale` host count, and an idle daemon with one healthy host. Targets (2 cores, 10 s
period): 1,000 hosts p99 lateness < 1 s, < 20 % of one core, RSS < 200 MB; one host < 1 % of a core, < 60 MB.
Usage: python bench/probe_scale.py [--hosts 1000] [--rounds 6] [--period 10] [--scale 3000] [--timeout 5]
                                   [--slow 1] [--concurrency 256] [--idle-rounds 6]
10,000 hosts measured directly: --hosts 10000 --scale '' --concurrency 1024 --idle-rounds 0 (the fake servers' process
then holds 10,000 listening sockets: it raises its own RLIMIT_NOFILE soft limit to the hard one).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PING_ANSWER = (b"HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nBuilder-Version: 2\r\nCache-Control: no-cache, no-store, must-revalidate\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\nDocker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\n"
               b"Server: Docker/26.1.4 (linux)\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nOK")


def kind_of(i: int, mixed: bool) -> str:
    """Host i's behaviour: 1 % missing, 2 % hanging, 5 % slow, the rest healthy (classes never overlap)."""
    if not mixed:
        return "ok"
    if i % 100 == 99:
        return "missing"
    if i % 50 == 7:
        return "hang"
    if i % 20 == 3:
        return "slow"
    return "ok"


def slow_delay(i: int) -> float:
    return 1.0 + (i * 7919 % 2000) / 1000  # 1-3 s, spread


def sock_path(d: str, i: int) -> str:
    return f"{d}/h{i:05d}.sock"


def status_kb(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


# ---- role serve: every fake host in one asyncio process ------------------------------------------

def serve(d: str, hosts: int, mixed: bool) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def handler(kind: str, delay: float) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                if kind == "hang":
                    await reader.read()  # until the prober gives up and closes
                    return
                if kind == "slow":
                    await asyncio.sleep(delay)
                writer.write(PING_ANSWER)
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()
        return handle

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        servers = []
        for i in range(hosts):
            kind = kind_of(i, mixed)
            if kind != "missing":
                servers.append(await asyncio.start_unix_server(handler(kind, slow_delay(i)), sock_path(d, i), backlog=128))
        print("ready", flush=True)
        await stop.wait()
        for s in servers:
            s.close()

    asyncio.run(main())


# ---- role probe: the measured process --------------------------------------------------------------

def probe(d: str, hosts: int, rounds: int, period: float, timeout: float, slow: float, concurrency: int, import_app: bool) -> None:
    from remediator.daemon.liveness import LivenessProber
    from remediator.daemon.schedule import RoundStats, percentile, run_rounds, summarize
    from remediator.hosts.port import Ping
    from remediator.settings import HostConfig

    configs = [HostConfig(name=f"h{i:05d}", docker_host=f"unix://{sock_path(d, i)}") for i in range(hosts)]
    prober = LivenessProber.of(configs, timeout=timeout, slow=slow, concurrency=concurrency)
    seen: list[RoundStats[dict[str, Ping]]] = []
    print(f"  {'round':>5} {'slot':>4} {'late ms':>8} {'dur s':>6} {'cpu s':>7} {'% core':>6} {'ok p50/p99 ms':>14}  "
          f"{'RSS MB':>6} {'HWM MB':>6}  outcomes", flush=True)

    waited: list[float] = []  # worker-seconds spent waiting on answers, per round

    def on_round(s: RoundStats[dict[str, Ping]]) -> None:
        waited.append(sum(p.latency for p in s.result.values()))
        seen.append(dataclasses.replace(s, result={}))  # the round's figures only: RSS shows the prober, not our archive
        outcomes = Counter(p.outcome for p in s.result.values())
        ok = [p.latency * 1000 for p in s.result.values() if p.outcome == "ok"]
        print(f"  {s.number:>5} {s.slot:>4} {s.lateness * 1000:>8.1f} {s.duration:>6.2f} {s.cpu:>7.3f} {100 * s.cpu / period:>6.2f} "
              f"{percentile(ok, 50):>6.1f}/{percentile(ok, 99):<7.1f}  {status_kb('VmRSS') / 1024:>6.1f} {status_kb('VmHWM') / 1024:>6.1f}  "
              f"{' '.join(f'{k}={v}' for k, v in sorted(outcomes.items()))}" + (f" skipped={s.skipped}" if s.skipped else ""), flush=True)

    async def main() -> tuple[float, float]:
        t_start, cpu_start = time.monotonic(), time.process_time()
        await run_rounds(prober.round, period, asyncio.Event(), on_round, max_rounds=rounds)
        end = t_start + rounds * period  # the whole window, idle gaps included
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        return time.process_time() - cpu_start, time.monotonic() - t_start

    cpu, wall = asyncio.run(main())
    sm = summarize(seen)
    result: dict[str, Any] = {
        "hosts": hosts, "rounds": sm.rounds, "period": period, "late_p50": sm.lateness_p50, "late_p99": sm.lateness_p99,
        "dur_p50": sm.duration_p50, "dur_p99": sm.duration_p99, "cpu_round": sm.cpu_per_round,
        "cpu_round_steady": sum(s.cpu for s in seen[1:]) / (len(seen) - 1) if len(seen) > 1 else sm.cpu_per_round,
        "core_pct_window": 100 * cpu / wall, "rss_mb": status_kb("VmRSS") / 1024, "hwm_mb": status_kb("VmHWM") / 1024,
        "slot_seconds": sum(waited) / len(waited), "skipped": sm.skipped,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
    if import_app:  # what the rest of the daemon (diagnosis, engine, docker SDK ...) adds on top, measured after
        import remediator.app  # noqa: F401
        import remediator.hosts.local  # noqa: F401
        result["rss_with_app_mb"] = status_kb("VmRSS") / 1024
    print("RESULT " + json.dumps(result), flush=True)


# ---- orchestration ------------------------------------------------------------------------------------

def run_config(a: argparse.Namespace, hosts: int, mixed: bool, rounds: int, import_app: bool = False) -> dict[str, Any]:
    d = tempfile.mkdtemp(prefix="probe-scale-")
    server: subprocess.Popen[str] | None = None
    try:
        server = subprocess.Popen([sys.executable, __file__, "--role", "serve", "--dir", d, "--hosts", str(hosts)]
                                  + ([] if mixed else ["--healthy"]), stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(server.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=120) or server.stdout.readline().strip() != "ready":
            raise RuntimeError("the fake servers did not start")
        mix = Counter(kind_of(i, mixed) for i in range(hosts))
        print(f"\n== {hosts} host(s): {', '.join(f'{v} {k}' for k, v in sorted(mix.items()))}; period {a.period:g} s, "
              f"deadline {a.timeout:g} s, slow > {a.slow:g} s, concurrency {a.concurrency}", flush=True)
        server_cpu0 = proc_cpu(server.pid)
        cmd = [sys.executable, __file__, "--role", "probe", "--dir", d, "--hosts", str(hosts), "--rounds", str(rounds),
               "--period", str(a.period), "--timeout", str(a.timeout), "--slow", str(a.slow), "--concurrency", str(a.concurrency)]
        out = subprocess.run(cmd + (["--import-app"] if import_app else []), stdout=subprocess.PIPE, text=True, check=True).stdout
        result: dict[str, Any] = {}
        for line in out.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                print(line)
        result["server_cpu"] = proc_cpu(server.pid) - server_cpu0
        r = result
        print(f"  lateness p50 {r['late_p50'] * 1000:.1f} ms, p99 {r['late_p99'] * 1000:.1f} ms (over {r['rounds']} rounds: p99 = the worst); "
              f"round duration p50 {r['dur_p50']:.2f} s, p99 {r['dur_p99']:.2f} s")
        print(f"  CPU {r['cpu_round']:.3f} s/round (steady, after round 0: {r['cpu_round_steady']:.3f} s) = "
              f"{100 * r['cpu_round'] / a.period:.2f} % of one core per period; whole window, idle gaps included: "
              f"{r['core_pct_window']:.2f} % of one core")
        print(f"  RSS {r['rss_mb']:.1f} MB, peak (VmHWM) {r['hwm_mb']:.1f} MB"
              + (f"; after also importing remediator.app + hosts.local (the rest of a daemon): {r['rss_with_app_mb']:.1f} MB"
                 if "rss_with_app_mb" in r else ""))
        print(f"  (not measured above: the fake servers' own process used {r['server_cpu']:.2f} s CPU)")
        return result
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(d, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["orchestrate", "serve", "probe"], default="orchestrate")
    ap.add_argument("--dir", default="")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--healthy", action="store_true", help="serve: every host healthy")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--period", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=5.0, help="hard deadline of one ping (ProbeConfig.timeout)")
    ap.add_argument("--slow", type=float, default=1.0, help="an ok answer later than this is slow (ProbeConfig.slow)")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--scale", default="3000", help="more host counts to run, comma-separated ('' for none)")
    ap.add_argument("--idle-rounds", type=int, default=6, help="rounds of the one-healthy-host run (0: skip it)")
    ap.add_argument("--import-app", action="store_true")
    a = ap.parse_args()
    if a.role == "serve":
        return serve(a.dir, a.hosts, not a.healthy)
    if a.role == "probe":
        return probe(a.dir, a.hosts, a.rounds, a.period, a.timeout, a.slow, a.concurrency, a.import_app)

    print(f"probe_scale: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)}")
    counts = [a.hosts] + [int(x) for x in a.scale.split(",") if x.strip()]
    fleet = [run_config(a, n, True, a.rounds) for n in counts]
    idle = run_config(a, 1, False, a.idle_rounds, import_app=True) if a.idle_rounds > 0 else None

    main_r = fleet[0]
    print(f"\n== targets (period {a.period:g} s)")
    print(f"  {main_r['hosts']} hosts: p99 lateness {main_r['late_p99'] * 1000:.1f} ms < 1000 ms {verdict(main_r['late_p99'] < 1)}; "
          f"{100 * main_r['cpu_round'] / a.period:.2f} % of one core < 20 % {verdict(main_r['cpu_round'] / a.period < 0.2)}; "
          f"peak RSS {main_r['hwm_mb']:.1f} MB < 200 MB {verdict(main_r['hwm_mb'] < 200)}")
    if idle is not None:
        print(f"  1 idle host: {idle['core_pct_window']:.3f} % of one core < 1 % {verdict(idle['core_pct_window'] < 1)}; "
              f"peak RSS {idle['hwm_mb']:.1f} MB < 60 MB {verdict(idle['hwm_mb'] < 60)} "
              f"(with remediator.app + hosts.local imported too: {idle['rss_with_app_mb']:.1f} MB)")

    print("\n== scaling")
    for r in fleet:
        print(f"  {r['hosts']:>6} hosts: {1e6 * r['cpu_round_steady'] / r['hosts']:.0f} us CPU per ping (steady rounds), "
              f"peak RSS {r['hwm_mb']:.1f} MB, {r['slot_seconds']:.0f} worker-seconds of waiting per round, "
              f"round p99 {r['dur_p99']:.2f} s")
    big = max(fleet, key=lambda r: r["hosts"])
    per_ping = big["cpu_round_steady"] / big["hosts"]
    n = 10_000
    if len(fleet) > 1:
        lo = min(fleet, key=lambda r: r["hosts"])
        per_host_mb = (big["hwm_mb"] - lo["hwm_mb"]) / max(1, big["hosts"] - lo["hosts"])
        base_mb = lo["hwm_mb"] - per_host_mb * lo["hosts"]
        rss10k = f"~{base_mb + per_host_mb * n:.0f} MB ({1024 * per_host_mb:.1f} KB per host over {base_mb:.0f} MB)"
    else:
        rss10k = "unknown (give --scale a second host count)"
    wait10k = big["slot_seconds"] * n / big["hosts"]
    print(f"  10,000 hosts, extrapolated: CPU {per_ping * n:.2f} s/round = {100 * per_ping * n / a.period:.1f} % of one core; "
          f"RSS {rss10k}; {wait10k:.0f} worker-seconds of waiting per round -> a round lasts about "
          f"{wait10k:.0f}/{a.concurrency} = {wait10k / a.concurrency:.1f} s at concurrency {a.concurrency}, plus up to one deadline "
          f"({a.timeout:g} s) for the hosts taken last; file descriptors: concurrency + ~64, not one per host")
    budget = 0.8 * a.period - a.timeout  # seconds of pool draining left once the last deadline is counted
    if budget > 0:
        need = int(wait10k / budget) + 1
        print(f"  for a 10,000-host round to end within 80 % of the period (waiting/concurrency + one deadline <= "
              f"{0.8 * a.period:g} s): concurrency >= {need}, i.e. that many sockets open at once in the prober "
              f"(it raises its RLIMIT_NOFILE soft limit to concurrency + 64)")
    else:
        print(f"  the deadline ({a.timeout:g} s) leaves no room within 80 % of the period: shorten it or lengthen the period")


if __name__ == "__main__":
    main()

"""How fast `diagnose` reads a big log: a ~27 MB dockerd log (the real 20.10 start-up log of
tests/data, repeated, ending in a failed start), parsed, scanned and decided in-process; and, side by
side in the same run, the same lines scanned without the needle gate (every regex on every line).
Usage: python bench/diagnose_speed.py [MB]"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from remediator.detect import logdiag  # noqa: E402
from remediator.detect import signatures as sigs  # noqa: E402

TAIL = ('time="2026-11-27T23:40:38Z" level=info msg="Starting up"\n'
        'failed to start daemon: failed to dial "/var/run/docker/containerd/containerd.sock": unknown service '
        'containerd.services.namespaces.v1.Namespaces: not implemented\n')


def build(mb: float) -> str:
    chunk = (ROOT / "tests/data/dockerd-20.10-start.log").read_text()
    return chunk * int(mb * (1 << 20) / len(chunk) + 1) + TAIL


def brute(lines: list[logdiag.Line]) -> int:
    hits = 0
    for ln in lines:
        hits += sum(1 for s in sigs.SIGNATURES if s.matches(ln.text))
        hits += sum(1 for p in sigs.MARKERS.values() if p.search(ln.text))
    return hits


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 27.0
    text = build(mb)
    gc.disable()  # as diagnose_text does
    t0 = time.perf_counter()
    lines = logdiag.parse(text)
    t1 = time.perf_counter()
    scanned = logdiag.scan_lines(lines)
    t2 = time.perf_counter()
    verdict = logdiag.decide(scanned)
    t3 = time.perf_counter()
    gc.enable()
    n = len(lines)
    print(f"{len(text) / (1 << 20):.1f} MB, {n} lines -> {verdict.verdict}")
    print(f"parse {t1 - t0:.2f}s  scan {t2 - t1:.2f}s  decide {t3 - t2:.2f}s  total {t3 - t0:.2f}s  "
          f"= {n / (t3 - t0):,.0f} lines/s")
    sample = lines[: max(1, n // 10)]
    t4 = time.perf_counter()
    logdiag.scan_lines(sample)
    t5 = time.perf_counter()
    brute(sample)
    t6 = time.perf_counter()
    print(f"needle gate vs every regex on every line, same {len(sample)} lines: {t5 - t4:.2f}s vs {t6 - t5:.2f}s "
          f"({(t6 - t5) / (t5 - t4):.1f}x)")
    hostile = "docker.service " + "containerd " * 1400 + "a" * 8000  # a 16 KiB line a container could print
    t7 = time.perf_counter()
    logdiag.diagnose_text("\n".join([hostile] * 100))
    print(f"100 hostile 16 KiB lines: {time.perf_counter() - t7:.2f}s")


if __name__ == "__main__":
    main()

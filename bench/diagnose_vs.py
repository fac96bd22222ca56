"""Side by side in one run: this tree's `diagnose` against another checkout's (e.g. the code before the
needle gate), on the same big log, each in a fresh interpreter, best of N. Usage:
python bench/diagnose_vs.py OTHER_CHECKOUT LOG [N]"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = "import sys; from remediator.detect import logdiag; t=open(sys.argv[1], errors='replace').read(); print(logdiag.diagnose_text(t).verdict)"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def best(tree: Path, log: str, n: int) -> tuple[float, float, str]:
    """Best wall and best CPU seconds of n fresh interpreters (CPU time: less disturbed by a busy machine)."""
    times, cpus, verdict = [], [], ""
    for _ in range(n):
        t0, c0 = time.perf_counter(), _cpu()
        out = subprocess.run([sys.executable, "-c", CODE, log], cwd=tree, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
        verdict = out.stdout.strip()
    return min(times), min(cpus), verdict


def main() -> None:
    other, log = Path(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    lines = sum(1 for _ in open(log, errors="replace"))
    for name, tree in (("other", other), ("this", ROOT), ("other", other), ("this", ROOT)):
        t, cpu, v = best(tree, log, n)
        print(f"{name:5} {t:6.2f}s wall {cpu:6.2f}s cpu  {lines / t:9,.0f} lines/s  verdict {v}")


if __name__ == "__main__":
    main()

"""How fast and how small `remediator runbook validate` stays on big and hostile runbooks.

Prints, per case, wall seconds and peak RSS (MiB) of a fresh `remediator runbook validate` process, plus its
exit code. Cases: the packaged runbooks, 1,000 and 10,000 steps, a 500-byte alias bomb (refused), a
600-level nesting (refused). Issue 9's targets: 10,000 steps < 2 s; the bomb < 1 s and < 100 MB.
Run: .venv/bin/python bench/validate_speed.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("remediator"))


def steps(n: int) -> str:
    body = [f"  - id: s{i}\n    action: probe.confirm\n    params: {{expect: [dockerd-wedged]}}\n" for i in range(n)]
    return "schema: 1\nname: big\nsteps:\n" + "".join(body)


def bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    return "\n".join(lines) + "\nname: x\nsteps: []\n"


def nested(depth: int) -> str:
    return "name: x\nsteps: " + "[" * depth + "]" * depth + "\n"


def measure(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, this child's own peak RSS (MiB, from wait4), exit code."""
    t0 = time.perf_counter()
    child = subprocess.Popen([EXE, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    return took, usage.ru_maxrss / 1024, child.returncode


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, list[str]] = {"packaged runbooks": []}
        for name, text in (("1,000 steps", steps(1000)), ("10,000 steps", steps(10_000)),
                           (f"alias bomb ({len(bomb())} B)", bomb()), ("600-level nesting", nested(600))):
            f = os.path.join(tmp, name.split()[0].replace(",", "") + ".yaml")
            Path(f).write_text(text)
            cases[name] = [f]
        print(f"{'case':28} {'seconds':>8} {'peak RSS MiB':>13} {'exit':>5}")
        for name, extra in cases.items():
            took, rss, rc = measure(["runbook", "validate", *extra])
            print(f"{name:28} {took:8.2f} {rss:13.0f} {rc:5d}")


if __name__ == "__main__":
    main()

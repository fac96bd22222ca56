"""How fast the redactor reads evidence, and how it holds on hostile lines: before (bench/redact_v1.py, the
redactor as of commit 6921374) and after (remediator.redact), in one run.

Prints MB/s for a typical dockerd log (tests/data/dockerd-20.10-start.log plus the corpus, repeated to ~16 MiB,
with a sprinkling of planted credentials), then CPU seconds per hostile line (the cases
tests/unit/test_redact.py times): both on a 16 KiB line (the old redactor is quadratic or worse on some: 64 KiB of
glued key words takes it minutes, 1 MiB would take hours), and the new one on 1 MiB.
Run: .venv/bin/python bench/redact_speed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redact_v1  # noqa: E402

from remediator import redact  # noqa: E402
from tests.unit.test_redact import hostile_lines  # noqa: E402

SMALL = 16 << 10


def typical_log(size: int) -> str:
    parts = [(ROOT / "tests/data/dockerd-20.10-start.log").read_text(errors="replace")]
    parts += [p.read_text(errors="replace") for p in sorted((ROOT / "tests/data/corpus").glob("*.log"))]
    parts.append('time="2026-11-27T10:39:16Z" level=debug msg="Calling POST /v1.41/auth" '
                 'X-Registry-Auth=eyJ1c2VybmFtZSI6ImJvYiJ9 password=hunter22\n')
    base = "".join(parts)
    return (base * (size // len(base) + 1))[:size]


def mbps(fn: object, text: str) -> float:
    t0 = time.process_time()
    fn(text)  # type: ignore[operator]
    return len(text.encode()) / (1 << 20) / (time.process_time() - t0)


def main() -> None:
    log = typical_log(16 << 20)
    print(f"typical dockerd log, {len(log) >> 20} MiB:")
    print(f"  before (v1): {mbps(redact_v1.redact_text, log):7.1f} MB/s")
    print(f"  after:       {mbps(redact.redact_text, log):7.1f} MB/s")
    print("hostile lines (CPU seconds):            before 16 KiB   after 16 KiB   after 1 MiB")
    for name, line in hostile_lines(1 << 20).items():
        small = line[:SMALL]
        times = []
        for fn, text in ((redact_v1.redact_text, small), (redact.redact_text, small), (redact.redact_text, line)):
            t0 = time.process_time()
            fn(text)
            times.append(time.process_time() - t0)
        print(f"  {name:<36} {times[0]:10.3f}s   {times[1]:10.3f}s  {times[2]:10.3f}s")


if __name__ == "__main__":
    main()

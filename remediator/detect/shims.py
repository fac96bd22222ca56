"""containerd stalled on the dead shims of a previous boot: when a timeout or a gap in its log is that.

Role: pure. At boot containerd's io.containerd.runtime.v2.task plugin reloads every task of its runtime state
and cleans up each shim that is gone ('cleaning up after shim disconnected', 'cleaning up dead shim'; containerd
runtime/v2/manager.go loadTasks -> cleanupAfterDeadShim @v1.5-v1.7) *before* it serves its socket. Many or
unresponsive dead shims hold the boot for minutes or for ever (containerd#5597, #5699, #7037, #13848), so
dockerd's or systemd's start deadline runs out; clearing the runtime state (not meta.db) lets it boot.
The two signatures of this class (S12-shim-stall, S12-shim-boot-stall) only count with that context:
a shim line during the boot, and the deadline missed or a gap of STALL seconds before a shim's clean-up.
Must not: do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

Row = tuple[int, str, tuple[str, ...]]  # line number, text, the markers the catalogue found in it
SHIM_RELOAD = re.compile(r"cleaning up dead shim|cleaning up after shim disconnected|failed to load shim|"
                         r"loading tasks in namespace")
LOGRUS_TIME = re.compile(r"time=\"?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
BOOTING = re.compile(r"loading plugin|starting containerd")
STALL = 60  # seconds one dead shim held containerd's boot
NEAR = 10  # lines around a shim's clean-up searched for the boot's plugin lines
IDS = ("S12-shim-stall", "S12-shim-boot-stall")


def _seconds(text: str) -> float | None:
    m = LOGRUS_TIME.search(text)
    return datetime.fromisoformat(m.group(1)).timestamp() if m else None


def stalled_on_timeout(rows: Sequence[Row], seg_start: int, line_no: int) -> bool:
    """containerd ran out of time *while booting* on dead shims: a shim reload line in this attempt, and
    containerd had not booted before the timeout (a booted containerd that later misses a call is not this)."""
    seg = [r for r in rows if r[0] >= seg_start]
    booted = any("ctrd_booted" in marks and no < line_no for no, _, marks in seg)
    return not booted and any(SHIM_RELOAD.search(text) for _, text, _ in seg)


def stalled_on_gap(rows: Sequence[Row], seg_start: int, line_no: int) -> bool:
    """A dead shim's clean-up logged STALL s or more after containerd's line before it, while containerd was still
    loading its plugins (a plugin line within NEAR lines, no boot or serving line before): the boot is stuck."""
    idx = next(i for i, r in enumerate(rows) if r[0] == line_no)
    timed = [t for t in (_seconds(text) for _, text, _ in rows[max(0, idx - NEAR):idx]) if t is not None]
    now = _seconds(rows[idx][1])
    if now is None or not timed or now - timed[-1] < STALL:
        return False
    booted = any("ctrd_booted" in marks or "serving..." in text for no, text, marks in rows[:idx] if no >= seg_start)
    return not booted and any(BOOTING.search(text) for _, text, _ in rows[max(0, idx - NEAR):idx + NEAR])


def plausible(rows: Sequence[Row], seg_start: int, sig_id: str, line_no: int) -> bool:
    """Whether a match of this class holds in its context (any other signature always does)."""
    if sig_id == "S12-shim-stall":
        return stalled_on_timeout(rows, seg_start, line_no)
    if sig_id == "S12-shim-boot-stall":
        return stalled_on_gap(rows, seg_start, line_no)
    return True

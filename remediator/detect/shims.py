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

import bisect
import re
from collections.abc import Sequence
from datetime import datetime

Row = tuple[int, str, tuple[str, ...]]  # line number, text, the markers the catalogue found in it
SHIM_RELOAD = re.compile(r"cleaning up dead shim|cleaning up after shim disconnected|failed to load shim|"
                         r"loading tasks in namespace")
LOGRUS_TIME = re.compile(r"time=\"?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
BOOTING = re.compile(r"loading plugin|starting containerd")
STALL = 60  # seconds one dead shim held containerd's boot
RUNTIME_CLOSE = re.compile(r"msg=\"?shim disconnected\"?")
NEAR = 10  # lines around a shim's clean-up searched for the boot's plugin lines
IDS = ("S12-shim-stall", "S12-shim-boot-stall")


def _seconds(text: str) -> float | None:
    m = LOGRUS_TIME.search(text)
    return datetime.fromisoformat(m.group(1)).timestamp() if m else None


class Evidence:
    """The rows of one excerpt indexed once, so each match is judged in O(log n) (a hostile log may hold
    hundreds of thousands of shim lines)."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = rows
        self.nos = [no for no, _, _ in rows]
        self.shim = [i for i, (_, text, _) in enumerate(rows) if SHIM_RELOAD.search(text)]
        self.booted = [i for i, (_, _, marks) in enumerate(rows) if "ctrd_booted" in marks]
        self.serving = [i for i, (_, text, marks) in enumerate(rows) if "ctrd_booted" in marks or "serving..." in text]

    def at(self, line_no: int) -> int:
        return bisect.bisect_left(self.nos, line_no)

    @staticmethod
    def _any_in(idx: list[int], lo: int, hi: int) -> bool:
        """Whether some index of the sorted list idx lies in [lo, hi)."""
        k = bisect.bisect_left(idx, lo)
        return k < len(idx) and idx[k] < hi

    def stalled_on_timeout(self, seg_start: int, line_no: int) -> bool:
        """containerd ran out of time *while booting* on dead shims: a shim reload line in this attempt, and
        containerd had not booted before the timeout (a booted containerd that later misses a call is not this)."""
        lo = self.at(seg_start)
        return not self._any_in(self.booted, lo, self.at(line_no)) and self._any_in(self.shim, lo, len(self.rows))

    def stalled_on_gap(self, seg_start: int, line_no: int) -> bool:
        """A dead shim's clean-up logged STALL s or more after containerd's line before it, while containerd was
        still booting (a plugin line within NEAR lines, or the clean-up of a shim that failed to load; no boot or
        serving line before): the boot is stuck on it."""
        idx, rows = self.at(line_no), self.rows
        timed = [t for t in (_seconds(text) for _, text, _ in rows[max(0, idx - NEAR):idx]) if t is not None]
        now = _seconds(rows[idx][1])
        if now is None or not timed or now - timed[-1] < STALL:
            return False
        if self._any_in(self.serving, self.at(seg_start), idx):
            return False
        return any(BOOTING.search(text) for _, text, _ in rows[max(0, idx - NEAR):idx + NEAR]) or _loaded_dead(rows, idx)

    def plausible(self, seg_start: int, sig_id: str, line_no: int) -> bool:
        """Whether a match of this class holds in its context (any other signature always does)."""
        if sig_id == "S12-shim-stall":
            return self.stalled_on_timeout(seg_start, line_no)
        if sig_id == "S12-shim-boot-stall":
            return self.stalled_on_gap(seg_start, line_no)
        return True


def _loaded_dead(rows: Sequence[Row], idx: int) -> bool:
    """The clean-up of a shim that failed to *load* (boot path: loadTasks calls cleanupAfterDeadShim at once), not
    of a live shim that went away (runtime path: its onClose logs 'shim disconnected' first; containerd
    runtime/v2/manager.go, shim_load.go @v1.4-v1.7)."""
    return "cleaning up after shim disconnected" in rows[idx][1] and not any(
        RUNTIME_CLOSE.search(text) for _, text, _ in rows[max(0, idx - 3):idx])

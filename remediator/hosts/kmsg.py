"""The kernel log (/dev/kmsg) read without blocking: records after a sequence number, or those of the last minutes.

Role: the hung-task and OOM evidence source of LocalHost.kmsg_since (the probes' "kernel" observation, dmesg.txt).
Must not: block (the device is opened O_NONBLOCK), or read as "nothing happened" what this user may not read.
"""

from __future__ import annotations

import os

from remediator import access
from remediator.errors import Denied


def _record(rec: str) -> tuple[int, int, str] | None:
    """One /dev/kmsg record "prio,seq,usec,flags;message\n..." -> (seq, usec, first message line)."""
    head, _, msg = rec.partition(";")
    parts = head.split(",")
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return int(parts[1]), int(parts[2]) if parts[2].isdigit() else 0, msg.split("\n", 1)[0]


def _uptime_us() -> float:
    with open("/proc/uptime") as fh:
        return float(fh.read().split()[0]) * 1e6


def read_since(seq: int | None, window: float) -> tuple[list[str], int | None]:
    """Kernel log records after sequence number seq (None: those of the last `window` seconds), and the last
    sequence number seen. ([], seq) when there is no /dev/kmsg; Denied when this user may not read it."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except PermissionError as exc:  # kernel.dmesg_restrict, or no CAP_SYSLOG: not "no hung task"
        raise Denied(f"/dev/kmsg: {exc.strerror} for {access.whoami()} (kernel.dmesg_restrict needs "
                     "CAP_SYSLOG)") from exc
    except OSError:
        return [], seq
    lines, last = [], seq
    try:
        now_us = _uptime_us()
        while True:
            try:
                rec = os.read(fd, 16384).decode(errors="replace")
            except BlockingIOError:
                break
            except BrokenPipeError:  # the ring buffer overwrote records we had not read
                continue
            if (parsed := _record(rec)) is None:
                continue
            n, ts, msg = parsed
            last = n
            if (seq is not None and n > seq) or (seq is None and now_us - ts <= window * 1e6):
                lines.append(msg)
    finally:
        os.close(fd)
    return lines, last

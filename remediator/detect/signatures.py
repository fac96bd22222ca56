"""Failure signatures of the dockerd/containerd family (DOMAIN.md §3) and log classification.

Role: pure functions from log text to matched signatures and a diagnosis.
Must not: read files or talk to a host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    id: str
    pattern: re.Pattern[str]
    diagnosis: str  # containerd-state | stale-pidfile | disk-full | persistent-db | kernel-hang
    clears_state: bool  # does this diagnosis justify clearing containerd's runtime state?


def _sig(id_: str, regex: str, diagnosis: str, clears: bool) -> Signature:
    return Signature(id_, re.compile(regex), diagnosis, clears)


SIGNATURES: tuple[Signature, ...] = (
    _sig("S02-fatal-eof", r"(?:level=fatal msg=\"?(?:unexpected )?EOF\"?\s*$|FATA\[\d+\] (?:unexpected )?EOF\s*$)",
         "containerd-state", True),
    _sig("S03-state-missing", r"open \S+/libcontainerd/containerd/[0-9a-f]{64}/\S+: no such file or directory",
         "containerd-state", True),
    _sig("S04-events-log-nul", r"invalid character '\\{1,2}x00' looking for beginning of value", "containerd-state", True),
    _sig("S08-containerd-start-timeout", r"[Ff]ailed to start containerd: timeout waiting for containerd to start",
         "containerd-state", True),
    _sig("S09-dial-managed", r"(?:failed to start daemon|Error starting daemon): failed to dial \"\S+/containerd/"
         r"(?:docker-)?containerd\.sock\"", "containerd-state", True),
    _sig("S10-bolt-invalid", r"\b(?:invalid database|invalid page type|page \d+ already freed|invalid freelist page)\b",
         "containerd-state", True),
    _sig("S20-stale-pidfile", r"(?:pid file found|failed to start daemon), ensure docker is not running or delete \S+",
         "stale-pidfile", False),
    _sig("disk-full", r"no space left on device", "disk-full", False),
    _sig("S10-volume-db", r"error while opening volume store metadata database", "persistent-db", False),
    _sig("S10-network-db", r"Error initializing network controller", "persistent-db", False),
    _sig("S17-hung-task", r"INFO: task (?:dockerd|containerd\S*):\d+ blocked for more than \d+ seconds", "kernel-hang", False),
)

START_MARKERS = re.compile(r"msg=\"?Starting up\"?|libcontainerd: (?:new|started new) \S*containerd process")
READY_MARKERS = re.compile(r"Daemon has completed initialization|API listen on ")


@dataclass(frozen=True)
class Match:
    signature: Signature
    line_no: int
    line: str


def last_start_segment(text: str) -> tuple[int, list[str]]:
    """The lines of the most recent start attempt (from the last 'Starting up'), with its offset."""
    lines = text.splitlines()
    start = 0
    for i, line in enumerate(lines):
        if "Starting up" in line:
            start = i
    return start, lines[start:]


def scan(lines: list[str], offset: int = 0) -> list[Match]:
    out = []
    for i, line in enumerate(lines):
        for sig in SIGNATURES:
            if sig.pattern.search(line):
                out.append(Match(sig, offset + i + 1, line.strip()))
    return out


def start_failure(text: str) -> tuple[bool, list[Match]]:
    """Did the last start attempt in this log fail, and which signatures does it show?"""
    offset, lines = last_start_segment(text)
    started = any(READY_MARKERS.search(line) for line in lines)
    return (not started and bool(lines)), scan(lines, offset)


def diagnose(matches: list[Match]) -> str:
    """One diagnosis from matches; a cause outside containerd's state always wins (invariant 9)."""
    vetoes = [m.signature.diagnosis for m in matches if not m.signature.clears_state]
    if vetoes:
        return vetoes[0]
    if matches:
        return "containerd-state"
    return "unknown"

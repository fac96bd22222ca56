"""The grammar of every identifier that carries authority: incident ids, approval ids, host names, step ids.

Role: one place that says what an id may look like, checked at both ends (the CLI before it builds a request,
the daemon's API before it looks anything up). An id that does not match is bad input (exit 2), never a lookup:
so `deny 'ID/approve?'` cannot become a request to another route, and a control character never reaches a log.
Must not: import anything from the package but errors; do I/O.
"""

from __future__ import annotations

import re
from typing import Final

from remediator.errors import InputError

INCIDENT: Final = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{6}")  # journal.Journal.open: 20261205T123456-abcdef
APPROVAL: Final = re.compile(r"[0-9a-f]{12}")  # daemon.store.Store.ask: uuid4().hex[:12]
HOST: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # settings.HostConfig.name
STEP: Final = re.compile(r"[a-z][a-z0-9_]{0,40}")  # runbook.Step.id
RUNBOOK: Final = re.compile(r"[a-z][a-z0-9-]{0,60}")  # runbook.Runbook.name

_KINDS: Final = {"incident id": INCIDENT, "approval id": APPROVAL, "host name": HOST, "step id": STEP,
                 "runbook name": RUNBOOK}


def shown(value: str, limit: int = 80) -> str:
    """A value as it may be printed in an error: control characters escaped, cut at `limit`."""
    text = value.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + f"... ({len(value)} characters)"


def matches(kind: str, value: object) -> bool:
    return isinstance(value, str) and _KINDS[kind].fullmatch(value) is not None


def check(kind: str, value: object, where: str = "") -> str:
    """`value` if it is a well-formed `kind`, else InputError naming the kind and the grammar (exit 2)."""
    if matches(kind, value):
        return str(value)
    pattern = _KINDS[kind].pattern
    prefix = f"{where}: " if where else ""
    raise InputError(f"{prefix}{shown(str(value))!s} is not a valid {kind} (expected {pattern})")


def one_of(kinds: tuple[str, ...], value: object, where: str = "") -> str:
    """`value` if it is well-formed as any of `kinds` (e.g. an approval id or an incident id)."""
    if any(matches(k, value) for k in kinds):
        return str(value)
    prefix = f"{where}: " if where else ""
    raise InputError(f"{prefix}{shown(str(value))} is not a valid {' or '.join(kinds)}")

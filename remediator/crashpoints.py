"""Named points of a remediation where a test stops this process exactly: a SIGKILL, a state filesystem that fills.

Role: the runner (engine) calls `reached("during:<step>")` (the step ran, its result is not journaled),
`reached("after:<step>")` (its result is journaled) and `reached("undone:<step>")` (its rollback finished and is
journaled); the state surgery calls `reached("midway:backup")`, `"midway:clear"` and `"midway:quarantine"` (one
entry into the copy, the removal or the quarantine move). In production nothing is installed and `reached` does
nothing: no environment variable, option or file can install a hook. A test injects one in-process with
`install` — the e2e kill tests run `python -m tests.crashrun` (a test-only entry point around the CLI's main).
Must not: import anything of remediator (bottom layer), or read the environment.
"""

from __future__ import annotations

from collections.abc import Callable

Checkpoint = Callable[[str], None]


def nowhere(point: str) -> None:
    """The production checkpoint: a named point is only a name."""


_hook: Checkpoint = nowhere


def install(hook: Checkpoint) -> Checkpoint:
    """Make `hook` see every point this process reaches; return the one it replaces (to put back)."""
    global _hook
    old, _hook = _hook, hook
    return old


def reached(point: str) -> None:
    _hook(point)

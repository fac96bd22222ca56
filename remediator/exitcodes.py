"""The CLI's exit codes: one table, each code one meaning (a public interface: scripts depend on them).

Role: the only place the numbers and their meanings are written. The CLI renders MEANING into the epilog of
every command's --help (only the codes that command can return, COMMANDS), and README.md's exit-code table is
this table (tests/unit/test_exitcodes.py compares them). 1 is reserved for a host that was changed and could not
be put back; everything the operator's own environment causes (no permission, a missing tool, bad input) is 2.
Must not: import anything.
"""

from __future__ import annotations

OK = 0
FAILED = 1  # the host was changed and the change could not be undone: only this
BAD_INPUT = 2  # bad input or environment (config, runbook, arguments, unknown id or host, permission); nothing changed
NOT_HEALED = 3
REFUSED = 4
HOST_BUSY = 5
ESCALATED = 6
INTERRUPTED = 7  # SIGINT/SIGTERM: the step under way finished, the incident is in flight; `run` resumes it
NO_DAEMON = 8  # no daemon answers on daemon.api_socket
SICK = 9  # probe / diagnose: the verdict is sick or did not settle; nothing was changed
INTERNAL = 10  # a bug: an exception nothing expected (remediator/cli/guard.py; REMEDIATOR_DEBUG=1 prints the traceback)

MEANING: dict[int, str] = {
    OK: "done: recovered, nothing to do (healthy, degraded, starting), dry-run planned, evidence collected, "
        "a listing printed",
    FAILED: "failed: the host was changed and the change could not be undone — it needs a person now (only this)",
    BAD_INPUT: "bad input or environment: config, runbook or arguments (every problem as "
               "`file:line:col: field: message`; an id or host name that does not fit `remediator/idents.py`, named "
               "and escaped), an unknown id or host, no permission (`no-access`), a tool or socket that cannot be used "
               "from here, a FIFO, socket, device or directory given as a file, a damaged journal or daemon store "
               "(named, never rewritten), a stdout that cannot be written; nothing was changed",
    NOT_HEALED: "not healed, host as it was: rolled back, or a step failed before anything was changed (and the "
                "ladder found no other fix)",
    REFUSED: "refused: a risky step was not approved, the verdict did not settle (suspect), or the diagnosis does "
             "not fit this runbook",
    HOST_BUSY: "host busy: another incident holds this host's lock",
    ESCALATED: "escalated: diagnosed, evidence kept, no safe automatic fix (disk full, kernel hang, unknown, …)",
    INTERRUPTED: "interrupted (SIGINT/SIGTERM): the step under way finished; the incident is in flight and `run` "
                 "resumes it",
    NO_DAEMON: "no daemon answers on daemon.api_socket (is `remediator daemon` running?)",
    SICK: "sick: `probe` or `diagnose` found a fault, or the verdict did not settle; nothing was changed",
    INTERNAL: "internal error: a bug in remediator (one line; REMEDIATOR_DEBUG=1 prints the traceback) — please "
              "report it",
}

_INCIDENT = (OK, FAILED, BAD_INPUT, NOT_HEALED, REFUSED, HOST_BUSY, ESCALATED, INTERRUPTED)
_API = (OK, BAD_INPUT, NO_DAEMON)

COMMANDS: dict[str, tuple[int, ...]] = {
    "run": _INCIDENT,
    "resume": _INCIDENT,
    "evidence collect": (OK, BAD_INPUT, NOT_HEALED, HOST_BUSY, INTERRUPTED),
    "demo": (OK, FAILED, BAD_INPUT, NOT_HEALED, REFUSED, ESCALATED, INTERRUPTED),
    "probe": (OK, BAD_INPUT, SICK),
    "diagnose": (OK, BAD_INPUT, SICK),
    "signatures": (OK,),
    "incidents": (OK, BAD_INPUT),
    "config check": (OK, BAD_INPUT),
    "runbook validate": (OK, BAD_INPUT),
    "runbook graph": (OK, BAD_INPUT),
    "daemon": (OK, BAD_INPUT),
    "status": (OK, BAD_INPUT),
    "approvals": _API,
    "approve": _API,
    "deny": _API,
    "release": _API,
    "pause": _API,
    "resume-host": _API,
}
COMMANDS = {name: (*codes, INTERNAL) for name, codes in COMMANDS.items()}  # any command may meet a bug
"""The codes each command can return (its full name, as typed after `remediator`)."""


def epilog(command: str | None) -> str:
    """The end of `remediator COMMAND --help`: the codes it can return (None: `remediator --help`, every code).
    `\\b` keeps click from re-flowing it."""
    codes = COMMANDS[command] if command is not None else tuple(MEANING)
    return "\b\nExit codes:\n" + "\n".join(f"  {code}  {MEANING[code]}" for code in codes)


def markdown_table() -> str:
    """The README's exit-code table, as it must read."""
    return "\n".join(["| exit code | meaning |", "|---|---|", *(f"| {c} | {m} |" for c, m in MEANING.items())])

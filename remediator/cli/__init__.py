"""The command line (the faces of remediator): `remediator = "remediator.cli:main"`.

root (the group, run, resume, evidence, config, runbook, incidents, demo) → daemon (the daemon's commands) →
diag (probe, diagnose, signatures) → common (consoles, --config, epilogs) → guard (no traceback reaches a user).
Role: parse arguments, render with rich, ask for approvals, map outcomes to exit codes. Imported by nothing.
"""

from remediator.cli.root import main

__all__ = ["main"]

"""The daemon's log: one JSON object per line on stdout, redacted.

Role: what journald keeps as is, and what `Daemon(log=...)` replaces in tests.
Must not: print anything but one JSON line per event.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from remediator.redact import redact_obj, redact_text


def json_log(event: str, level: str = "info", **fields: Any) -> None:
    """One JSON object per line on stdout (journald keeps it as is)."""
    line = redact_text(json.dumps(redact_obj({"ts": round(time.time(), 3), "level": level, "event": event, **fields}),
                                  default=str))  # objects, then their str() (default=str) too
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

"""Print the fuzz suite's counts and times at the end of the session (even with -q)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.fuzz.test_fuzz import STATS

    for line in STATS:
        terminalreporter.write_line(line)

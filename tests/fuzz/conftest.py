"""The fuzz suite's `tmp` fixture; its counts and times printed at the end of the session (even with -q)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.fuzz.test_fuzz import STATS

    for line in STATS:
        terminalreporter.write_line(line)


@pytest.fixture
def tmp(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory of this test alone. Not pytest's tmp_path: a pytest run elsewhere on the machine as the same
    user prunes the older numbered basetemp directories, and this suite runs for minutes."""
    path = Path(tempfile.mkdtemp(prefix=f"rmd-fuzz-{request.node.name}-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)

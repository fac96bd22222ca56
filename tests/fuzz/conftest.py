"""The fuzz suite's `tmp` fixture; its counts and times printed at the end of the session (even with -q): each
test hands the lines it added to STATS to its report (tests/conftest.py prints them, under pytest-xdist too)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SUMMARY


@pytest.fixture(autouse=True)
def _stats_to_report(request: pytest.FixtureRequest) -> Iterator[None]:
    from tests.fuzz.test_fuzz import STATS

    before = len(STATS)
    yield
    request.node.user_properties.extend((SUMMARY, line) for line in STATS[before:])


@pytest.fixture
def tmp(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory of this test alone. Not pytest's tmp_path: a pytest run elsewhere on the machine as the same
    user prunes the older numbered basetemp directories, and this suite runs for minutes."""
    path = Path(tempfile.mkdtemp(prefix=f"rmd-fuzz-{request.node.name}-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)

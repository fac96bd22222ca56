"""End-to-end: a `run` whose stdout goes away (`| head -1`, a closed pipe) still finishes its incident."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from remediator.lab import Sandbox
from tests.conftest import REPO, shim_ids

pytestmark = pytest.mark.dockerd


def test_a_run_whose_stdout_reader_is_gone_still_heals_and_says_nothing(sandbox: Sandbox) -> None:
    """Before issue 14.9 the first progress line raised BrokenPipeError: the run stopped between two steps
    (click exited 1). Now the output is dropped, the incident runs to its end and keeps its exit code."""
    before = sandbox.running()
    sandbox.corrupt_metadb()
    cfg = sandbox.root / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(sandbox.root / "state")))
    r, w = os.pipe()
    os.close(r)  # the reader went away before the first line
    try:
        p = subprocess.run([sys.executable, "-m", "remediator", "run", "--config", str(cfg), "--host", "t", "--yes"],
                           stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.PIPE, timeout=240, cwd=REPO,
                           check=False)
    finally:
        os.close(w)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err
    assert sandbox.running() == before and shim_ids(sandbox) == sorted(before)

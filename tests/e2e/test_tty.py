"""Interactive approval at a real pty: approve the stop, deny the clear -> the stop is undone."""

from __future__ import annotations

import sys

import pexpect
import pytest

from remediator.lab import Sandbox
from tests.conftest import REPO, shim_ids

pytestmark = pytest.mark.dockerd


def test_operator_approves_stop_and_denies_clear(sandbox: Sandbox) -> None:
    sandbox.wedge()
    cfg = sandbox.root / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(sandbox.root / "state")))
    seed = str(REPO / "runbooks" / "docker-libcontainerd.yaml")  # chosen by hand: a restart "did not help"
    child = pexpect.spawn(sys.executable, ["-m", "remediator", "run", "--config", str(cfg), "--host", "t", "--runbook", seed],
                          cwd=str(REPO), timeout=120, encoding="utf-8", dimensions=(50, 200))
    try:
        child.expect(r"Run risky step .*stop")
        child.sendline("y")
        child.expect(r"Run risky step .*quarantine")
        child.sendline("n")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 3, child.before
    assert sandbox.host.ping().ok, "denying the clear must undo the stop: dockerd runs again"
    assert len(shim_ids(sandbox)) == len(sandbox.running())

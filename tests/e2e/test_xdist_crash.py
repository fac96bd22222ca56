"""End-to-end: a pytest-xdist worker that dies in the middle of a real-dockerd test runs no fixture teardown; the
controller (tests/conftest.py, pytest_testnodedown) removes the sandbox that worker made: no process naming it,
no mount under it, no directory. A nested `pytest -n 1` with this suite's conftest as its plugin runs a test that
starts a Sandbox and then kills its own worker with SIGKILL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediator.lab import Sandbox
from tests.conftest import REPO, require_docker
from tests.e2e.test_demo_daemon import leftovers

pytestmark = pytest.mark.dockerd

CRASHING = '''
import os, signal
from pathlib import Path
from remediator.lab import Sandbox

def test_dies_with_a_running_sandbox():
    sb = Sandbox(name="t")
    sb.start()
    sb.populate(1)
    Path(os.environ["RMD_CRASH_ROOT_FILE"]).write_text(str(sb.root))
    os.kill(os.getpid(), signal.SIGKILL)  # this worker: no teardown, no finally
'''


@pytest.fixture
def nested() -> Iterator[Path]:
    require_docker()
    d = Path(tempfile.mkdtemp(prefix="rmd-nested-", dir="/tmp"))
    try:
        yield d
    finally:  # if the controller's net failed, the sandbox is removed here (and the test has failed)
        made = d / "root"
        if made.exists() and Path(made.read_text()).exists():
            Sandbox(root=made.read_text()).cleanup()
        subprocess.run(["rm", "-rf", str(d)], check=False)


def test_a_crashed_worker_leaves_no_sandbox_behind(nested: Path) -> None:
    (nested / "test_crash.py").write_text(CRASHING)
    (nested / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "RMD_CRASH_ROOT_FILE": str(nested / "root"), "PYTEST_ADDOPTS": ""}
    res = subprocess.run([sys.executable, "-m", "pytest", "-c", str(nested / "pytest.ini"), "--rootdir", str(nested),
                          "-p", "tests.conftest", "-p", "no:cacheprovider", "-n", "1", "-q",
                          "--basetemp", str(nested / "base"), str(nested / "test_crash.py")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out  # the test is reported failed: its worker crashed
    assert "crashed" in out or "node down" in out, out
    root = Path((nested / "root").read_text())
    assert str(root).startswith("/tmp/rmd-lab-"), root
    assert leftovers(root) == {"processes": [], "mounts": [], "sockets": []}
    assert not root.exists(), f"the crashed worker's sandbox {root} is still there"

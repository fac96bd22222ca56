"""A built wheel ships every module of the source tree (issue 15: a plain `pip install .` once had no
remediator.daemon, and `daemon`/`status` died with ModuleNotFoundError while the editable install hid it).

The wheel is built from this checkout (not editable), installed into a fresh venv outside the checkout, and every
module found under remediator/ is imported from that venv, from a directory that is not the checkout. The venv sees
the dependencies of the running interpreter through a .pth line (its site-packages, whose own .pth files - the
editable install among them - are not processed there), so the test needs no index; .ci/run does the full
`pip install` of the wheel and of pipx and drives every command from them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO

IMPORT_ALL = """
import importlib, importlib.util, json, sys
from importlib import resources
names = json.loads(sys.argv[1])
where = {}
for name in names:  # a __main__ would run the CLI: found, not run
    where[name] = importlib.util.find_spec(name).origin if name.endswith("__main__") else importlib.import_module(name).__file__
runbooks = sorted(p.name for p in resources.files("remediator.runbooks").iterdir() if p.name.endswith(".yaml"))
print(json.dumps({"where": where, "runbooks": runbooks}))
"""


def _modules() -> list[str]:
    tree = REPO / "remediator"
    names = []
    for path in sorted(tree.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if "__pycache__" in parts:
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("not a source checkout")
    work = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # setuptools builds in the checkout (build/, *.egg-info): one build of this checkout at a time (sessions and
    # pytest-xdist workers), and one per session: a worker takes the wheel another worker of its session built
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent  # the session's basetemp, above each worker's popen-gwN
    dist = session / "wheel-dist"
    lock = Path(tempfile.gettempdir()) / f"rmd-wheel-{hashlib.sha256(str(REPO).encode()).hexdigest()[:16]}.lock"
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not list(dist.glob("remediator-*.whl")):
            subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(REPO)], check=True, cwd=work, timeout=600)
    (wheel,) = dist.glob("remediator-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(py), "install", "--no-deps", str(wheel)], check=True, cwd=work, timeout=300)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "deps-of-the-test-runner.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    return venv


def test_the_wheel_ships_every_module_of_the_source_tree(wheel_venv: Path, tmp_path: Path) -> None:
    names = _modules()
    assert {"remediator.daemon.core", "remediator.cli.daemon", "remediator.hosts.local"} <= set(names)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    res = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", IMPORT_ALL, json.dumps(names)], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout)
    outside = {n: f for n, f in got["where"].items() if not f.startswith(str(wheel_venv.resolve()))
               and not f.startswith(str(wheel_venv))}
    assert not outside, f"imported from elsewhere than the wheel's venv: {outside}"
    assert got["runbooks"] == sorted(p.name for p in (REPO / "runbooks").glob("*.yaml"))


@pytest.mark.parametrize("command", ["daemon", "status", "approvals", "probe", "demo"])
def test_the_installed_script_runs_the_commands_that_once_died(wheel_venv: Path, tmp_path: Path, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    res = subprocess.run([str(wheel_venv / "bin" / "remediator"), command, "--help"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "Exit codes:" in res.stdout, res.stdout + res.stderr

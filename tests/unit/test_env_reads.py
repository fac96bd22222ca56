"""Production code reads no environment variable for the tests' sake: every read of os.environ / os.getenv in
remediator/ is one of the user's or systemd's, named here. (The crash points the kill tests need are installed
in-process by tests/crashrun.py, never armed from the environment.)"""

from __future__ import annotations

import ast
from pathlib import Path

import remediator

USERS = {
    "REMEDIATOR_CONFIG": "the default --config (a user feature)",
    "REMEDIATOR_DEBUG": "the traceback of an internal error (a user's debug switch)",
    "TMPDIR": "labinit reads back the TMPDIR it sets for the lab daemon it starts",
    "NOTIFY_SOCKET": "systemd's sd_notify", "WATCHDOG_USEC": "systemd's watchdog", "WATCHDOG_PID": "systemd's watchdog",
}


def _reads(tree: ast.AST) -> list[str]:
    """The names read from the environment (a name that is not a literal reads as '?')."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            env_get = f.attr == "get" and isinstance(f.value, ast.Attribute) and f.value.attr == "environ"
            getenv = f.attr == "getenv"
            if env_get or getenv:
                arg = node.args[0] if node.args else None
                out.append(arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "?")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) \
                and isinstance(node.value, ast.Attribute) and node.value.attr == "environ":
            key = node.slice
            out.append(key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "?")
    return out


def test_every_environment_read_in_production_is_a_users_or_systemds() -> None:
    root = Path(remediator.__file__).parent
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for name in _reads(ast.parse(path.read_text(), str(path))):
            found.setdefault(name, []).append(str(path.relative_to(root)))
    assert set(found) <= set(USERS), {k: v for k, v in found.items() if k not in USERS}
    assert "REMEDIATOR_CONFIG" in found, "the scan sees reads (it found the config's)"


def test_the_scan_catches_the_shapes_a_test_switch_would_take() -> None:
    src = 'import os\nos.environ.get("A")\nos.getenv("B")\nos.environ["C"]\nos.environ.get(name)\nos.environ["D"] = "x"\n'
    assert sorted(_reads(ast.parse(src))) == ["?", "A", "B", "C"]

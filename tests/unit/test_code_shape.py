"""The shape of the production code (issue 16): small enough to read at one sitting, and typed without escapes.

- no function over MAX_FUNCTION_LINES lines (from its `def` line to its last line, nested functions included);
- no cyclomatic complexity over MAX_COMPLEXITY (ruff's C901, the number CI's `ruff check` uses: pyproject.toml);
- every module under MAX_MODULE_LINES lines, except the catalogue's data (CATALOGUE_DATA, named one by one);
- no `# type: ignore` in remediator/.

KNOWN_OFFENDERS was the list of offenders when the check landed; issue 16 brought it to empty. A new offender fails the
test; so does a listed one that no longer offends (remove it from the list: the list cannot go stale). The C901
per-file-ignores in pyproject.toml must name exactly the files of the listed complexity offenders.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import remediator
from tests.conftest import REPO

PACKAGE = Path(remediator.__file__).parent
MAX_FUNCTION_LINES = 50
MAX_COMPLEXITY = 15
MAX_MODULE_LINES = 400  # a module has fewer lines than this
CATALOGUE_DATA = {"remediator/detect/catalogue.py"}  # rows of data, not code: the only modules allowed to be longer

# (kind, where): where is "path:qualified.name" for functions, "path" otherwise. Keep it empty.
KNOWN_OFFENDERS: set[tuple[str, str]] = set()  # empty since issue 16: a new offender fails the test

TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore")


def _modules() -> dict[str, str]:
    return {p.relative_to(REPO).as_posix(): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its qualified name (Class.method, outer.inner)."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{prefix}{child.name}", child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _complexity() -> dict[tuple[str, int], int]:
    """(path, def line) -> complexity for every function over MAX_COMPLEXITY, as ruff's C901 counts it (run isolated
    from pyproject.toml, whose per-file-ignores would hide the known offenders)."""
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "C901", "--config",
                          f"lint.mccabe.max-complexity = {MAX_COMPLEXITY}", "--output-format", "json", str(PACKAGE)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode in (0, 1), res.stderr
    found = {}
    for d in json.loads(res.stdout):
        cc = re.search(r"too complex \((\d+) > ", d["message"])
        assert d["code"] == "C901" and cc, d
        found[(Path(d["filename"]).resolve().relative_to(REPO).as_posix(), d["location"]["row"])] = int(cc.group(1))
    return found


def offenders() -> dict[tuple[str, str], str]:
    """(kind, where) -> how much, for everything in remediator/ that breaks a rule of this module's docstring."""
    found: dict[tuple[str, str], str] = {}
    complex_at = _complexity()
    for path, text in _modules().items():
        lines = len(text.splitlines())
        if lines >= MAX_MODULE_LINES and path not in CATALOGUE_DATA:
            found[("module-lines", path)] = f"{lines} lines"
        ignores = len(TYPE_IGNORE.findall(text))
        if ignores:
            found[("type-ignore", path)] = f"{ignores} '# type: ignore'"
        for name, fn in _functions(ast.parse(text)):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found[("function-lines", f"{path}:{name}")] = f"{length} lines"
            if (path, fn.lineno) in complex_at:
                found[("complexity", f"{path}:{name}")] = f"complexity {complex_at.pop((path, fn.lineno))}"
    assert not complex_at, f"C901 reports no function of this name at these lines: {complex_at}"
    return found


def test_no_new_offender_and_no_stale_one() -> None:
    found = offenders()
    new = {k: v for k, v in found.items() if k not in KNOWN_OFFENDERS}
    stale = KNOWN_OFFENDERS - found.keys()
    assert not new, f"over the limits (split the function or module, or type it properly): {new}"
    assert not stale, f"no longer offends: remove from KNOWN_OFFENDERS (issue 16): {sorted(stale)}"


def test_the_c901_per_file_ignores_are_the_known_complexity_offenders() -> None:
    ruff = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert ruff["mccabe"]["max-complexity"] == MAX_COMPLEXITY and "C90" in ruff["select"]
    ignored = {path for path, codes in ruff.get("per-file-ignores", {}).items()
               if "C901" in codes and path.startswith("remediator/")}  # tests and bench are not production code
    assert ignored == {where.split(":")[0] for kind, where in KNOWN_OFFENDERS if kind == "complexity"}


def test_the_shape_check_sees_what_it_must(tmp_path: Path) -> None:
    """The measures themselves: a long nested method, a deep if-chain and an escape are each seen."""
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class K:\n    def m(self):\n{body}\n        def inner():\n            pass\n")
    lengths = {name: (fn.end_lineno or 0) - fn.lineno + 1 for name, fn in _functions(tree)}
    assert lengths == {"K.m": MAX_FUNCTION_LINES + 3, "K.m.inner": 2}
    assert TYPE_IGNORE.search("x = 1  # type: ignore[assignment]") and not TYPE_IGNORE.search("x = 1  # typed")
    chain = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(MAX_COMPLEXITY))
    (tmp_path / "deep.py").write_text(f"def deep(x):\n{chain}    return -1\n")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "C901", "--config",
                          f"lint.mccabe.max-complexity = {MAX_COMPLEXITY}", "--output-format", "json", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert [d["message"] for d in json.loads(res.stdout)] == [
        f"`deep` is too complex ({MAX_COMPLEXITY + 1} > {MAX_COMPLEXITY})"]

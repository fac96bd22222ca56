"""No user-controlled text is ever interpreted as Rich markup (issue 9): a static audit of the two faces.

Every f-string handed to a Rich console (print, rule), a table row or a table title may interpolate only
escape(...) or a value from the allow-list below (numbers and remediator's own vocabulary, each with the reason
it cannot carry user text). A new interpolation of anything else fails this test until it is escaped or
justified here. The dynamic side (hostile strings through the CLI) is tests/unit/test_hostile.py and the fuzz
suite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import remediator

FACES = ("cli/root.py", "cli/diag.py", "cli/daemon.py", "cli/common.py", "cli/incidents.py")
INTERNAL = {  # expression -> why it cannot hold user text
    "stamp": "time.strftime of the clock",
    "label": "a step id: runbook.ID pattern, [a-z0-9_-]",
    "STYLE.get(kind, '')": "a style name from a fixed table",
    "kind": "a journal event kind: engine vocabulary",
    "colour": "a colour name from a fixed table",
    "' ' * 28": "spaces",
    "v.diagnosis": "DIAGNOSES vocabulary",
    "report.diagnosis": "DIAGNOSES vocabulary",
    "diagnosis": "DIAGNOSES vocabulary",
    "confidence": "high/medium/low",
    "mode": "dry-run/run/interactive",
    "h.service.kind": "a Literal of the config schema",
    "host": "a host name: settings pattern [A-Za-z0-9_.-]",
    "runbook or '— (nothing to do)'": "a runbook name: runbook name pattern [a-z0-9-]",
    "o['outcome']": "a probe outcome: ok/slow/refused/timeout/missing/error",
    "sid": "a signature id from the catalogue",
}

NUMBERS = {"r.number", "r.wall", "v.rounds", "no", "containers", "settings.ladder.max_steps"}  # ints and floats


ESCAPERS = ("escape", "shown")  # cli.common.shown = escape(redact_text(...)) (remediator/outputs.py)


def _unescaped(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ESCAPERS:
            return  # everything inside escape() is text
        if isinstance(node, ast.FormattedValue):
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and \
                    node.value.func.id in ESCAPERS:
                return
            expr = ast.unparse(node.value)
            numeric = isinstance(node.value, ast.BinOp) or expr.startswith("len(") or expr in NUMBERS
            if expr not in INTERNAL and not numeric:
                found.append((node.lineno, expr))
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        sink = (isinstance(node.func, ast.Attribute) and node.func.attr in ("print", "rule", "add_row")) or \
            (isinstance(node.func, ast.Name) and node.func.id == "Table")
        if sink:
            for arg in [*node.args, *(k.value for k in node.keywords if k.arg == "title")]:
                visit(arg)
    return found


def test_every_interpolation_into_markup_is_escaped_or_known_internal() -> None:
    root = Path(remediator.__file__).parent
    problems = [f"{f}:{line}: {expr}" for f in FACES for line, expr in _unescaped(ast.parse((root / f).read_text()))]
    assert not problems, "interpolated into Rich markup without escape():\n" + "\n".join(problems)


def test_the_audit_catches_an_unescaped_path() -> None:
    planted = ast.parse('out.print(f"kept {sandbox.root}")\nout.print(f"ok {escape(p)} {len(x)}")\n')
    assert _unescaped(planted) == [(1, "sandbox.root")]

"""Output that is never cut (issue 15): outside a terminal nothing is hard-wrapped, whatever $COLUMNS says, so
ids, verdicts, runbook names, hosts and paths reach pipes and logs whole; on a narrow terminal, tables fold the
other columns first and never put an ellipsis in an id."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import remediator
from remediator.cli import main
from remediator.cli.common import Table, console, id_column, self_command
from remediator.daemon.store import Store
from remediator.journal import Journal

LONG = "a-host-name-that-is-long-enough-to-be-cut-0123456789"


def _config(tmp: Path, *names: str) -> Path:
    cfg = tmp / "c.yaml"
    cfg.write_text(f"state_dir: {tmp / 'state'}\nhosts:\n" + "".join(f"  - name: {n}\n" for n in names))
    return cfg


def test_status_in_a_pipe_at_40_columns_prints_every_value_whole(tmp_path: Path) -> None:
    cfg = _config(tmp_path, LONG)
    journal = Journal(tmp_path / "state")
    row = journal.open_incident(host=LONG, runbook="docker-libcontainerd", sha256="0", dry_run=False)
    Store(tmp_path / "state").set_status(LONG, "awaiting-approval", verdict="dockerd-wedged",
                                         reason="waiting for `remediator approve` on step stop", open_incident=row.id)
    res = CliRunner().invoke(main, ["status", "--config", str(cfg)], env={"COLUMNS": "40"})
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if LONG in ln)
    for whole in (LONG, "awaiting-approval", "dockerd-wedged", row.id, "approve` on step stop"):
        assert whole in line, (whole, res.output)
    assert "…" not in res.output
    js = CliRunner().invoke(main, ["status", "--config", str(cfg), "--json"], env={"COLUMNS": "40"})
    assert json.loads(js.output)["hosts"][0]["open_incident"] == row.id


def test_incidents_and_config_check_in_a_pipe_at_40_columns(tmp_path: Path) -> None:
    cfg = _config(tmp_path, LONG)
    journal = Journal(tmp_path / "state")
    row = journal.open_incident(host=LONG, runbook="dockerd-restart", sha256="0", dry_run=False)
    journal.close(row.id, "recovered", "dockerd answers and the containers run")
    res = CliRunner().invoke(main, ["incidents", "--config", str(cfg)], env={"COLUMNS": "40"})
    line = next(ln for ln in res.output.splitlines() if row.id in ln)
    assert LONG in line and "dockerd-restart" in line and "recovered" in line, res.output
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)], env={"COLUMNS": "40"})
    assert res.exit_code == 0 and f"ok {cfg}: state_dir {tmp_path / 'state'}, 1 host(s)" in res.output
    js = json.loads(CliRunner().invoke(main, ["config", "check", "--config", str(cfg), "--json"]).output)
    assert js["config"] == str(cfg) and js["hosts"][0]["name"] == LONG


def test_runbook_validate_json_lists_what_it_checked() -> None:
    res = CliRunner().invoke(main, ["runbook", "validate", "--json", "dockerd-restart"], env={"COLUMNS": "40"})
    got = json.loads(res.output)
    assert res.exit_code == 0 and got["problems"] == [] and got["valid"][0]["name"] == "dockerd-restart"
    assert "stop" in got["valid"][0]["risky"]


def test_a_console_outside_a_terminal_ignores_columns_and_keeps_rules_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    c = console()
    buf = io.StringIO()
    c.file = buf
    text = "x" * 300
    c.print(text)
    c.rule("title")
    lines = buf.getvalue().splitlines()
    assert lines[0] == text and len(lines[1]) == 80


def test_on_a_narrow_terminal_an_id_column_folds_and_never_ellipsizes() -> None:
    ident = "20261205T124321-f4e069"
    table = Table(id_column("incident"), id_column("runbook"), "summary")
    table.add_row(ident, "docker-libcontainerd", "a summary long enough to take every column there is " * 3)
    buf = io.StringIO()
    Console(file=buf, width=60, force_terminal=True, color_system=None).print(table)
    out = buf.getvalue()
    assert "…" not in out
    assert ident in out and "docker-libcontainerd" in out, "the other column gave up its width first: the ids whole"
    buf = io.StringIO()
    Console(file=buf, width=30, force_terminal=True, color_system=None).print(table)
    cells = "".join(ln.split("│")[1].strip() if "│" in ln else "" for ln in buf.getvalue().splitlines())
    assert "…" not in buf.getvalue() and ident in cells, "too narrow even for the id: folded, every character kept"


def test_the_hint_names_the_running_executable_as_it_can_be_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bin" / "remediator"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bin/remediator", "demo"])  # .venv/bin/remediator, typed from the checkout
    assert self_command() == str(script)
    monkeypatch.setenv("PATH", str(script.parent))
    monkeypatch.setattr(sys, "argv", ["remediator", "demo"])  # found on PATH
    assert self_command() == str(script)
    monkeypatch.setattr(sys, "argv", [str(Path(remediator.__file__).parent / "__main__.py"), "demo"])  # python -m
    assert self_command() == f"{sys.executable} -m remediator"


def test_an_incident_timeline_prints_paths_whole(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "h")
    journal = Journal(tmp_path / "state")
    row = journal.open_incident(host="h", runbook="docker-libcontainerd", sha256="0", dry_run=False)
    path = "/var/lib/docker/" + "/".join(["a-rather-long-directory-name"] * 8) + "/containerd/daemon"
    journal.event(row.id, "result", "quarantine", ok=True, summary=f"moved {path} aside")
    res = CliRunner().invoke(main, ["incidents", row.id, "--config", str(cfg)], env={"COLUMNS": "40"})
    assert res.exit_code == 0 and f"moved {path} aside" in res.output, res.output

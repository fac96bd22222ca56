"""The CLI as a face: config discovery, `config check`, `incidents --json`, ids never cut, no markup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from remediator.cli import main
from remediator.journal import Journal
from remediator.settings import DEFAULT_CONFIG


def _config(tmp: Path) -> Path:
    cfg = tmp / "c.yaml"
    cfg.write_text(f"state_dir: {tmp / 'state'}\nhosts:\n  - name: h\n")
    return cfg


def test_config_comes_from_the_flag_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path)
    monkeypatch.delenv("REMEDIATOR_CONFIG", raising=False)
    if not DEFAULT_CONFIG.is_file():
        res = CliRunner().invoke(main, ["config", "check"])
        assert res.exit_code == 2 and "REMEDIATOR_CONFIG" in res.output
    res = CliRunner().invoke(main, ["config", "check"], env={"REMEDIATOR_CONFIG": str(cfg)})
    assert res.exit_code == 0 and "1 host(s)" in res.output.replace("\n", " ")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)])
    assert res.exit_code == 0


def test_config_check_lists_every_problem_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("state_dir: x\nhosts: []\n")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(bad)])
    assert res.exit_code == 2 and f"{bad}:1:1: state_dir" in res.output and f"{bad}:2:1: hosts" in res.output


def test_incidents_json_and_full_ids_in_a_narrow_table(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    journal = Journal(tmp_path / "state")
    row = journal.open_incident(host="h", runbook="[bold]x[/]", sha256="0", dry_run=False)
    journal.close(row.id, "recovered", "done [/] with markup")
    res = CliRunner().invoke(main, ["incidents", "--config", str(cfg), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["id"] == row.id
    res = CliRunner().invoke(main, ["incidents", "--config", str(cfg)], env={"COLUMNS": "60"})
    assert res.exit_code == 0 and row.id in res.output, "the id is copied back into `incidents ID`: never cut"
    one = CliRunner().invoke(main, ["incidents", row.id, "--config", str(cfg), "--json"])
    assert one.exit_code == 0 and json.loads(one.output)["outcome"] == "recovered"
    shown = CliRunner().invoke(main, ["incidents", row.id, "--config", str(cfg)])
    assert shown.exit_code == 0 and "[bold]x[/]" in shown.output, "user text printed as text, never as markup"
    missing = CliRunner().invoke(main, ["incidents", "[/]", "--config", str(cfg)])
    assert missing.exit_code == 2 and "[/]" in missing.output

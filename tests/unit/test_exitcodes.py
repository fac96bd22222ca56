"""Exit codes mean one thing each, and are said where they are used (issue 15): one table in
remediator/exitcodes.py, rendered at the end of every command's --help and equal to README.md's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from remediator import exitcodes
from remediator.cli import daemon as cli_daemon
from remediator.cli import diag as cli_diag
from remediator.cli import main
from remediator.cli import root as cli
from remediator.cli.common import commands
from remediator.structs import EXIT_CODES, Outcome
from tests.conftest import REPO

ALL = [name for name, _cmd in commands(main)]


def test_every_command_has_its_codes_and_every_code_one_meaning() -> None:
    assert sorted(exitcodes.COMMANDS) == sorted(ALL), "a command without its exit codes (or a stale entry)"
    for name, codes in exitcodes.COMMANDS.items():
        assert codes[0] == exitcodes.OK and set(codes) <= set(exitcodes.MEANING), name
    assert [c for c, m in exitcodes.MEANING.items() if "changed" in m and "undone" in m] == [exitcodes.FAILED]
    assert [o for o, c in EXIT_CODES.items() if c == exitcodes.FAILED] == [Outcome.FAILED], "1 is only 'changed, not undone'"
    assert exitcodes.NO_DAEMON not in (exitcodes.HOST_BUSY, exitcodes.FAILED) and cli_daemon.EXIT_UNREACHABLE == exitcodes.NO_DAEMON


@pytest.mark.parametrize("name", ALL)
def test_every_help_ends_with_the_codes_it_can_return(name: str) -> None:
    res = CliRunner().invoke(main, [*name.split(), "--help"], env={"COLUMNS": "40"})
    assert res.exit_code == 0, res.output
    tail = res.output[res.output.index("Exit codes:"):].splitlines()[1:]
    shown = [(int(m.group(1)), m.group(2)) for m in (re.match(r"\s+(\d+)  (.+)$", line) for line in tail) if m]
    assert shown == [(c, exitcodes.MEANING[c]) for c in exitcodes.COMMANDS[name]], "each line whole, never re-flowed"


def test_the_top_level_help_ends_with_every_code() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0 and all(f"  {c}  {m}" in res.output for c, m in exitcodes.MEANING.items())


def test_the_readme_table_is_the_code_table() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("| exit code | meaning |")
    table = readme[start:readme.index("\n\n", start)]
    assert table == exitcodes.markdown_table()


def test_help_wording_is_one_and_says_what_it_takes() -> None:
    wordings = set()
    for name in ALL:
        text = CliRunner().invoke(main, [*name.split(), "--help"], env={"COLUMNS": "200"}).output
        if "--config" in text:
            wordings.add(re.search(r"--config FILE\s+(.*)", text).group(1))  # type: ignore[union-attr]
        if "--json" in text:
            assert re.search(r"--json\s+\S", text), f"{name}: --json without help text"
    assert len(wordings) == 1, wordings
    run_help = CliRunner().invoke(main, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "on HOST" not in run_help and "--host" in run_help
    assert "--log FILE|-" in CliRunner().invoke(main, ["diagnose", "--help"]).output
    demo_help = " ".join(CliRunner().invoke(main, ["demo", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "root" in demo_help and "docker.io" in demo_help and "/tmp/remediator-demo" in demo_help


def test_resume_of_a_host_name_points_at_resume_host(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nhosts:\n  - name: lab\n")
    res = CliRunner().invoke(main, ["resume", "lab", "--config", str(cfg)])
    assert res.exit_code == exitcodes.BAD_INPUT and "no incident 'lab'" in res.output
    assert "remediator resume-host lab" in res.output


def test_no_daemon_is_its_own_code(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'no.sock'}}}\n"
                   "hosts:\n  - name: h\n")
    for argv in (["approvals"], ["approve", "0123456789ab"], ["pause", "h"]):
        res = CliRunner().invoke(main, [*argv, "--config", str(cfg)])
        assert res.exit_code == exitcodes.NO_DAEMON and "cannot be reached" in res.output, argv


def test_every_console_of_the_faces_reads_no_markup_from_emoji_or_highlighting() -> None:
    found = [(m.__name__, k) for m in (cli, cli_diag, cli_daemon) for k, v in vars(m).items() if isinstance(v, Console)]
    assert {("remediator.cli.daemon", "out"), ("remediator.cli.daemon", "err")} <= set(found)
    for mod, name in found:
        c = vars(__import__(mod, fromlist=["x"]))[name]
        assert c._emoji is False and c._highlight is False, f"{mod}.{name}"


def test_a_host_that_cannot_be_probed_from_here_is_exit_2_never_sick(tmp_path: Path) -> None:
    """systemctl not installed: the operator's environment (no-access, exit 2), never a sick verdict (9)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nhosts:\n  - name: h\n    docker_host: unix://{tmp_path}/d.sock\n"
                   f"    service: {{kind: systemd, systemctl: {tmp_path}/no-systemctl, journalctl: /bin/false}}\n")
    res = CliRunner().invoke(main, ["probe", "--config", str(cfg)])
    assert res.exit_code == exitcodes.BAD_INPUT, res.output
    assert "no-access" in res.output and "no-systemctl is not installed" in res.output and "Traceback" not in res.output

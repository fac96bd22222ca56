"""One --config option and one pair of consoles for every command (issue 16): remediator/cli/common.py.

A command that grows its own --config (another default, another help, another type) or a face that makes its own
Console (forgetting emoji=False, highlight=False or the never-cut width) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.console import Console

import remediator
from remediator.cli import common, main
from remediator.cli.common import commands

CLI = Path(remediator.__file__).parent / "cli"


def _the_config_option() -> click.Option:
    @common.CONFIG
    def probe_of_the_one(config: Path | None) -> None: ...

    return next(p for p in click.command()(probe_of_the_one).params if isinstance(p, click.Option))


def test_every_command_that_reads_a_config_takes_the_one_config_option() -> None:
    one = _the_config_option()
    taking = []
    for name, cmd in commands(main):
        for p in cmd.params:
            if "--config" in getattr(p, "opts", ()) or p.name == "config":
                assert isinstance(p, click.Option), name
                got = (p.opts, p.name, p.metavar, p.help, p.default, p.required, p.type.to_info_dict())
                want = (one.opts, one.name, one.metavar, one.help, one.default, one.required, one.type.to_info_dict())
                assert got == want, name
                taking.append(name)
    assert {"run", "resume", "probe", "daemon", "status", "approve", "incidents", "config check"} <= set(taking)


def test_only_common_spells_the_config_option_or_builds_a_console() -> None:
    for f in sorted(CLI.glob("*.py")):
        text = f.read_text()
        if f.name == "common.py":
            continue
        assert '"--config"' not in text, f"{f.name}: a second --config option (use common.CONFIG)"
        assert not re.search(r"\b_?Console\(|\bconsole\(", text), f"{f.name}: a console of its own (use common.out/err)"


def test_every_console_of_the_faces_is_the_one_pair() -> None:
    from remediator.cli import daemon, diag, root

    for mod in (root, diag, daemon, common):
        for name, v in vars(mod).items():
            if isinstance(v, Console):
                assert v is common.out or v is common.err, f"{mod.__name__}.{name}"
    for c in (common.out, common.err):
        assert c._emoji is False and c._highlight is False

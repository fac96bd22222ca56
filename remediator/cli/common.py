"""What every face of the CLI shares: its consoles, the --config option, the exit-code epilogs, its own name.

Role: output that is never cut. On a terminal rich lays text out at the terminal's width; anywhere else (a pipe,
a log, journald, a test) nothing is hard-wrapped: the width is WIDE, so an identifier, a verdict, a runbook name, a
host or a path is printed whole on its line, whatever $COLUMNS says; only rules stay 80 columns. Tables fold other
columns before an id column (id_column) and never cut an id with an ellipsis. Imported by cli, cli_daemon, cli_diag.
Consoles never read user text as markup or :emoji: codes (highlight=False, emoji=False).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import rich.table
from rich.console import Console, ConsoleDimensions, ConsoleOptions, JustifyMethod, OverflowMethod, RenderResult
from rich.rule import Rule
from rich.style import Style
from rich.table import Column

from remediator import exitcodes

WIDE = 10_000  # columns when the output is not a terminal: in effect, no wrapping
RULE = 80


class _Console(Console):
    """A rich Console whose width is the terminal's on a terminal and WIDE anywhere else ($COLUMNS included)."""

    def _tty(self) -> bool:
        isatty = getattr(self.file, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed file (the end of a test run)
            return False

    @property
    def size(self) -> ConsoleDimensions:
        real = Console.size.fget(self)  # type: ignore[attr-defined]
        return real if self._tty() else ConsoleDimensions(WIDE, real.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def rule(self, title: Any = "", *, characters: str = "─", style: str | Style = "rule.line",
             align: Any = "center") -> None:
        self.print(Rule(title=title, characters=characters, style=style, align=align),
                   width=None if self._tty() else RULE)


def console(stderr: bool = False) -> Console:
    """stdout: wrapped to the terminal on a terminal; stderr: never wrapped (an error line is grepped)."""
    return _Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=stderr)


class IdColumn(Column):
    """A column whose values are copied back into commands (ids, hosts, runbooks, verdicts): see Table."""


def id_column(header: str, justify: JustifyMethod = "left") -> Column:
    """A column of values that are copied back into commands: never cut, never an ellipsis (see Table)."""
    overflow: OverflowMethod = "fold"
    return IdColumn(header, no_wrap=True, overflow=overflow, justify=justify)


class Table(rich.table.Table):
    """A rich Table that narrows its other columns before its id columns (IdColumn): while the ids fit whole they are
    not wrapped and every other column gives up its width first; when even the ids cannot fit (a very narrow
    terminal) they fold onto the next line, every character kept, never cut or ellipsized."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ids = [c for c in self.columns if isinstance(c, IdColumn)]
        if ids:
            avail = (self.width or options.max_width) - self._extra_width
            inner = options.update_width(max(1, avail))
            need = sum(self._measure_column(console, inner, c).maximum for c in ids)
            fits = need + 3 * (len(self.columns) - len(ids)) <= avail  # at least a sliver of every other column
            for c in ids:
                c.no_wrap = fits  # whole on one line when they fit; folded (not cropped) when they cannot
        yield from super().__rich_console__(console, options)


CONFIG = click.option("--config", "config", type=click.Path(path_type=Path), default=None, metavar="FILE",
                      help="the config file (default: $REMEDIATOR_CONFIG, then /etc/remediator/config.yaml)")
"""The one --config option of every command that reads the config."""

JSON = click.option("--json", "as_json", is_flag=True, help="print JSON on stdout instead of text, for scripts")
"""--json on a listing command (a command with its own JSON shape says so in its own help)."""


def commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every command under group, by its full name ("runbook validate"), groups excluded."""
    for name, cmd in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            yield from commands(cmd, f"{full} ")
        else:
            yield full, cmd


def add_exit_codes(group: click.Group) -> None:
    """End every command's --help with the exit codes it can return (exitcodes.COMMANDS: one entry per command)."""
    group.epilog = exitcodes.epilog(None)
    for name, cmd in commands(group):  # a command missing from the table fails tests/unit/test_exitcodes.py, not import
        if name in exitcodes.COMMANDS:
            cmd.epilog = exitcodes.epilog(name)


def self_command() -> str:
    """How to run this remediator again, as typed: the running script's absolute path (`remediator` need not be on
    PATH after the set-up), or `python -m remediator` under the interpreter running it."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and os.sep not in argv0:
        found = shutil.which(argv0)
        if found:
            return os.path.abspath(found)
    if argv0 and os.path.isfile(argv0) and os.path.basename(argv0) != "__main__.py":
        return os.path.abspath(argv0)
    return f"{sys.executable} -m remediator"

"""What every face of the CLI shares: its consoles, the --config option, bad input, the exit-code epilogs, its name.

Role: output that is never cut. On a terminal rich lays text out at the terminal's width; anywhere else (a pipe,
a log, journald, a test) nothing is hard-wrapped: the width is WIDE, so an identifier, a verdict, a runbook name, a
host or a path is printed whole on its line, whatever $COLUMNS says; only rules stay 80 columns. Tables fold other
columns before an id column (id_column) and never cut an id with an ellipsis. Imported by every face (root, daemon, diag).
Consoles never read user text as markup or :emoji: codes (highlight=False, emoji=False): one pair, out and err,
made by the one factory (console). The helpers every command shares: shown (redact, then escape), bad_input (exit 2),
ident_or_exit, config_or_exit and settings_or_exit (the --config option's file, or exit 2).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import rich.table
from rich.console import Console, ConsoleDimensions, ConsoleOptions, JustifyMethod, OverflowMethod, RenderResult
from rich.markup import escape
from rich.rule import Rule
from rich.style import Style
from rich.table import Column

from remediator import exitcodes, idents
from remediator.errors import InputError
from remediator.redact import redact_text
from remediator.settings import Settings, find_config, load_settings
from remediator.structs import EXIT_BAD_INPUT

WIDE = 10_000  # columns when the output is not a terminal: in effect, no wrapping
RULE = 80
_CONSOLE_SIZE: property = vars(Console)["size"]  # rich's own size property: its setter, for _Console.size's


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
        real = super().size
        return real if self._tty() else ConsoleDimensions(WIDE, real.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        _CONSOLE_SIZE.__set__(self, new_size)

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


out = console()  # user text is never markup, nor :emoji: codes; never hard-wrapped outside a terminal
err = console(stderr=True)  # an error line is never wrapped: grep it
"""The one pair of consoles every command prints on."""


def shown(text: str, limit: int | None = None) -> str:
    """User-facing text for a console: redacted (before it is cut or wrapped: half a secret is not recognised
    by the stream's redactor) and escaped (never rich markup)."""
    return escape(redact_text(text)[:limit])


def bad_input(exc: InputError) -> NoReturn:
    for p in exc.problems:
        err.print(f"[red]error:[/] {escape(p)}")
    sys.exit(EXIT_BAD_INPUT)


def ident_or_exit(kinds: str | tuple[str, ...], value: str, where: str) -> str:
    """`value` if it is a well-formed `kinds` (one kind, or any of several: remediator/idents.py, the one grammar),
    else exit 2 naming the argument, the value escaped; nothing is looked up or sent."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    try:
        return idents.check(kinds[0], value, where) if len(kinds) == 1 else idents.one_of(kinds, value, where)
    except InputError as exc:
        bad_input(exc)


def config_or_exit(config: Path | None) -> Path:
    """The config file: --config, else $REMEDIATOR_CONFIG, else /etc/remediator/config.yaml (exit 2 if none)."""
    try:
        return find_config(config)
    except InputError as exc:
        bad_input(exc)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config_or_exit(config))
    except InputError as exc:
        bad_input(exc)


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

"""Planted failures for the fuzz oracle's self-test: a CLI with one command per kind of failure the fuzz
suite must catch. Never part of remediator."""

from __future__ import annotations

import ctypes
import signal
import sys

import click
from rich.console import Console


@click.group()
def cli() -> None:
    """Planted failures."""


@cli.command()
def ok() -> None:
    click.echo("fine")


@cli.command()
def after() -> None:
    click.echo("the run went on past the deaths before it")


@cli.command()
def exit3() -> None:
    sys.exit(3)


@cli.command()
def boom() -> None:
    raise KeyError("planted")


@cli.command()
def printtb() -> None:
    click.echo("Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: planted", err=True)


@cli.command()
def excline() -> None:
    click.echo("something\nremediator.errors.JournalError: planted")


@cli.command()
def markup() -> None:
    Console().print("user text: [bold]x[/bold]")  # not escaped: the markup is eaten


@cli.command()
def hang() -> None:
    while True:  # pure Python: the worker's alarm stops it
        pass


@cli.command("hang_c")
def hang_c() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF})  # stuck where no timer gets through (as in C)
    while True:
        pass


@cli.command()
def hog() -> None:
    chunks = []
    while True:  # bytes(n) is calloc'd: the address space runs out (RLIMIT_AS) before any page is touched, so the
        chunks.append(bytes(64 << 20))  # MemoryError comes at once, not after a zero-fill a loaded machine makes slow


@cli.command()
def segv() -> None:
    ctypes.string_at(0)

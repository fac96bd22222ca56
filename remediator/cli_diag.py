"""The diagnosis commands: probe, diagnose --log, and the rendering they share with `run`.

Role: parse arguments, render verdicts with rich or as JSON. Imported by cli only.
`probe` exits 0 when the host is healthy, degraded or starting, 1 when the verdict is sick or did not
settle (suspect), 2 on bad input or a host that cannot be probed from here (e.g. systemctl finds no systemd);
`diagnose` exits 0 when the log reads healthy, 1 otherwise.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from remediator import app, idents
from remediator.detect import facts as factsmod
from remediator.detect import logdiag
from remediator.detect.probes import Round
from remediator.detect.signatures import DIAGNOSES, SIGNATURES, runbook_for, version_range_text
from remediator.detect.verdict import Verdict
from remediator.errors import InputError, RemediatorError
from remediator.safeio import read_bounded, read_regular
from remediator.settings import HostConfig, Settings, find_config, load_settings
from remediator.structs import EXIT_BAD_INPUT

out = Console(highlight=False, emoji=False)  # user text is never markup, nor :emoji: codes
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # an error line is never wrapped: grep it
MAX_LOG = 128 << 20  # every read of user input is bounded: a log bigger than this is cut by the user, on purpose
# (a log of MAX_LOG takes ~3x that in memory to diagnose: bytes, text, lines; /dev/zero is refused within ~MAX_LOG)
COLOUR = {"healthy": "green", "degraded": "yellow", "suspect": "yellow"}


def bad_input(exc: InputError) -> NoReturn:
    for p in exc.problems:
        err.print(f"[red]error:[/] {escape(p)}")
    sys.exit(EXIT_BAD_INPUT)


def ident_or_exit(kind: str, value: str, where: str) -> str:
    """`value` if it is a well-formed `kind` (remediator/idents.py, the one grammar), else exit 2 naming the
    argument, the value escaped."""
    try:
        return idents.check(kind, value, where)
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


def render_verdict(v: Verdict, host: str) -> None:
    table = Table("probe", "outcome", "latency", "detail", title=f"{host}: round {v.rounds}", title_justify="left")
    for name, o in v.observations.items():
        colour = "green" if o["outcome"] == "ok" else "yellow" if o["outcome"] == "slow" else "red"
        table.add_row(name, f"[{colour}]{o['outcome']}[/]", f"{o['latency'] * 1000:.0f} ms" if o["latency"] else "",
                      escape(str(o.get("detail", ""))[:110]))
    out.print(table)
    conclusion(v.diagnosis, v.confidence, v.runbook, v.trace)


def conclusion(diagnosis: str, confidence: str, runbook: str | None, trace: list[str], extra: str = "") -> None:
    """The verdict, the runbook it selects and the trace: the same words for a live host and for a log."""
    colour = COLOUR.get(diagnosis, "bold red")
    out.print(f"verdict [{colour}]{diagnosis}[/] ({confidence} confidence) — {escape(DIAGNOSES[diagnosis].meaning)}")
    if extra:
        out.print(extra)
    out.print(f"runbook {runbook or '— (nothing to do)'}")
    for line in trace:
        out.print(f"  [dim]·[/] {escape(line)}")


def diagnose_one(hcfg: HostConfig, settings: Settings, *, quiet: bool, rounds: int | None) -> tuple[factsmod.Facts, Verdict]:
    def progress(r: Round, v: Verdict) -> None:
        if not quiet:
            err.print(f"[dim]{escape(hcfg.name)}: round {r.number} → {v.diagnosis} ({r.wall:.2f}s)[/]")

    return app.diagnose(hcfg, settings, on_round=progress, rounds=rounds)


@click.command()
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="config.yaml (default: $REMEDIATOR_CONFIG, then /etc/remediator/config.yaml)")
@click.option("--host", "hosts", multiple=True, help="host name(s) from the config; default: all")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per host on stdout")
@click.option("--rounds", type=click.IntRange(1, 50), default=None, help="at most this many rounds (default 2×debounce+1)")
def probe(config: Path | None, hosts: tuple[str, ...], as_json: bool, rounds: int | None) -> None:
    """Diagnose hosts read-only, all at once: one round when healthy, until the debounce settles when not."""
    settings = settings_or_exit(config)
    try:
        chosen = [settings.host(h) for h in hosts] if hosts else settings.hosts
    except InputError as exc:
        bad_input(exc)
    sick = broken = False

    def one(h: HostConfig) -> tuple[factsmod.Facts, Verdict] | RemediatorError:
        try:
            return diagnose_one(h, settings, quiet=as_json, rounds=rounds)
        except RemediatorError as exc:  # e.g. systemctl cannot reach systemd: this host cannot be probed here
            return exc

    with cf.ThreadPoolExecutor(max_workers=min(16, len(chosen)), thread_name_prefix="probe-host") as pool:
        results = list(pool.map(one, chosen))
    for hcfg, result in zip(chosen, results, strict=True):  # hosts are probed at once, printed in order
        if isinstance(result, RemediatorError):
            err.print(f"[red]error:[/] {escape(hcfg.name)}: cannot probe: {escape(str(result))}")
            broken = True
            continue
        facts, v = result
        sick = sick or v.sick or v.diagnosis == "suspect"
        if as_json:
            click.echo(json.dumps({"host": hcfg.name, "layout": facts.layout, "version": facts.version, **v.as_json()}))
        else:
            render_verdict(v, hcfg.name)
    sys.exit(EXIT_BAD_INPUT if broken else 1 if sick else 0)


@click.command()
@click.option("--log", "log", required=True, help="a daemon log or journal excerpt; - for stdin")
@click.option("--json", "as_json", is_flag=True, help='print {"verdict", "signatures", "runbook", ...}')
def diagnose(log: str, as_json: bool) -> None:
    """Offline: classify a pasted dockerd/containerd log (logrus text, FATA[…], journalctl -o json)."""
    try:
        if log == "-":
            data = read_bounded(sys.stdin.buffer, MAX_LOG)
        else:
            data = read_regular(log, MAX_LOG)  # a FIFO, socket, device or directory is refused (`-` is stdin)
    except OSError as exc:
        bad_input(InputError(f"{log}: cannot read: {exc.strerror}"))
    if data is None:
        bad_input(InputError(f"{log}: more than {MAX_LOG >> 20} MiB; pass the part that matters "
                             f"(e.g. tail -c {MAX_LOG >> 20}M {log} | remediator diagnose --log -)"))
    v = logdiag.diagnose_text(data.decode(errors="replace"))
    if as_json:
        click.echo(json.dumps(v.as_json(), indent=1))
        sys.exit(0 if v.verdict == "healthy" else 1)
    if v.matches:
        table = Table("line", "signature", "role", "diagnosis", "Docker", "text")
        for m in v.matches:
            table.add_row(str(m.line_no), m.signature.id, m.signature.role, m.signature.diagnosis or "",
                          m.signature.version_text, escape(m.line[:90]))
        out.print(table)
    conclusion(v.verdict, v.confidence, v.runbook, v.trace,
               extra=f"Docker versions: {version_range_text(v.versions) if v.versions else 'not determined'}")
    for no, sid, text in v.near_misses:
        out.print(f"  [dim]near miss[/] line {no} ~ {sid}: {escape(text[:120])}")
    sys.exit(0 if v.verdict == "healthy" else 1)


@click.command()
@click.option("--json", "as_json", is_flag=True)
def signatures(as_json: bool) -> None:
    """List the verdicts (what each means, the runbook it selects) and the failure-signature catalogue."""
    rows: list[dict[str, Any]] = [{"id": s.id, "role": s.role, "diagnosis": s.diagnosis, "versions": s.version_text,
             "runbook": runbook_for(s.diagnosis) if s.diagnosis else None, "title": s.title,
             "source": s.source, "patterns": [p.pattern for p in s.patterns]} for s in SIGNATURES]
    verdicts: list[dict[str, Any]] = [{"id": d.name, "role": "verdict", "diagnosis": d.name, "versions": "any", "runbook": d.runbook,
                 "title": d.meaning, "source": "", "patterns": []} for d in DIAGNOSES.values()]
    if as_json:
        click.echo(json.dumps(verdicts + rows, indent=1))
        return
    vt = Table("verdict", "runbook", "meaning", title="verdicts", title_justify="left")
    for v in verdicts:
        vt.add_row(str(v["id"]), str(v["runbook"] or "—"), escape(str(v["title"])))
    out.print(vt)
    table = Table("id", "role", "diagnosis", "Docker", "runbook", "meaning")
    for r in rows:
        table.add_row(r["id"], r["role"], r["diagnosis"] or "", r["versions"], r["runbook"] or "", escape(r["title"]))
    out.print(table)

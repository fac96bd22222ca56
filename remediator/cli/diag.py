"""The diagnosis commands: probe, diagnose --log, signatures, and the rendering they share with `run`.

Role: parse arguments, render verdicts with rich or as JSON. Imported by cli.root (render_verdict: `run`).
What every face shares (consoles, --config, bad_input, shown) is cli.common.
`probe` exits 0 when the host is healthy, degraded or starting, 9 (exitcodes.SICK) when the verdict is sick or did
not settle (suspect), 2 on bad input or when a host reads no-access (this user may not look at it) or cannot be
probed from here; `diagnose` exits 0 when the log reads healthy, 9 otherwise.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from remediator import app, exitcodes
from remediator.cli.common import CONFIG, JSON, Table, bad_input, err, id_column, out, settings_or_exit, shown
from remediator.detect import facts as factsmod
from remediator.detect import logdiag
from remediator.detect.probes import Round
from remediator.detect.signatures import DIAGNOSES, SIGNATURES, runbook_for, version_range_text
from remediator.detect.verdict import Verdict
from remediator.errors import InputError, RemediatorError
from remediator.outputs import dumps
from remediator.safeio import read_bounded, read_regular
from remediator.settings import HostConfig, Settings
from remediator.vocab import Diagnosis, PingOutcome

MAX_LOG = 128 << 20  # every read of user input is bounded: a log bigger than this is cut by the user, on purpose
# (a log of MAX_LOG takes ~3x that in memory to diagnose: bytes, text, lines; /dev/zero is refused within ~MAX_LOG)
COLOUR = {Diagnosis.HEALTHY: "green", Diagnosis.DEGRADED: "yellow", Diagnosis.SUSPECT: "yellow"}


def render_verdict(v: Verdict, host: str) -> None:
    table = Table(id_column("probe"), "outcome", "latency", "detail", title=f"{host}: round {v.rounds}",
                  title_justify="left")
    for name, o in v.observations.items():
        colour = "green" if o["outcome"] == PingOutcome.OK else "yellow" if o["outcome"] == PingOutcome.SLOW else "red"
        table.add_row(name, f"[{colour}]{o['outcome']}[/]", f"{o['latency'] * 1000:.0f} ms" if o["latency"] else "",
                      shown(str(o.get("detail", "")), 110))
    out.print(table)
    conclusion(v.diagnosis, v.confidence, v.runbook, v.trace)


def conclusion(diagnosis: Diagnosis, confidence: str, runbook: str | None, trace: list[str], extra: str = "") -> None:
    """The verdict, the runbook it selects and the trace: the same words for a live host and for a log."""
    colour = COLOUR.get(diagnosis, "bold red")
    out.print(f"verdict [{colour}]{diagnosis}[/] ({confidence} confidence) — {escape(DIAGNOSES[diagnosis].meaning)}")
    if extra:
        out.print(extra)
    out.print(f"runbook {runbook or '— (nothing to do)'}")
    for line in trace:
        out.print(f"  [dim]·[/] {shown(line)}")


def diagnose_one(hcfg: HostConfig, settings: Settings, *, quiet: bool, rounds: int | None) -> tuple[factsmod.Facts, Verdict]:
    def progress(r: Round, v: Verdict) -> None:
        if not quiet:
            err.print(f"[dim]{escape(hcfg.name)}: round {r.number} → {v.diagnosis} ({r.wall:.2f}s)[/]")

    return app.diagnose(hcfg, settings, on_round=progress, rounds=rounds)


@click.command()
@CONFIG
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
    sick = blind = False

    def one(h: HostConfig) -> tuple[factsmod.Facts, Verdict] | RemediatorError:
        try:
            return diagnose_one(h, settings, quiet=as_json, rounds=rounds)
        except RemediatorError as exc:  # the operator's environment (a tool, a socket): never evidence of sickness
            return exc

    with cf.ThreadPoolExecutor(max_workers=min(16, len(chosen)), thread_name_prefix="probe-host") as pool:
        results = list(pool.map(one, chosen))
    for hcfg, result in zip(chosen, results, strict=True):  # hosts are probed at once, printed in order
        if isinstance(result, RemediatorError):
            err.print(f"[red]error:[/] {escape(hcfg.name)}: cannot be probed from here: {escape(str(result))}")
            blind = True
            continue
        facts, v = result
        sick = sick or v.sick or v.diagnosis == Diagnosis.SUSPECT
        blind = blind or v.diagnosis == Diagnosis.NO_ACCESS  # access is not health: exit 2, as `run` and `daemon`
        if as_json:
            click.echo(dumps({"host": hcfg.name, "layout": facts.layout, "version": facts.version, **v.as_json()}))
        else:
            render_verdict(v, hcfg.name)
    sys.exit(exitcodes.BAD_INPUT if blind else exitcodes.SICK if sick else exitcodes.OK)


@click.command()
@click.option("--log", "log", required=True, metavar="FILE|-", help="a daemon log or journal excerpt; - for stdin")
@click.option("--json", "as_json", is_flag=True, help='print {"verdict", "rule", "signatures", "runbook", ...}')
@click.option("--explain", is_flag=True, help="name the rule that decided and print the lines it used")
def diagnose(log: str, as_json: bool, explain: bool) -> None:
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
    text = data.decode(errors="replace")
    v = logdiag.diagnose_text(text)
    why = logdiag.explain(v, text) if explain else None
    if as_json:
        click.echo(dumps(v.as_json() | ({"explain": why} if why else {}), indent=1))
        sys.exit(exitcodes.OK if v.verdict == Diagnosis.HEALTHY else exitcodes.SICK)
    if v.matches:
        table = Table("line", id_column("signature"), "role", id_column("diagnosis"), "Docker", "text")
        for m in v.matches:
            table.add_row(str(m.line_no), m.signature.id, m.signature.role, m.signature.diagnosis or "",
                          m.signature.version_text, shown(m.line, 90))
        out.print(table)
    conclusion(v.verdict, v.confidence, v.runbook, v.trace,
               extra=f"Docker versions: {version_range_text(v.versions) if v.versions else 'not determined'}")
    for no, sid, miss in v.near_misses:
        out.print(f"  [dim]near miss[/] line {no} ~ {sid}: {shown(miss, 120)}")
    if why:
        out.print(f"decided by rule {escape(why['rule'])}: {shown(why['says'])}")
        for ln in why["lines"]:
            out.print(f"  line {escape(str(ln['line']))}: {shown(ln['text'], 160)}")
    sys.exit(exitcodes.OK if v.verdict == Diagnosis.HEALTHY else exitcodes.SICK)


@click.command()
@JSON
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
    vt = Table(id_column("verdict"), id_column("runbook"), "meaning", title="verdicts", title_justify="left")
    for v in verdicts:
        vt.add_row(str(v["id"]), str(v["runbook"] or "—"), escape(str(v["title"])))
    out.print(vt)
    table = Table(id_column("id"), "role", id_column("diagnosis"), "Docker", id_column("runbook"), "meaning")
    for r in rows:
        table.add_row(r["id"], r["role"], r["diagnosis"] or "", r["versions"], r["runbook"] or "", escape(r["title"]))
    out.print(table)

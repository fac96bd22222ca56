"""`remediator incidents [ID]`: the journal's incidents, or one incident's timeline, read-only.

Role: list incidents, or show one (timeline, evidence and backup paths), as text or JSON, from the journal opened
read-only. Never creates, tightens or rewrites the state directory or the journal: a missing journal lists nothing,
a damaged one or one closed to this user exits 2 naming it. Imported by cli.root.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.markup import escape

from remediator import access, modes, outputs
from remediator.cli.common import CONFIG, Table, bad_input, err, id_column, ident_or_exit, out, settings_or_exit, shown
from remediator.errors import InputError, JournalError
from remediator.journal import Journal
from remediator.structs import EXIT_BAD_INPUT
from remediator.vocab import EventKind


@click.command()
@click.argument("incident", required=False)
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="the list, or one incident with its events, as JSON")
def incidents(incident: str | None, config: Path | None, as_json: bool) -> None:
    """List incidents, or show one: timeline, evidence path, backup path."""
    if incident is not None:
        incident = ident_or_exit("incident id", incident, "INCIDENT")
    state_dir = settings_or_exit(config).state_dir
    try:
        modes.existing_state_dir(state_dir)  # read-only: refused if others could write to it, never chmod-ed
    except InputError as exc:
        bad_input(exc)
    if access.blocker(os.path.join(state_dir, "journal.sqlite3")):  # closed to this user: exit 2, never "no incidents"
        bad_input(access.denied("the journal", os.path.join(state_dir, "journal.sqlite3")))
    if not os.path.lexists(os.path.join(state_dir, "journal.sqlite3")):  # a listing never creates or tightens a directory
        if incident is not None:
            err.print(f"[red]error:[/] no incident {escape(repr(incident))} (no journal in {escape(state_dir)})")
            sys.exit(EXIT_BAD_INPUT)
        if as_json:
            click.echo("[]")
        else:
            out.print(f"no incidents: no journal in {escape(state_dir)}")
        return
    try:
        journal = Journal(Path(state_dir), readonly=True)  # a damaged journal: exit 2 naming it, never rewritten
        _show_incidents(journal, incident, as_json)
    except InputError as exc:  # a state_dir others can write to, closed to this user, or a damaged journal
        bad_input(exc)
    except JournalError as exc:
        bad_input(exc if isinstance(exc, InputError) else InputError(str(exc)))


def _show_incidents(journal: Journal, incident: str | None, as_json: bool) -> None:
    if incident is None:
        rows = journal.incidents()
        if as_json:
            click.echo(outputs.dumps([vars(r) for r in rows], indent=1))
            return
        table = Table(id_column("incident"), id_column("host"), id_column("runbook"), "mode", id_column("outcome"),
                      "summary")  # ids are copied back into `incidents ID`: never cut
        for r in rows:
            table.add_row(escape(r.id), escape(r.host), escape(r.runbook), "dry-run" if r.dry_run else "run",
                          escape(r.outcome or r.state), shown(r.summary or "", 80))
        out.print(table)
        return
    row = journal.incident(incident)
    if row is None:
        err.print(f"[red]error:[/] no incident {escape(repr(incident))}")
        sys.exit(EXIT_BAD_INPUT)
    events = journal.events(row.id)
    if as_json:
        click.echo(outputs.dumps({**vars(row), "events": [{"ts": ts, "kind": kind, "step": step, "detail": detail}
                                                       for ts, kind, step, detail in events]}, indent=1, default=str))
        return
    out.print(f"[bold]{escape(row.id)}[/] host {escape(row.host)} runbook {escape(row.runbook)} — "
              f"{escape(row.summary or row.state)}")
    out.print(escape(f"directory: {row.dir}\nevidence:  {row.dir}/evidence (and evidence.tar.gz)\nbackup:    {row.dir}/backup"))
    t0 = row.started
    for ts, kind, step, detail in events:
        text = detail.get("summary") or detail.get("error") or detail.get("reason") or detail.get("course") or \
            (f"{detail.get('source')} -> {detail.get('dest')}" if kind == EventKind.STATE else "")
        if kind == EventKind.APPROVAL:
            text = f"{'approved' if detail.get('approved') else 'DENIED'} by {detail.get('by')}"
        elif kind == EventKind.RUNG:
            text = f"rung {detail.get('number')}: {detail.get('runbook')}"
        elif kind == EventKind.REDIAGNOSIS:
            text = f"{detail.get('diagnosis')} ({detail.get('confidence')}): {detail.get('why')}"
        out.print(f"+{ts - t0:7.2f}s {kind:<9} {escape(step or ''):<9} {shown(str(text))}")

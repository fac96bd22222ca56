"""The daemon's commands: `daemon`, `status`, `approvals`, `approve`, `deny`, `release`, `pause`, `resume-host`.

Role: parse arguments and talk to the daemon's API socket (daemon.api_socket) or, for `status`, read the state
directory directly so it works with the daemon down. Imported by cli only.
Ids and host names are checked against remediator.idents before a request is built (a bad one: exit 2 naming
the argument, nothing sent) and travel quoted. Exit codes (remediator/exitcodes.py): 0 done, 2 bad input or
environment (config, arguments, a second daemon on the same state directory, a 4xx from the API: unknown id or
host) or no access (this user may not open the API socket or the state directory, or reach any host: `daemon`
does not start), 8 no daemon answers on the API socket: none listens, none answers within the deadline, or what
answers is not its API.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.markup import escape

from remediator import access, exitcodes, idents, modes
from remediator.cli.common import (
    CONFIG,
    JSON,
    Table,
    bad_input,
    config_or_exit,
    err,
    id_column,
    ident_or_exit,
    out,
    settings_or_exit,
    shown,
)
from remediator.daemon.client import Malformed, Unreachable, exchange, path_for
from remediator.errors import InputError, RemediatorError
from remediator.outputs import dumps
from remediator.settings import Settings
from remediator.structs import EXIT_BAD_INPUT

EXIT_UNREACHABLE = exitcodes.NO_DAEMON


def _unusable(sock: str, why: str) -> NoReturn:
    err.print(f"[red]error:[/] the daemon's API at {escape(sock)} {escape(why)}")
    sys.exit(EXIT_UNREACHABLE)


def api(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the daemon's API socket, under one deadline for the whole exchange; a 4xx exits 2 with the
    daemon's message; no daemon, no answer in time, or an answer that is not the API exits 8."""
    sock = settings.daemon.api_socket
    try:
        code, data = exchange(sock, method, path, body if method == "POST" else None,
                              deadline=settings.daemon.api_timeout)
    except PermissionError as exc:  # the daemon may well run: this user may not talk to it (exit 2, not 8)
        bad_input(access.denied("the daemon's API socket", sock, exc, how="run as root, or as a member of the "
                                "socket's group (daemon.api_socket is mode 0660)", want=os.W_OK))
    except Unreachable as exc:
        err.print(f"[red]error:[/] the daemon's API at {escape(sock)} cannot be reached: {escape(str(exc))} "
                  "(is `remediator daemon` running?)")
        sys.exit(EXIT_UNREACHABLE)
    except Malformed as exc:
        err.print(f"[red]error:[/] {escape(sock)} answered, but not as the daemon's API: {escape(str(exc))}")
        sys.exit(EXIT_UNREACHABLE)
    if 400 <= code < 500:  # the daemon refused the request: bad input
        message = data.get("error")
        err.print(f"[red]error:[/] {escape(idents.shown(message, 400) if isinstance(message, str) else f'HTTP {code}')}")
        sys.exit(EXIT_BAD_INPUT)
    if not 200 <= code < 300:
        _unusable(sock, f"answered HTTP {code}")
    return data


def _shape(settings: Settings, data: dict[str, Any], ok: bool, what: str) -> None:
    """Exit 8 (no daemon's API) when the daemon's answer lacks what the command prints (a daemon of another version, or not one)."""
    if not ok:
        _unusable(settings.daemon.api_socket, f"answered without {what}")


def _number(value: object) -> bool:
    try:
        return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(float(value))
    except OverflowError:
        return False


@click.command()
@CONFIG
def daemon(config: Path | None) -> None:
    """Run the auto-heal daemon: probe every host each daemon.interval seconds, heal by policy (auto, approve,
    observe) within the limits; serve /healthz, /metrics, status and approvals on daemon.api_socket (default
    /run/remediator/api.sock) and /healthz and /metrics on daemon.metrics_listen if set. JSON log lines on stdout.
    SIGTERM finishes the step under way and exits 0; SIGHUP reloads the config."""
    from remediator.daemon.core import Daemon
    from remediator.daemon.reach import refuse_if_blind

    path = config_or_exit(config)
    settings = settings_or_exit(path)
    try:
        refuse_if_blind(settings)  # before the state dir is opened: the hosts' access is the first thing to say
        code = Daemon(path, settings).run()
    except InputError as exc:
        bad_input(exc)
    except PermissionError as exc:  # its API socket (or token file) closed to this user: exit 2, said as such
        bad_input(access.denied("what the daemon opens:", exc.filename or settings.daemon.api_socket, exc, want=os.W_OK))
    except (RemediatorError, OSError) as exc:  # the environment (a socket, a directory): nothing was changed
        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(exitcodes.BAD_INPUT)
    sys.exit(code)


@click.command()
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (hosts, approvals, refusals), for scripts")
def status(config: Path | None, as_json: bool) -> None:
    """Every host: its policy and state, last verdict and when, open incident, pending approvals, quarantine."""
    from remediator.app import state_dir_apart
    from remediator.daemon.status import status_object
    from remediator.daemon.store import Store
    from remediator.journal import Journal

    settings = settings_or_exit(config)
    state = Path(settings.state_dir)
    try:  # read-only: with the daemon down, nothing is created; a damaged file is named, never rewritten
        state_dir_apart(settings)  # by real path, before anything could be created
        modes.existing_state_dir(state)  # read-only: refused if others could write to it, never chmod-ed
        obj = status_object(settings, Store(state, readonly=True), Journal(state, readonly=True))
    except InputError as exc:  # NoAccess (the state dir closed to this user), BadStateFile: exit 2, never 1
        bad_input(exc)
    except RemediatorError as exc:  # a journal locked too long
        bad_input(InputError(str(exc)))
    if as_json:
        click.echo(dumps(obj, indent=1, default=str))
        return
    dmn = obj["daemon"]
    age = dmn["last_round_age"]
    last = f"its last round {age:.0f}s ago" if age is not None else "no round recorded"
    if not dmn["running"]:
        line = f"daemon: not running ({last}): the states below are the last recorded, stale"
    elif dmn["stale"]:
        line = f"daemon: running (pid {dmn['pid']}) but {last}: the states below may be stale"
    else:
        line = f"daemon: running (pid {dmn['pid']}), {last}"
    out.print(escape(line))
    table = Table(id_column("host"), "policy", id_column("state"), id_column("verdict"), "since",
                  id_column("open incident"), "reason")
    for h in obj["hosts"]:
        ago = f"{time.time() - h['verdict_at']:.0f}s ago" if h["verdict_at"] else ""
        state = h["state"] + (" (stale)" if dmn["stale"] else "")
        table.add_row(escape(h["name"]), escape(h["policy"]), escape(state), escape(h["verdict"] or "?"), ago,
                      escape(h["open_incident"] or ""), shown(h["reason"] or "", 80))
    out.print(table)
    for a in obj["approvals"]:
        out.print(shown(f"approval {a['id']}: {a['host']} incident {a['incident']} step {a['step']}: {a['summary']}"))


@click.command()
@CONFIG
@JSON
def approvals(config: Path | None, as_json: bool) -> None:
    """Pending approvals (policy approve): what each risky step would do, bound to its plan's hash."""
    settings = settings_or_exit(config)
    data = api(settings, "GET", "/v1/approvals")
    _shape(settings, data, isinstance(data.get("approvals"), list) and all(_approval_ok(a) for a in data["approvals"]),
           "a list of approvals")
    if as_json:
        click.echo(dumps(data, indent=1))
        return
    if not data["approvals"]:
        out.print("no pending approvals")
    for a in data["approvals"]:
        left = a["expires"] - time.time()
        out.print(shown(f"{a['id']}  {a['host']}  incident {a['incident']}  step {a['step']}  "
                        f"(expires in {left / 60:.0f} min)\n    {a['summary']}"))
        for c in a["changes"][:10]:
            out.print(shown(f"      · {c}"))


def _approval_ok(a: object) -> bool:
    return isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("id", "host", "incident", "step", "summary")) \
        and _number(a.get("expires")) and isinstance(a.get("changes"), list)


def _decide(config: Path | None, ident: str, step: str | None, verb: str, note: str | None) -> None:
    ident = ident_or_exit(("approval id", "incident id"), ident, "argument IDENT")
    body: dict[str, Any] = {}
    if step is not None:
        body["step"] = ident_or_exit("step id", step, "argument STEP")
    if note:
        if len(note) > 200 or not note.isprintable():
            bad_input(InputError("--note: at most 200 printable characters"))
        body["note"] = note
    settings = settings_or_exit(config)
    data = api(settings, "POST", path_for("v1", "approvals", ident, verb), body)
    a = data.get("approval") or {}
    _shape(settings, data, isinstance(a, dict) and all(a.get(k) is None or isinstance(a.get(k), str) for k in
                                                       ("id", "decision", "by", "incident", "step")), "an approval")
    out.print(escape(f"{a.get('id')}: {a.get('decision')} by {a.get('by')} (incident {a.get('incident')}, "
                     f"step {a.get('step')})" + (f" — {a['note']}" if a.get("note") else "")
                     + (f" — {data['note']}" if data.get("note") else "")))


def _decision(verb: str, who: str, doc: str) -> click.Command:
    """`approve` and `deny`: the same arguments, one verb apart."""

    @click.command(verb, help=doc)
    @CONFIG
    @click.argument("ident")
    @click.argument("step", required=False)
    @click.option("--note", "--by", "note", help=f"a note kept with the decision (who {who} is your user, as the "
                  "daemon sees it on its socket)")
    def command(config: Path | None, ident: str, step: str | None, note: str | None) -> None:
        _decide(config, ident, step, verb, note)

    return command


approve = _decision("approve", "approves", "Approve a pending risky step: IDENT is an approval id, or an incident id "
                    "(and STEP).")
deny = _decision("deny", "denies", "Deny a pending risky step: the incident rolls back what it changed (or ends "
                 "refused).")


def _host(config: Path | None, host: str, verb: str, reason: str | None = None) -> None:
    host = ident_or_exit("host name", host, "argument HOST")
    if reason is not None and (len(reason) > 300 or not reason.isprintable()):
        bad_input(InputError("--reason: at most 300 printable characters"))
    settings = settings_or_exit(config)
    data = api(settings, "POST", path_for("v1", "hosts", host, verb), {"reason": reason} if reason else {})
    _shape(settings, data, isinstance(data.get("host"), str) and isinstance(data.get("changed"), bool), "host, changed")
    out.print(escape(f"{data['host']}: {verb} " + ("done" if data["changed"] else "(nothing to change)")))


@click.command()
@CONFIG
@click.argument("host")
def release(config: Path | None, host: str) -> None:
    """Release a quarantined host: the daemon may act on it again."""
    _host(config, host, "release")


@click.command()
@CONFIG
@click.argument("host")
@click.option("--reason", default=None, help="shown in status")
def pause(config: Path | None, host: str, reason: str | None) -> None:
    """Pause the daemon for one host: probed and shown, never acted on."""
    _host(config, host, "pause", reason)


@click.command("resume-host")
@CONFIG
@click.argument("host")
def resume_host(config: Path | None, host: str) -> None:
    """Undo `pause`."""
    _host(config, host, "resume")


COMMANDS = [daemon, status, approvals, approve, deny, release, pause, resume_host]

"""The daemon's commands: `daemon`, `status`, `approvals`, `approve`, `deny`, `release`, `pause`, `resume-host`.

Role: parse arguments and talk to the daemon's API socket (daemon.api_socket) or, for `status`, read the state
directory directly so it works with the daemon down. Imported by cli only.
Exit codes: 0 done, 2 bad input (config, arguments, or a 4xx from the API: unknown id or host) or no access (this
user may not open the API socket or the state directory, or reach any host: `daemon` does not start), 5 the
daemon's API cannot be reached.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from remediator import access
from remediator.cli_diag import bad_input, config_or_exit, settings_or_exit
from remediator.errors import InputError, RemediatorError
from remediator.settings import Settings
from remediator.structs import EXIT_BAD_INPUT

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
EXIT_UNREACHABLE = 5
CONFIG = click.option("--config", type=click.Path(path_type=Path), default=None,
                      help="config file (else $REMEDIATOR_CONFIG, else /etc/remediator/config.yaml)")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def api(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the daemon's API socket; a 4xx exits 2 with the daemon's message, no daemon exits 5."""
    sock = settings.daemon.api_socket
    conn = _UnixConnection(sock, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body or {}) if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read(8 << 20) or b"{}")
    except PermissionError as exc:  # the daemon may well run: this user may not talk to it (exit 2, not 5)
        bad_input(access.denied("the daemon's API socket", sock, exc, how="run as root, or as a member of the "
                                "socket's group (daemon.api_socket is mode 0660)", want=os.W_OK))
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/] the daemon's API at {escape(sock)} cannot be reached: {escape(str(exc))} "
                  "(is `remediator daemon` running?)")
        sys.exit(EXIT_UNREACHABLE)
    finally:
        conn.close()
    if resp.status >= 400:
        err.print(f"[red]error:[/] {escape(str(data.get('error', resp.status)))}")
        sys.exit(EXIT_BAD_INPUT)
    return data


@click.command()
@CONFIG
def daemon(config: Path | None) -> None:
    """Run the auto-heal daemon: probe every host each daemon.interval seconds, heal by policy (auto, approve,
    observe) within the limits, serve approvals/status/metrics on daemon.api_socket. JSON log lines on stdout."""
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
    except (RemediatorError, OSError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)
    sys.exit(code)


@click.command()
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (hosts, approvals, refusals)")
def status(config: Path | None, as_json: bool) -> None:
    """Every host: its policy and state, last verdict and when, open incident, pending approvals, quarantine."""
    from remediator.daemon.status import status_object
    from remediator.daemon.store import Store
    from remediator.journal import Journal

    settings = settings_or_exit(config)
    try:
        obj = status_object(settings, Store(Path(settings.state_dir)), Journal(Path(settings.state_dir)))
    except InputError as exc:  # NoAccess: the state dir is closed to this user (exit 2, with the path and why)
        bad_input(exc)
    except RemediatorError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(obj, indent=1, default=str))
        return
    table = Table("host", "policy", "state", "verdict", "since", "open incident", "reason")
    for h in obj["hosts"]:
        ago = f"{time.time() - h['verdict_at']:.0f}s ago" if h["verdict_at"] else ""
        table.add_row(escape(h["name"]), escape(h["policy"]), escape(h["state"]), escape(h["verdict"] or "?"), ago,
                      escape(h["open_incident"] or ""), escape((h["reason"] or "")[:80]))
    out.print(table)
    for a in obj["approvals"]:
        out.print(escape(f"approval {a['id']}: {a['host']} incident {a['incident']} step {a['step']}: {a['summary']}"))


@click.command()
@CONFIG
@click.option("--json", "as_json", is_flag=True)
def approvals(config: Path | None, as_json: bool) -> None:
    """Pending approvals (policy approve): what each risky step would do, bound to its plan's hash."""
    data = api(settings_or_exit(config), "GET", "/v1/approvals")
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    if not data["approvals"]:
        out.print("no pending approvals")
    for a in data["approvals"]:
        left = a["expires"] - time.time()
        out.print(escape(f"{a['id']}  {a['host']}  incident {a['incident']}  step {a['step']}  "
                         f"(expires in {left / 60:.0f} min)\n    {a['summary']}"))
        for c in a["changes"][:10]:
            out.print(escape(f"      · {c}"))


def _decide(config: Path | None, ident: str, step: str | None, verb: str, by: str | None) -> None:
    import getpass

    body: dict[str, Any] = {"by": by or getpass.getuser()}
    if step:
        body["step"] = step
    data = api(settings_or_exit(config), "POST", f"/v1/approvals/{ident}/{verb}", body)
    a = data.get("approval") or {}
    out.print(escape(f"{a.get('id')}: {a.get('decision')} by {a.get('by')} (incident {a.get('incident')}, "
                     f"step {a.get('step')})" + (f" — {data['note']}" if data.get("note") else "")))


def _decision(verb: str, who: str, doc: str) -> click.Command:
    """`approve` and `deny`: the same arguments, one verb apart."""

    @click.command(verb, help=doc)
    @CONFIG
    @click.argument("ident")
    @click.argument("step", required=False)
    @click.option("--by", help=f"who {who} (default: your user name)")
    def command(config: Path | None, ident: str, step: str | None, by: str | None) -> None:
        _decide(config, ident, step, verb, by)

    return command


approve = _decision("approve", "approves", "Approve a pending risky step: IDENT is an approval id, or an incident id "
                    "(and STEP).")
deny = _decision("deny", "denies", "Deny a pending risky step: the incident rolls back what it changed (or ends "
                 "refused).")


def _host(config: Path | None, host: str, verb: str, reason: str | None = None) -> None:
    data = api(settings_or_exit(config), "POST", f"/v1/hosts/{host}/{verb}", {"reason": reason} if reason else {})
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

"""The daemon's commands: `daemon`, `status`, `approvals`, `approve`, `deny`, `release`, `pause`, `resume-host`.

Role: parse arguments and talk to the daemon's API socket (daemon.api_socket) or, for `status`, read the state
directory directly so it works with the daemon down. Imported by cli only.
Exit codes: 0 done, 2 bad input (config, arguments — ids and host names per remediator/idents.py — a 4xx from
the API: unknown id or host; for `status`, a damaged state file), 5 the daemon's API cannot be reached, gives no
whole answer within daemon.api_timeout, or answers something that is not its API. `status` never exits 1.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from remediator import idents
from remediator.cli_diag import bad_input, config_or_exit, settings_or_exit
from remediator.errors import InputError, RemediatorError
from remediator.settings import Settings
from remediator.structs import EXIT_BAD_INPUT

out = Console(highlight=False, emoji=False)  # user text is never markup, nor :emoji: codes
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
EXIT_UNREACHABLE = 5
MAX_ANSWER = 8 << 20  # the daemon's answers are kilobytes
CONFIG = click.option("--config", type=click.Path(path_type=Path), default=None,
                      help="config file (else $REMEDIATOR_CONFIG, else /etc/remediator/config.yaml)")


class _DeadlineSocket(socket.socket):
    """A socket whose every send and receive waits at most until one deadline for the whole exchange (a
    per-call timeout lets a peer that drip-feeds a byte at a time hold the command forever)."""

    deadline = 0.0

    def _left(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no whole answer in time")
        self.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._left()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._left()
        super().sendall(data, flags)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = _DeadlineSocket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.deadline = time.monotonic() + float(self.timeout or 30)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def _unusable(sock: str, why: str) -> NoReturn:
    err.print(f"[red]error:[/] the daemon's API at {escape(sock)} {escape(why)}")
    sys.exit(EXIT_UNREACHABLE)


def api(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the daemon's API socket, the whole exchange within daemon.api_timeout; a 4xx exits 2 with
    the daemon's message; no daemon, no whole answer in time, or an answer that is not the API's exits 5."""
    sock = settings.daemon.api_socket
    conn = _UnixConnection(sock, timeout=settings.daemon.api_timeout)
    try:
        conn.request(method, path, body=json.dumps(body or {}) if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        status = resp.status
        raw = resp.read(MAX_ANSWER + 1)
    except OSError as exc:
        _unusable(sock, f"cannot be reached: {str(exc) or type(exc).__name__} (is `remediator daemon` running?)")
    except http.client.HTTPException as exc:  # a bad status line, a header flood, a body cut short
        _unusable(sock, f"answered something that is not HTTP ({type(exc).__name__}: {idents.shown(str(exc), 80)})")
    finally:
        conn.close()
    try:
        if len(raw) > MAX_ANSWER:
            raise ValueError(f"more than {MAX_ANSWER >> 20} MiB")
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        _unusable(sock, f"answered HTTP {status} with something that is not JSON ({str(exc)[:80]})")
    if 400 <= status < 500:
        message = data.get("error") if isinstance(data, dict) else None
        err.print(f"[red]error:[/] {escape(idents.shown(message, 400) if isinstance(message, str) else f'HTTP {status}')}")
        sys.exit(EXIT_BAD_INPUT)
    if not 200 <= status < 300 or not isinstance(data, dict):
        _unusable(sock, f"answered HTTP {status} with " + ("a JSON object" if isinstance(data, dict) else
                                                           f"JSON {type(data).__name__}, not an object"))
    return data


def _shape(settings: Settings, data: dict[str, Any], ok: bool, what: str) -> None:
    """Exit 5 when the daemon's answer lacks what the command prints (a daemon of another version, or not one)."""
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
    observe) within the limits, serve approvals/status/metrics on daemon.api_socket. JSON log lines on stdout."""
    from remediator.daemon.core import Daemon

    path = config_or_exit(config)
    settings = settings_or_exit(path)
    try:
        code = Daemon(path, settings).run()
    except InputError as exc:
        bad_input(exc)
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
    state = Path(settings.state_dir)
    try:  # read-only: with the daemon down, nothing is created; a damaged file is named, never rewritten
        obj = status_object(settings, Store(state, readonly=True), Journal(state, readonly=True))
    except RemediatorError as exc:  # BadStateFile, or a journal locked too long: exit 2, never 1
        bad_input(exc if isinstance(exc, InputError) else InputError(str(exc)))
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
    settings = settings_or_exit(config)
    data = api(settings, "GET", "/v1/approvals")
    _shape(settings, data, isinstance(data.get("approvals"), list) and all(_approval_ok(a) for a in data["approvals"]),
           "a list of approvals")
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


def _approval_ok(a: object) -> bool:
    return isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("id", "host", "incident", "step", "summary")) \
        and _number(a.get("expires")) and isinstance(a.get("changes"), list)


def _decide(config: Path | None, ident: str, step: str | None, verb: str, by: str | None) -> None:
    import getpass

    try:  # never a path of another route, never a control character in the daemon's log
        ident = idents.one_of(("approval id", "incident id"), ident, "IDENT")
        step = idents.check("step id", step, "STEP") if step is not None else None
    except InputError as exc:
        bad_input(exc)
    body: dict[str, Any] = {"by": by or getpass.getuser()}
    if step:
        body["step"] = step
    settings = settings_or_exit(config)
    data = api(settings, "POST", f"/v1/approvals/{ident}/{verb}", body)
    a = data.get("approval") or {}
    _shape(settings, data, isinstance(a, dict) and all(a.get(k) is None or isinstance(a.get(k), str) for k in
                                                       ("id", "decision", "by", "incident", "step")), "an approval")
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
    try:
        host = idents.check("host name", host, "HOST")
    except InputError as exc:
        bad_input(exc)
    settings = settings_or_exit(config)
    data = api(settings, "POST", f"/v1/hosts/{host}/{verb}", {"reason": reason} if reason else {})
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

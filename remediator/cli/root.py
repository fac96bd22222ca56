"""The command line's group (`main`) and its own commands: run, resume, evidence collect, config check, runbook
validate|graph, demo; it adds the daemon's commands (cli.daemon), the diagnosis commands (cli.diag) and incidents
(cli.incidents).

Role: parse arguments, render with rich, ask for approvals, map outcomes to exit codes. Imported by cli/__init__.
Exit codes are a public interface (scripts depend on them): one table, remediator/exitcodes.py, which ends every
command's --help (the codes that command can return) and is README.md's table. The group is
cli.guard.Guarded: an exception nothing expected is one line and exit 10, never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click
from rich.markup import escape
from rich.prompt import Confirm

from remediator import exitcodes, modes, outputs
from remediator.app import Faces, heal_host, resume_incident, runbook_arg, state_dir_apart, stop_on_signals
from remediator.cli.common import (
    CONFIG,
    JSON,
    add_exit_codes,
    bad_input,
    config_or_exit,
    err,
    out,
    self_command,
    settings_or_exit,
    shown,
)
from remediator.cli.daemon import COMMANDS
from remediator.cli.diag import diagnose, probe, render_verdict, signatures
from remediator.cli.guard import Guarded
from remediator.cli.incidents import incidents
from remediator.detect.probes import Round
from remediator.detect.verdict import Verdict
from remediator.engine import Approver, Interrupted
from remediator.errors import HostBusy, InputError, RemediatorError
from remediator.incident import Report
from remediator.ladder import RUNBOOKS
from remediator.runbook import Runbook, load_runbook
from remediator.settings import load_settings
from remediator.structs import EXIT_CODES, EXIT_HOST_BUSY, EXIT_INTERRUPTED, ApprovalRequest, StepEvent

if TYPE_CHECKING:
    from remediator.lab.sandbox import Sandbox

P = ParamSpec("P")
R = TypeVar("R")
DEMO_STATE = "/tmp/remediator-demo"
STYLE = {"ok": "green", "fail": "bold red", "refused": "bold yellow", "rollback": "bold magenta", "undone": "magenta",
         "plan": "cyan", "guard": "dim", "retry": "yellow", "warn": "yellow", "start": "bold", "facts": "dim",
         "progress": "dim", "rung": "bold cyan", "verdict": "bold", "escalate": "bold yellow",
         "resume": "bold cyan", "journal": "bold red"}


def reporter(kind: str, step: str | None, text: str, lines: list[str] | None = None, *,
             event: StepEvent | None = None) -> None:
    stamp = time.strftime("%H:%M:%S")
    label = f"{step:<9}" if step else " " * 9
    out.print(f"[dim]{stamp}[/] {label} [{STYLE.get(kind, '')}]{kind:<8}[/] {shown(text)}")
    if kind == "journal":  # the journal cannot be written: said where an operator's error output goes, too
        err.print(f"[bold red]journal:[/] {shown(text)}")
    for line in lines or []:
        out.print(f"{' ' * 28}[dim]·[/] {shown(line)}")


def make_approver(yes: bool) -> Approver:
    def approve(request: ApprovalRequest) -> tuple[bool, str]:
        if yes:
            return True, "--yes"
        if not sys.stdin.isatty():
            return False, "no TTY and no --yes"
        return Confirm.ask(f"[bold]Run risky step [yellow]{escape(request.step)}[/] ({escape(request.action)})?[/]",
                           console=out, default=False), "operator at the terminal"
    return approve


@click.group(cls=Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="remediator")
def main() -> None:
    """remediator: heal a Docker host wedged by corrupt containerd state, keeping the evidence."""
    outputs.install()  # every line any command prints is redacted (remediator/outputs.py)


def execute(config: Path, host: str, runbook: str, dry_run: bool, yes: bool) -> Report:
    """The run command's face over app.heal_host: prints the diagnosis, the chosen runbook and every step."""
    settings = load_settings(config)
    mode = "DRY-RUN (nothing will be changed)" if dry_run else ("auto-approve (--yes)" if yes else "interactive")
    name = settings.host(host).name

    def on_round(r: Round, v: Verdict) -> None:
        err.print(f"[dim]{escape(name)}: round {r.number} → {v.diagnosis} ({r.wall:.2f}s)[/]")

    def on_verdict(v: Verdict) -> None:
        render_verdict(v, name)

    def on_runbook(rb: Runbook) -> None:
        out.rule(f"[bold]{escape(rb.name)}[/] on [bold]{escape(name)}[/] — {mode}")

    stop = stop_on_signals()
    if runbook == "auto":
        out.rule(f"[bold]diagnosis[/] of [bold]{escape(name)}[/]")
    return heal_host(settings, host, runbook, dry_run=dry_run,
                     faces=Faces(make_approver(yes), reporter, on_round, on_verdict, on_runbook, stop))


def finish(report: Report, config: Path) -> None:
    if report.incident is None:  # the verdict selected nothing: no incident was opened
        colour = "green" if EXIT_CODES[report.outcome] == 0 else "bold yellow"
        out.print(f"[{colour}]{shown(report.summary)}[/]")
        sys.exit(EXIT_CODES[report.outcome])
    colour = {0: "green", 3: "magenta"}.get(EXIT_CODES[report.outcome], "red")
    out.rule()
    out.print(f"[bold {colour}]{shown(report.summary)}[/]")
    out.print(escape(f"incident {report.incident} — details: {self_command()} incidents {report.incident} "
                     f"--config {config}"))
    sys.exit(EXIT_CODES[report.outcome])


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Map the errors every incident command can raise to their exit codes."""
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            bad_input(exc)
        except HostBusy as exc:
            err.print(f"[red]host busy:[/] {escape(str(exc))}")
            sys.exit(EXIT_HOST_BUSY)
        except Interrupted as exc:
            err.print(f"[yellow]interrupted:[/] {escape(str(exc))}")
            sys.exit(EXIT_INTERRUPTED)
        except RemediatorError as exc:  # raised outside the steps (a step's failure is an outcome, 1 among them);
            # an incident cut short here stays in flight and `run` resumes it
            err.print(f"[red]error:[/] {escape(str(exc))}")
            sys.exit(exitcodes.BAD_INPUT)
    return wrapper


@main.command()
@CONFIG
@click.option("--host", required=True, help="host name from the config")
@click.option("--runbook", default="auto", show_default=True,
              help="a runbook file or name, or auto: diagnose and run the runbook the verdict selects")
@click.option("--dry-run", is_flag=True, help="print the plan with guards evaluated for real; change nothing")
@click.option("--yes", is_flag=True, help="approve every risky step (and its rollback)")
def run(config: Path | None, host: str, runbook: str, dry_run: bool, yes: bool) -> None:
    """Run one incident on the host named by --host: diagnose it, then run the runbook the verdict selects (or the
    one given by --runbook). Risky steps are asked at the terminal, approved by --yes, or refused without a TTY."""
    path = config_or_exit(config)
    finish(guarded(execute)(path, host, runbook, dry_run, yes), path)


@main.command("resume")
@click.argument("incident")
@CONFIG
@click.option("--yes", is_flag=True, help="approve every risky step still to run (and its rollback)")
def resume_cmd(incident: str, config: Path | None, yes: bool) -> None:
    """Go on with INCIDENT (an incident id), whose operator stopped before it ended (`run` on its host does the
    same). To let the daemon act on a paused host again, that is `remediator resume-host HOST`."""
    path = config_or_exit(config)

    def go() -> Report:
        settings = load_settings(path)
        stop = stop_on_signals()

        def on_verdict(v: Verdict) -> None:
            render_verdict(v, "host")

        def on_runbook(rb: Runbook) -> None:
            out.rule(f"[bold]{escape(rb.name)}[/] — resumed")
        return resume_incident(settings, incident, faces=Faces(make_approver(yes), reporter, None, on_verdict,
                                                                 on_runbook, stop))
    finish(guarded(go)(), path)


@main.group()
def evidence() -> None:
    """Evidence bundles."""


@evidence.command("collect")
@CONFIG
@click.option("--host", required=True, help="host name from the config")
def collect(config: Path | None, host: str) -> None:
    """Capture an evidence bundle alone (an incident of its own; nothing is changed)."""
    path = config_or_exit(config)
    finish(guarded(execute)(path, host, "evidence", False, False), path)


main.add_command(probe)
main.add_command(diagnose)
main.add_command(signatures)
for _command in COMMANDS:
    main.add_command(_command)


@main.group("config")
def config_group() -> None:
    """Check the configuration."""


@config_group.command("check")
@CONFIG
@JSON
def config_check(config: Path | None, as_json: bool) -> None:
    """Validate the config (every problem as file:line:col: field: message, exit 2) and show what it says."""
    path = config_or_exit(config)
    settings = settings_or_exit(path)
    try:  # read-only: what a run would refuse about the state_dir as it is on disk now
        state_dir_apart(settings)
        modes.existing_state_dir(settings.state_dir)
    except InputError as exc:  # named with the file that says it
        bad_input(InputError([f"{path}: state_dir: {p}" for p in exc.problems]))
    if as_json:
        click.echo(outputs.dumps({"config": str(path), **settings.model_dump(mode="json")}, indent=1))
        return
    out.print(f"[green]ok[/] {escape(str(path))}: state_dir {escape(settings.state_dir)}, "
              f"{len(settings.hosts)} host(s), ladder.max_steps {settings.ladder.max_steps}")
    for d in settings.runbook_dirs:  # os.path: a name too long to look up is just not there (Path raises)
        out.print(f"  runbooks also from {escape(d)}" + ("" if os.path.isdir(d) else " [yellow](missing)[/]"))
    for h in settings.hosts:
        sock = h.socket_path
        out.print(f"  {escape(h.name)}: service {h.service.kind}, data-root {escape(h.data_root)}, "
                  f"exec-root {escape(h.exec_root)}, socket {escape(sock)}"
                  + ("" if os.path.exists(sock) else " [yellow](not there now)[/]"))


@main.group()
def runbook() -> None:
    """Validate runbooks and print their state machine."""


@runbook.command("validate")
@click.argument("paths", nargs=-1, metavar="[FILE|NAME]...")
@JSON
def validate(paths: tuple[str, ...], as_json: bool) -> None:
    """Check runbooks (files or shipped names; none: every shipped one); every problem as file:line:col: field: message (exit 2)."""
    problems, valid = [], []
    for arg in paths or tuple(str(p) for p in sorted(RUNBOOKS.glob("*.yaml"))):
        try:
            path = runbook_arg(arg)
            rb = load_runbook(path)
            valid.append({"path": str(path), "name": rb.name, "steps": [s.id for s in rb.steps],
                          "risky": [s.id for s in rb.steps if s.risky], "sha256": rb.sha256})
            if not as_json:
                out.print(f"[green]ok[/] {escape(str(path))}: {escape(rb.name)}, {len(rb.steps)} steps, "
                          f"risky: {escape(', '.join(s.id for s in rb.steps if s.risky) or 'none')}")
        except InputError as exc:
            problems += exc.problems
    if as_json:
        click.echo(outputs.dumps({"valid": valid, "problems": problems}, indent=1))
    if problems:
        bad_input(InputError(problems))


@runbook.command("graph")
@click.argument("path")
def graph(path: str) -> None:
    """Print the runbook's state machine as Mermaid (a file, or a shipped runbook's name)."""
    from remediator import machine

    try:
        rb = load_runbook(runbook_arg(path))
    except InputError as exc:
        bad_input(exc)
    click.echo(machine.mermaid(rb))


@main.command()
@click.option("--containers", default=4, show_default=True, help="containers in the sandbox")
@click.option("--fault", type=click.Choice(["metadb", "hang"]), default="metadb", show_default=True,
              help="metadb: containerd's meta.db garbage, dockerd refuses to start; hang: dockerd SIGSTOPped")
@click.option("--keep", is_flag=True, help="leave the sandbox directory (daemons are stopped anyway)")
@click.option("--daemon", "under_daemon", is_flag=True,
              help="heal it under a real `remediator daemon` (policy approve): approve its risky steps from another "
                   "terminal with the printed line; everything is torn down at the end")
@click.option("--yes", is_flag=True, help="with --daemon: the demo approves each risky step itself, through the API "
              "(as `remediator approve` would)")
def demo(containers: int, fault: str, keep: bool, under_daemon: bool, yes: bool) -> None:
    """Break a disposable real dockerd sandbox the incident's way and heal it while you watch.

    Needs root and Docker's own binaries (Debian: apt-get install docker.io busybox-static; dockerd, containerd,
    runc, busybox). The sandbox is a dockerd of its own (data-root, exec-root, socket and pidfile under
    /tmp/rmd-lab-*, no bridge, no iptables; the host's Docker is not touched), removed afterwards unless --keep.
    With --daemon the sandbox is healed by a real `remediator daemon` (its config, state and log in the sandbox).
    The incident (journal, evidence, backup) and its config are written to /tmp/remediator-demo and kept."""
    from remediator.lab.sandbox import Sandbox

    if yes and not under_daemon:
        bad_input(InputError("--yes: only with --daemon (the plain demo approves its own steps)"))
    if under_daemon:
        from remediator.lab.daemon import run_demo

        sys.exit(run_demo(_demo_say, containers=containers, fault=fault, yes=yes, keep=keep))

    sandbox = Sandbox(name="demo")
    code = exitcodes.BAD_INPUT  # the demo could not run (no root, no dockerd): nothing of the host was changed
    try:
        _demo_break(sandbox, containers, fault)
        cfg = sandbox.root / "config.yaml"
        cfg.write_text(sandbox.config_yaml(DEMO_STATE))  # kept after the sandbox goes: evidence, backups, journal
        report = execute(cfg, "demo", "auto", dry_run=False, yes=True)
        if report.incident is None:
            raise RemediatorError(f"the sandbox was diagnosed {report.verdict.diagnosis if report.verdict else '?'} "
                                  "after the fault: the demo is broken")
        code = EXIT_CODES[report.outcome]
        out.rule("[bold]result")
        out.print(f"[bold]{escape(report.summary)}[/]")
        if report.outcome.value == "recovered":
            out.print(f"containers running now: {len(sandbox.running())} of {containers}")
        out.print(escape(f"evidence: {report.dir}/evidence.tar.gz\njournal:  {self_command()} incidents "
                         f"{report.incident} --config {DEMO_STATE}/config.yaml"))
        (Path(DEMO_STATE) / "config.yaml").write_text(cfg.read_text())
    except RemediatorError as exc:
        err.print(f"[red]demo failed:[/] {escape(str(exc))}")
    finally:
        if keep:
            sandbox.kill_processes()
            out.print(f"kept {escape(str(sandbox.root))}")
        else:
            sandbox.cleanup()
            out.print("sandbox removed")
    sys.exit(code)


def _demo_break(sandbox: Sandbox, containers: int, fault: str) -> None:
    """Start the demo's sandbox with `containers` running, then break it the `fault` way."""
    out.rule("[bold]sandbox")
    sandbox.start()
    sandbox.populate(containers)
    out.print(f"dockerd up in {escape(str(sandbox.root))} with {len(sandbox.running())} running containers")
    if fault == "metadb":
        sandbox.corrupt_metadb()
        out.print("[red]fault:[/] dockerd crashed and containerd's meta.db is garbage; dockerd refuses to start")
    else:
        sandbox.wedge()
        out.print("[red]fault:[/] dockerd is SIGSTOPped: the API accepts connections and never answers")


def _demo_say(kind: str, text: str) -> None:
    """`demo --daemon`'s lines: the text is never markup, and never wrapped (commands are copied from it)."""
    if kind == "rule":
        out.rule(f"[bold]{escape(text)}")
    elif kind == "hint":
        out.print(f"{' ' * 18}{escape(text)}", soft_wrap=True)
    else:
        stamp = time.strftime("%H:%M:%S")
        colour = {"fault": "bold red", "ask": "bold yellow", "fail": "bold red", "ok": "bold green"}.get(kind, "dim")
        out.print(f"[dim]{stamp}[/] [{colour}]{escape(kind):<8}[/] {escape(text)}", soft_wrap=True)


main.add_command(incidents)
add_exit_codes(main)  # every command's --help ends with the exit codes it can return (exitcodes.COMMANDS)

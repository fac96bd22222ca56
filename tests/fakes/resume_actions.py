"""Fake actions for the resume unit tests, registered in the process that dies and in the one that resumes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from remediator import crashpoints
from remediator.actions import ActionSpec, Params, StepContext, action
from remediator.app import stop_on_signals
from remediator.detect.facts import Facts
from remediator.engine import Interrupted
from remediator.errors import PermanentStepError
from remediator.hosts.local import LocalHost
from remediator.incident import IncidentSettings, open_incident
from remediator.journal import Journal
from remediator.ladder import heal
from remediator.runbook import load_runbook
from remediator.settings import HostConfig
from remediator.structs import EXIT_INTERRUPTED, StepResult
from tests import crashrun


class Mark(Params):
    file: str
    text: str


def _append(ctx: StepContext, p: Mark) -> StepResult:
    with open(p.file, "a") as fh:
        fh.write(p.text + "\n")
    return StepResult(f"wrote {p.text}")


action(ActionSpec("test.mark", Mark, run=_append, plan=lambda c, p: StepResult("would mark"), mutates=True, risky=False))
action(ActionSpec("test.once", Mark, run=_append, plan=lambda c, p: StepResult("would mark once"), mutates=True,
                  risky=False, idempotent=False))

class Boom(Params):
    pass


def _boom(ctx: StepContext, p: Boom) -> StepResult:
    raise PermanentStepError("c breaks")


def _term(ctx: StepContext, p: Mark) -> StepResult:
    os.kill(os.getpid(), signal.SIGTERM)  # the operator is asked to stop while this step runs
    return _append(ctx, p)


action(ActionSpec("test.term", Mark, run=_term, plan=lambda c, p: StepResult("would mark"), mutates=True, risky=False))
action(ActionSpec("test.breaks", Boom, run=_boom, plan=lambda c, p: StepResult("would break"), mutates=True, risky=False))

RUNBOOK = """schema: 1
name: marks
steps:
  - {id: a, action: test.mark, params: {file: "LOG", text: a}, rollback: [{action: test.mark, params: {file: "LOG", text: undo_a}}]}
  - {id: b, action: test.once, params: {file: "LOG", text: b}, rollback: [{action: test.mark, params: {file: "LOG", text: undo_b}}]}
  - {id: c, action: test.mark, params: {file: "LOG", text: c}}
"""


def facts(tmp: Path) -> Facts:
    return Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp / "d"), exec_root=str(tmp / "e"),
                 version="x", layout="managed", state_dirs=[], dockerd_pid=None)


def runbook(tmp: Path) -> Path:
    path = tmp / "marks.yaml"
    text = RUNBOOK.replace("LOG", str(tmp / "log"))
    if (tmp / "b-risky").exists():
        text = text.replace("action: test.once,", "action: test.mark, risk: risky,")
    if (tmp / "b-terms").exists():
        text = text.replace("action: test.once", "action: test.term")
    if (tmp / "c-breaks").exists():
        text = text.replace('{id: c, action: test.mark, params: {file: "' + str(tmp / "log") + '", text: c}}',
                            "{id: c, action: test.breaks}")
    path.write_text(text)
    return path


def main(tmp: str, kill: str = "") -> None:
    """Run the incident; SIGKILLed at the crash point `kill` (none when empty)."""
    if kill:
        crashpoints.install(crashrun.checkpoint(kill=kill))
    root = Path(tmp)
    journal = Journal(root / "state")
    rb = load_runbook(runbook(root))
    ctx = open_incident(host=LocalHost(HostConfig(name="h")), runbook=rb, journal=journal, report=lambda *a, **k: None,
                        dry_run=False, config=IncidentSettings(evidence_budget=5), facts=facts(root))
    stop = stop_on_signals()
    try:
        heal(ctx, rb, journal=journal, approver=lambda r: (True, "t"), report=lambda *a, **k: None, dry_run=False,
             stop=stop)
    except Interrupted:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""The diagnosis is an ordered list of named rules: each rule decides where its README bullet says it does,
every corpus excerpt is decided by a named rule that points at lines of its input, and `--json`/`--explain`
say which rule decided."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from remediator.cli import main
from remediator.detect import dumps, logdiag, logrules, roundrules
from remediator.detect.probes import Obs, Round
from tests import corpus
from tests.conftest import REPO

DATA = Path(__file__).resolve().parents[1] / "data"
S = 'level=info msg="Starting up"'
R = 'level=info msg="Daemon has completed initialization"'
LIMIT = "docker.service: Start request repeated too quickly."
CONTAINER = "ERRO[0000] error waiting for container: context canceled"
LOG_CASES = {  # rule -> (a log it decides, the verdict, the lines it must name)
    "cause_in_last_attempt": (f"{S}\nFATA[0000] EOF", "containerd-state", (2,)),
    "start_limit_after_cause": (f"{S}\nFATA[0000] EOF\n{S}\n{R}\n{LIMIT}", "containerd-state", (2, 5)),
    "start_limit_after_unknown_error": (f'{S}\nlevel=error msg="nobody catalogued this"\n{LIMIT}', "unknown", (2, 3)),
    "start_limit": (LIMIT, "start-limit", (1,)),
    "unexplained_before_start": (f'{S}\nlevel=fatal msg="a thing no signature knows"', "unknown", (2,)),
    "crash_loop": ("Started Docker Application Container Engine.\n" * 3, "crash-loop", (1, 2, 3)),
    "started_with_container_faults": (f"{S}\n{R}\n{CONTAINER}", "container-fault", (2, 3)),
    "stopped_after_start": (f"{S}\n{R}\nlevel=info msg=\"Processing signal 'interrupt'\"\n"
                            "level=info msg=\"Daemon shutdown complete\"", "no-fault", (2, 3)),
    "started_and_quiet": (f"{S}\n{R}", "healthy", (1, 2)),
    "symptoms_only": ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
                      "dockerd-down", (1,)),
    "container_faults_only": (CONTAINER, "container-fault", (1,)),
    "unexplained_errors": (f'{S}\n{R}\npanic: something odd\nlevel=error msg="something odd"', "unknown", (4,)),
    "unexplained_failure": (f"{S}\nsomehelper: cannot do the thing it needs", "unknown", (2,)),
    "no_fault": (S, "no-fault", (1,)),
    "empty_log": ("", "no-fault", ()),
    dumps.RULE: ((DATA / "dumps" / "goroutine-stacks-2021-06-02T193336Z.log").read_text(), "dockerd-wedged", None),
}


def test_every_log_rule_has_a_case_and_the_list_is_ordered_as_documented() -> None:
    assert set(LOG_CASES) == {*logrules.NAMES, dumps.RULE}
    assert logrules.NAMES[0] == "cause_in_last_attempt" and logrules.NAMES[-1] == "empty_log"


@pytest.mark.parametrize("rule", list(LOG_CASES))
def test_each_log_rule_decides_its_case_and_names_the_lines_it_used(rule: str) -> None:
    text, verdict, lines = LOG_CASES[rule]
    v = logdiag.diagnose_text(text)
    assert (v.rule, v.verdict) == (rule, verdict), v.trace
    if lines is not None:
        assert v.rule_lines == lines
    else:  # the dump's goroutine headers the wedge rests on
        raws = text.splitlines()
        assert v.rule_lines and all(raws[n - 1].startswith("goroutine ") for n in v.rule_lines)


def _raw(text: str) -> list[str]:
    return text.splitlines()


def explain(path: Path) -> dict[str, object]:
    res = CliRunner().invoke(main, ["diagnose", "--log", str(path), "--json", "--explain"])
    assert res.exit_code in (0, 9), res.output
    return dict(json.loads(res.output))


@pytest.mark.parametrize("ex", corpus.load(), ids=lambda e: e.file.removesuffix(".log"))
def test_every_corpus_excerpt_is_decided_by_a_named_rule_from_lines_of_its_input(ex: corpus.Excerpt) -> None:
    got = explain(ex.path)
    raws = _raw(ex.path.read_text(errors="replace"))
    why = got["explain"]
    assert isinstance(why, dict)
    assert got["rule"] in (*logrules.NAMES, dumps.RULE) and why["rule"] == got["rule"] and why["says"]
    assert got["verdict"] == ex.label
    assert [ln["line"] for ln in why["lines"]] == got["rule_lines"]
    for ln in why["lines"]:
        assert ln["text"] == raws[ln["line"] - 1][:300]
    if got["rule"] not in ("no_fault", "started_and_quiet", "empty_log"):  # a fault is decided from lines
        assert why["lines"], got["rule"]


def test_explain_names_the_rule_and_prints_its_lines_in_the_table_view(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    log.write_text(f"{S}\nlevel=info msg=\"Loading containers: start.\"\nFATA[0000] EOF\n")
    res = CliRunner().invoke(main, ["diagnose", "--log", str(log), "--explain"])
    assert res.exit_code == 9
    assert "decided by rule cause_in_last_attempt: A cause line of the last start attempt decides" in res.output
    assert "  line 3: FATA[0000] EOF" in res.output
    plain = CliRunner().invoke(main, ["diagnose", "--log", str(log)])
    assert "decided by rule" not in plain.output  # only when asked


def test_json_names_the_rule_without_explain(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    log.write_text(LIMIT + "\n")
    got = json.loads(CliRunner().invoke(main, ["diagnose", "--log", str(log), "--json"]).output)
    assert (got["rule"], got["rule_lines"], got["verdict"]) == ("start_limit", [1], "start-limit")
    assert "explain" not in got


def _round(**outcomes: str | tuple[str, dict[str, object]] | Obs) -> Round:
    """A round where every probe answers at once unless named: name=outcome or name=(outcome, data)."""
    obs = {n: Obs(n, "ok", 0.002) for n in ("_ping", "version", "info", "containers", "containerd", "disk", "kernel")}
    obs["dockerd-proc"] = Obs("dockerd-proc", "ok", detail="pid 7", data={"uptime": 900.0})
    obs["containerd-proc"] = Obs("containerd-proc", "ok")
    for name, o in outcomes.items():
        if isinstance(o, Obs):
            obs[name] = o
        else:
            outcome, data = (o, {}) if isinstance(o, str) else o
            obs[name] = Obs(name, outcome, 0.002, detail="x", data=data)
    return Round(1, 0.0, obs, [], [])


CAUSE = logdiag.diagnose_text(f"{S}\nFATA[0000] EOF")  # a log that names containerd-state, start failed
STARTING = logdiag.diagnose_text(f'{S}\nlevel=error msg="write /var/lib/docker/x: no space left on device"')  # not failed
QUIET = logdiag.diagnose_text("")
ROUND_CASES = {  # rule -> (round, log, layout, diagnosis)
    "no_access": (_round(_ping=Obs("_ping", "denied", cause="access", detail="EACCES")), QUIET, "managed", "no-access"),
    "disk_full": (_round(disk="full"), QUIET, "managed", "disk-full"),
    "kernel_hang": (_round(kernel="hung-task", _ping="timeout"), QUIET, "managed", "kernel-hang"),
    "dockerd_down": (_round(**{"dockerd-proc": "absent"}), QUIET, "managed", "dockerd-down"),
    "starting_despite_log_cause": (_round(_ping="timeout", **{"dockerd-proc": ("ok", {"uptime": 5.0})}), STARTING,
                                   "managed", "starting"),
    "log_cause_while_silent": (_round(_ping="timeout"), CAUSE, "managed", "containerd-state"),
    "restarted_while_watched": (_round(_ping="timeout", **{"dockerd-proc": ("ok", {"uptime": 900.0, "restarts": 2})}),
                                QUIET, "managed", "crash-loop"),
    "starting": (_round(_ping="timeout", **{"dockerd-proc": ("ok", {"uptime": 5.0})}), QUIET, "managed", "starting"),
    "ping_silent": (_round(_ping="timeout"), QUIET, "managed", "dockerd-wedged"),
    "containerd_calls_silent": (_round(info="timeout", containerd="timeout"), QUIET, "managed", "containerd-wedged"),
    "container_lock_held": (_round(containers="timeout"), QUIET, "managed", "dockerd-wedged"),
    "containerd_socket_elsewhere": (_round(containerd="missing"), QUIET, "managed", "degraded"),
    "containerd_silent": (_round(containerd="refused"), QUIET, "external", "containerd-down"),
    "invisible_containers": (_round(shims=("ok", {"invisible": ["0123456789ab"]})), QUIET, "managed",
                             "containerd-state"),
    "stale_runtime_state": (_round(shims=("ok", {"stale_runc": ["0123456789ab"]})), QUIET, "managed",
                            "containerd-state"),
    "slow_answers": (_round(version="slow"), QUIET, "managed", "degraded"),
    "healthy": (_round(), QUIET, "managed", "healthy"),
}


def test_every_round_rule_has_a_case() -> None:
    assert set(ROUND_CASES) == set(roundrules.NAMES)
    assert roundrules.NAMES[0] == "no_access" and roundrules.NAMES[-1] == "healthy"


@pytest.mark.parametrize("rule", list(ROUND_CASES))
def test_each_round_rule_decides_its_case(rule: str) -> None:
    r, log, layout, diagnosis = ROUND_CASES[rule]
    view = roundrules.classify(r, log, layout)
    assert (view.rule, view.diagnosis) == (rule, diagnosis), view.because + view.against


def test_a_rule_that_passes_says_why_not_in_the_trace_of_the_one_that_decides() -> None:
    view = roundrules.classify(_round(_ping="timeout", disk="ok"), QUIET, "managed")
    assert view.against[:2] == ["not disk-full: x", "not kernel-hang: no hung-task message, no D-state threads"]
    assert view.against[2] == "not containerd-*: containerd answers"


def _readme_diagnosis() -> str:
    text = (REPO / "README.md").read_text()
    return text[text.index("\n## Diagnosis"):text.index("\n## ", text.index("\n## Diagnosis") + 1)]


def test_each_rule_is_one_bullet_of_readme_diagnosis_in_the_order_it_runs() -> None:
    section = _readme_diagnosis()
    for names in ((*logrules.NAMES, dumps.RULE), roundrules.NAMES):
        bullets = [re.search(rf"^\s*(?:-|\d+\.) `{name}`", section, re.M) for name in names]
        assert all(bullets), [n for n, b in zip(names, bullets, strict=True) if not b]
        starts = [b.start() for b in bullets if b]
        assert starts == sorted(starts), "README lists the rules in another order than they run"


@pytest.mark.parametrize("rule", [*logrules.RULES, logrules.empty_log, dumps.judge, *roundrules.RULES, roundrules.healthy],
                         ids=lambda r: r.__name__)
def test_each_rule_is_short_and_documented(rule: Any) -> None:
    src = inspect.getsource(rule)
    assert len(src.splitlines()) <= 30, f"{len(src.splitlines())} lines"
    assert (getattr(rule, "__doc__", None) or "").strip()

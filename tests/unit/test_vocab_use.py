"""The vocabularies are checked where words come in and covered where the code branches over them: a runbook's
`probe.confirm expect:` names diagnoses (a typo is bad input at load, file:line:field, exit 2), every probe outcome
is classified, every diagnosis is described, and the live verdict names the round rule that classified it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from remediator import app, exitcodes
from remediator.actions.handoffs import ConfirmOutput
from remediator.actions.probe import ConfirmParams
from remediator.cli import main
from remediator.detect import probes, roundrules
from remediator.detect.diagnose import diagnose_host
from remediator.detect.diagnoses import DIAGNOSES, PRIORITY, runbook_for
from remediator.detect.facts import Facts
from remediator.detect.probes import Obs, Round
from remediator.detect.verdict import Monitor, Verdict
from remediator.errors import InputError
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.port import Ping
from remediator.hosts.procs import Family
from remediator.runbook import load_runbook
from remediator.settings import HostConfig, Settings
from remediator.structs import Proc
from remediator.vocab import Diagnosis, PingOutcome
from tests.conftest import REPO, cli

SHIPPED = REPO / "runbooks" / "docker-libcontainerd.yaml"
EXPECT = "expect: [containerd-state, dockerd-wedged]"


def _runbook(tmp_path: Path, expect: str) -> Path:
    text = SHIPPED.read_text()
    assert EXPECT in text, "the shipped runbook's confirm step changed: update EXPECT"
    path = tmp_path / "rb.yaml"
    path.write_text(text.replace(EXPECT, f"expect: {expect}"))
    return path


def test_an_expected_diagnosis_that_does_not_exist_is_refused_at_load_with_its_position(tmp_path: Path) -> None:
    path = _runbook(tmp_path, "[containerd-state, dockerd-wedge, [x], 3]")
    with pytest.raises(InputError) as exc:
        load_runbook(path)
    probs = exc.value.problems
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "dockerd-wedge," in t)
    assert len(probs) == 3, probs  # one per bad item: the typo, a list, a number; the good item passes
    for i, p in zip((1, 2, 3), probs, strict=True):
        assert p.startswith(f"{path}:{line}:") and f"steps[0].params.expect[{i}]: " in p, p
        assert "not a diagnosis; expected any or one of healthy, " in p, p
    assert "(got 'dockerd-wedge')" in probs[0]


def test_runbook_validate_exits_2_on_an_expect_typo_without_a_traceback(tmp_path: Path) -> None:
    path = _runbook(tmp_path, "[containerd-stat]")
    res = cli("runbook", "validate", str(path))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert f"{path}:" in res.stderr and "steps[0].params.expect[0]" in res.stderr and "'containerd-stat'" in res.stderr


def test_expect_holds_members_and_any() -> None:
    assert ConfirmParams().expect == ["any"]
    p = ConfirmParams(expect=["containerd-state", "any"])
    assert p.expect == [Diagnosis.CONTAINERD_STATE, "any"] and isinstance(p.expect[0], Diagnosis)


def test_a_journaled_confirm_output_reads_back_as_a_member_and_a_foreign_word_is_not_one() -> None:
    got = ConfirmOutput.from_record({"diagnosis": "dockerd-wedged", "confidence": "high"})
    assert got is not None and got.diagnosis is Diagnosis.DOCKERD_WEDGED
    assert json.dumps(got.record())[:35] == '{"diagnosis": "dockerd-wedged", "co', "the journal keeps the same word"
    for foreign in ("dockerd-wedge", ["dockerd-wedged"], None, 3):
        assert ConfirmOutput.from_record({"diagnosis": foreign}) is None, foreign


def test_every_probe_outcome_is_host_evidence_or_the_operators_environment_never_both() -> None:
    host, operator = probes.HOST_OUTCOMES, set(probes.OPERATOR_OUTCOMES)
    assert host | operator == set(PingOutcome) and not host & operator
    assert set(probes.OPERATOR_OUTCOMES.values()) <= set(probes.OPERATOR_CAUSES)
    assert set(roundrules.HOW) == set(probes.OPERATOR_CAUSES), "every operator cause says what to do"
    facts = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    for outcome in PingOutcome:
        blamed = probes.blame(Obs("log", outcome, detail="x"), facts).cause
        assert bool(blamed) == (outcome in operator), outcome


def test_every_diagnosis_is_described_and_a_sick_one_selects_a_shipped_runbook() -> None:
    assert list(DIAGNOSES) == list(Diagnosis), "one description per member, in the vocabulary's order"
    shipped = {p.stem for p in (REPO / "runbooks").glob("*.yaml")}
    for d, meaning in DIAGNOSES.items():
        assert meaning.name is d and meaning.meaning
        assert (meaning.runbook is not None) == meaning.sick, d
        assert runbook_for(d) in shipped | {None}, d
        assert runbook_for(d, "external") in shipped | {None}, d
    assert set(PRIORITY) <= {d for d, m in DIAGNOSES.items() if m.sick}


# --- the live verdict names its round rule ---------------------------------------------------------------------

FACTS = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
              state_dirs=[], dockerd_pid=None, containerd_sock="/e/containerd/containerd.sock")


def _host(ping: Ping | None = None) -> FakeHost:
    host = FakeHost(config=HostConfig(name="h", docker_host="unix:///s"),
                    processes=[Proc(10, 1, "S", "dockerd", "/usr/bin/dockerd", ("dockerd",), start=1)],
                    family_of=lambda procs: Family(dockerd=[p for p in procs if p.comm == "dockerd"]))
    if ping is not None:
        host.pings = {path: ping for path in ("/_ping", "/version", "/info", "/containers/json?all=1")}
    return host


def test_the_live_verdict_carries_the_round_rule_of_its_last_round() -> None:
    m = Monitor("managed")
    ok = Round(1, 0.0, {n: Obs(n, PingOutcome.OK, 0.001) for n in ("_ping", "version", "info", "containers")}, [], [])
    v = m.feed(ok)
    assert (v.diagnosis, v.rule, v.as_json()["rule"]) == ("healthy", "healthy", "healthy")
    silent = Round(2, 0.0, {**ok.obs, "_ping": Obs("_ping", PingOutcome.TIMEOUT, 5.0)}, [], [])
    got = [m.feed(silent) for _ in range(3)]
    assert [(x.diagnosis, x.rule) for x in got] == [("suspect", "ping_silent")] * 2 + [("dockerd-wedged", "ping_silent")]


@pytest.mark.parametrize(("ping", "verdict", "rule"), [
    (None, "healthy", "healthy"),
    (Ping(PingOutcome.TIMEOUT, 5.0, "no answer"), "dockerd-wedged", "ping_silent"),
])
def test_probe_json_names_the_round_rule_as_diagnose_json_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 ping: Ping | None, verdict: str, rule: str) -> None:
    host = _host(ping)

    def on_the_fake_host(hcfg: HostConfig, settings: Settings, *, rounds: int | None = None,
                         **_: object) -> tuple[Facts, Verdict]:  # app.diagnose, on the fake host (no dockerd of ours)
        return FACTS, diagnose_host(host, FakeService(), FACTS, settings.probe, max_rounds=rounds)

    monkeypatch.setattr(app, "diagnose", on_the_fake_host)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nprobe: {{interval: 0, startup_grace: 0}}\nhosts:\n  - name: h\n")
    res = CliRunner().invoke(main, ["probe", "--config", str(cfg), "--json"])
    got = json.loads(res.output)
    assert (got["verdict"], got["rule"]) == (verdict, rule), res.output
    assert got["rule"] in roundrules.NAMES
    assert res.exit_code == (exitcodes.OK if verdict == "healthy" else exitcodes.SICK)

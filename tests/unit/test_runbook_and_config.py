"""Bad input: every problem named with file:line:col and field, exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.errors import InputError
from remediator.runbook import load_runbook, substitute
from remediator.settings import load_settings
from tests.conftest import REPO, cli

GOOD = (REPO / "runbooks" / "docker-libcontainerd.yaml").read_text()


def _rb(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rb.yaml"
    p.write_text(text)
    return p


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_runbook(path)
    return exc.value.problems


def test_shipped_runbooks_and_example_config_validate() -> None:
    for rb in (REPO / "runbooks").glob("*.yaml"):
        load_runbook(rb)
    load_settings(REPO / "config.example.yaml")


def test_every_problem_reported_with_position(tmp_path: Path) -> None:
    text = GOOD.replace("timeout: 120", "timeout: -1").replace("grace: 10", "grace: 10, bogus: 1")
    text = text.replace("action: docker.snapshot", "action: docker.snapshoot")
    probs = _problems(_rb(tmp_path, text))
    assert any("steps[4].timeout: Input should be greater than 0" in p for p in probs), probs
    assert any("unknown action 'docker.snapshoot'" in p and "steps[2].action" in p for p in probs)
    for p in probs:
        assert p.startswith(str(tmp_path / "rb.yaml") + ":"), p
        line, col = p.split(":")[1:3]
        assert line.isdigit() and col.isdigit()


def test_unknown_placeholder_is_an_error(tmp_path: Path) -> None:
    probs = _problems(_rb(tmp_path, GOOD.replace('"{state_dirs}"}', '"{state_dir}"}', 1)))
    assert any("unknown name {state_dir}" in p and "steps[6].params" in p for p in probs), probs


def test_risky_action_cannot_be_declared_safe(tmp_path: Path) -> None:
    probs = _problems(_rb(tmp_path, GOOD.replace("action: files.quarantine\n    risk: risky",
                                                 "action: files.quarantine\n    risk: safe")))
    assert any("inherently risky" in p for p in probs), probs


def test_step_reference_must_be_earlier(tmp_path: Path) -> None:
    probs = _problems(_rb(tmp_path, GOOD.replace("quarantine_step: quarantine}", "quarantine_step: verify}", 1)))
    assert any("refers to step 'verify'" in p for p in probs), probs
    probs = _problems(_rb(tmp_path, GOOD.replace("snapshot_step: snapshot", "snapshot_step: archive", 1)))
    assert any("refers to step 'archive'" in p for p in probs), probs


def test_duplicate_keys_and_syntax(tmp_path: Path) -> None:
    assert ":3:" in _problems(_rb(tmp_path, "schema: 1\nname: a\nname: b\nsteps: []\n"))[0]
    assert "YAML syntax" in _problems(_rb(tmp_path, "steps: [\n"))[0]


def test_substitution_is_strict_and_typed() -> None:
    names = {"state_dirs": ["/a", "/b"], "params.n": 3, "data_root": "/d"}
    assert substitute({"p": "{state_dirs}", "n": "{params.n}", "s": "{data_root}/x {{lit}}"}, names) == \
        {"p": ["/a", "/b"], "n": 3, "s": "/d/x {lit}"}
    with pytest.raises(KeyError):
        substitute("{nope}", names)


def test_cli_validate_exits_2_with_positions(tmp_path: Path) -> None:
    bad = _rb(tmp_path, GOOD.replace("on_failure: continue", "on_failure: sometimes"))
    res = cli("runbook", "validate", str(bad))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert f"{bad}:" in res.stderr and "steps[1].on_failure" in res.stderr


def test_bad_config_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nhosts:\n  - name: h\n    data_root: ../etc\n    exec_root: /run/x\n")
    res = cli("run", "--config", str(cfg), "--host", "h", "--yes")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{cfg}:4:5: hosts[0].data_root" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "state").exists()


def test_config_roots_must_be_apart_and_argv_agree(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("hosts:\n  - name: h\n    data_root: /srv/d\n    exec_root: /srv/d/x\n")
    with pytest.raises(InputError, match="must not contain each other"):
        load_settings(cfg)
    cfg.write_text("hosts:\n  - name: h\n    data_root: /srv/d\n    service: {kind: process, argv: [dockerd, --data-root, /other], "
                   "pidfile: /run/p, log: /var/log/d}\n")
    with pytest.raises(InputError, match="--data-root"):
        load_settings(cfg)


def test_garbage_runbook_param_types(tmp_path: Path) -> None:
    probs = _problems(_rb(tmp_path, GOOD.replace("stop_grace: 15", "stop_grace: soon")))
    assert any("steps[4].params" in p and "grace" in p for p in probs), probs


@pytest.mark.parametrize("field,value", [("pidfile", "docker.pid"), ("pidfile", "/run/../etc/passwd"),
                                         ("log", "logs/d.log"), ("log", "/var/log/../../etc/shadow")])
def test_a_command_service_refuses_relative_and_dotdot_paths_like_the_others(tmp_path: Path, field: str, value: str) -> None:
    cfg = tmp_path / "c.yaml"
    svc = {"pidfile": "/run/docker.pid", "log": "/var/log/d.log", field: value}
    cfg.write_text("hosts:\n  - name: h\n    service: {kind: command, start: [a], stop: [b], status: [c], "
                   f"pidfile: '{svc['pidfile']}', log: '{svc['log']}'}}\n")
    with pytest.raises(InputError, match=rf"hosts\[0\]\.service\.command\.{field}|{field}"):
        load_settings(cfg)
    cfg.write_text("hosts:\n  - name: h\n    service: {kind: command, start: [a], stop: [b], status: [c]}\n")
    assert load_settings(cfg).hosts[0].service.log is None  # type: ignore[union-attr]

"""Careless and hostile input (issue: 0 tracebacks, 0 files lost): one regression test per item fixed so far."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from remediator.cli import main
from remediator.detect import facts as factsmod
from remediator.detect.logdiag import diagnose_text
from remediator.errors import InputError
from remediator.hosts.fake import FakeHost
from remediator.hosts.service import remove_stale_pidfile
from remediator.journal import Journal
from remediator.settings import HostConfig, SystemdService, load_settings


def _cfg(tmp: Path, body: str) -> Path:
    p = tmp / "c.yaml"
    p.write_text(body)
    return p


def test_a_state_dir_inside_a_root_is_refused_with_its_position(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "state_dir: /srv/exec/containerd/rmd\nhosts:\n  - name: h\n    exec_root: /srv/exec\n")
    with pytest.raises(InputError) as exc:
        load_settings(cfg)
    assert "lies inside host h's /srv/exec" in str(exc.value.problems)
    cfg = _cfg(tmp_path, "state_dir: /var/lib/docker/rmd\nhosts:\n  - name: h\n")
    with pytest.raises(InputError):
        load_settings(cfg)


def test_a_double_slash_state_dir_is_the_root_and_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_settings(_cfg(tmp_path, 'state_dir: "//"\nhosts:\n  - name: h\n'))
    assert "filesystem root" in str(exc.value.problems)


def test_deeply_nested_json_log_lines_are_just_lines() -> None:
    line = "[" * 5000 + "]" * 5000
    assert diagnose_text("{" + line[1:] + "\n" + line).verdict in ("no-fault", "unknown")


def test_the_stale_pidfile_removal_only_ever_removes_a_pidfile(tmp_path: Path) -> None:
    def host(path: Path) -> FakeHost:  # the configured pidfile is the only one it may touch
        return FakeHost(config=HostConfig(name="h", service=SystemdService(pidfile=str(path))))
    config = tmp_path / "important.conf"
    config.write_text("not a pid\n")
    assert "not hold a single decimal pid" in remove_stale_pidfile(host(config))[0]
    assert config.exists()
    d = tmp_path / "a-directory"
    d.mkdir()
    assert "not a pidfile" in remove_stale_pidfile(host(d))[0] and d.is_dir()
    real = tmp_path / "docker.pid"
    real.write_text("4242")
    assert "removed stale pidfile" in remove_stale_pidfile(host(real))[0] and not real.exists()


def test_daemon_json_of_the_wrong_shape_does_not_break_fact_gathering(tmp_path: Path) -> None:
    dj = tmp_path / "daemon.json"
    for body in ('{"data-root": 5}', '{"features": "x"}', '{"containerd": 5}', "[1, 2]", "[" * 10000):
        dj.write_text(body)
        data, notes = factsmod._daemon_json(FakeHost(), str(dj))
        assert all(isinstance(v, (str, dict, bool)) for v in data.values()) and (notes or data == {}), body


def test_journal_and_state_dir_are_owner_only(tmp_path: Path) -> None:
    """A state_dir remediator creates is 0700 and its journal 0600; an existing one is never chmod-ed (a state_dir
    of /tmp would break /tmp): kept as it is when others cannot write to it, refused (nothing created) when they can."""
    Journal(tmp_path / "new" / "state").disconnect()
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "state" / "journal.sqlite3").st_mode) == 0o600
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o755)
    Journal(state).disconnect()
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o755, "an existing state_dir is never chmod-ed"
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(InputError, match="others can write to it"):
        Journal(shared)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777 and not any(shared.iterdir()), "untouched, nothing created"


def test_shell_run_is_inherently_risky() -> None:
    from remediator.actions import ACTIONS

    assert ACTIONS["shell.run"].risky


def test_diagnose_of_an_endless_input_is_a_clean_error() -> None:
    res = CliRunner().invoke(main, ["diagnose", "--log", "/dev/zero"])  # a device: refused before any read
    assert res.exit_code == 2 and "/dev/zero: cannot read: a character device, not a regular file" in res.output
    with open("/dev/zero", "rb") as zero:  # stdin may be anything: it is read bounded
        res = CliRunner().invoke(main, ["diagnose", "--log", "-"], input=zero)
    assert res.exit_code == 2 and "more than 128 MiB" in res.output


def test_markup_in_a_config_path_is_printed_as_text(tmp_path: Path) -> None:
    d = tmp_path / "[bold]x[/]"
    d.mkdir(parents=True)
    cfg = _cfg(d, f"state_dir: {tmp_path / 'state'}\nhosts:\n  - name: h\n")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)])
    assert res.exit_code == 0 and "[bold]x[/]" in res.output.replace("\n", "")


YAML_REPRODUCERS = {
    "explicit int tag on a word": "schema: 1\nname: n\na: !!int x\n",
    "a set tag": "schema: 1\nname: n\na: !!set 1\n",
    "a merge key at the top": "schema: 1\n<<: {name: X, steps: []}\n",
    "a merge key in a step": "schema: 1\nname: n\nsteps:\n  - <<: [{id: a}, {action: nope}]\n",
    "nesting past the parser's recursion": "a: " + "[" * 400 + "]" * 400 + "\n",
    "an alias bomb": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdef", "bcdefg", strict=True)),
}


@pytest.mark.parametrize("text", list(YAML_REPRODUCERS.values()), ids=list(YAML_REPRODUCERS))
def test_hostile_yaml_is_a_clean_error_with_a_position(tmp_path: Path, text: str) -> None:
    for kind, args in (("runbook", ["runbook", "validate"]), ("config", ["config", "check", "--config"])):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(text)
        res = CliRunner().invoke(main, [*args, str(path)])
        assert res.exit_code == 2, (kind, res.output)
        assert f"{path}:" in res.output.replace("\n", "") and "Traceback" not in res.output


def test_a_scalar_alias_is_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"state_dir: &s {tmp_path / 'state'}\nhosts:\n  - name: h\n")
    assert load_settings(path).state_dir == str(tmp_path / "state")


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (2 << 20) + b"\n")
    res = CliRunner().invoke(main, ["runbook", "validate", str(path)])
    assert res.exit_code == 2 and "KiB" in res.output


def test_validate_refuses_what_a_run_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text("schema: 1\nname: n\nsteps:\n  - id: b\n    action: files.backup\n    params: {paths: [\"/\"]}\n"
                    "  - id: c\n    action: files.clear\n    params: {paths: [\"{data_root}/../etc\"], backup_step: b}\n")
    res = CliRunner().invoke(main, ["runbook", "validate", str(path)])
    out = res.output.replace("\n", "")
    assert res.exit_code == 2 and f"{path}:6:" in out and f"{path}:9:" in out and "a run would refuse it" in out

"""Issue 14 (5, 6): a rollback proves the state is back or ends FAILED; overlapping state paths are refused at
validation; a journal that cannot be written never stops a rollback; Docker roots and the state_dir obey one
rule (config and the effective roots from daemon.json); an existing state_dir is never chmod-ed."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from remediator.cli import main
from remediator.detect import facts as factsmod
from remediator.detect.facts import Facts
from remediator.errors import HostError, InputError, JournalError
from remediator.hosts.fake import FakeHost, FakeService, Faults
from remediator.hosts.local import LocalHost
from remediator.journal import Journal
from remediator.loader import load_yaml, plain
from remediator.runbook import Runbook, load_runbook
from remediator.settings import HostConfig
from remediator.structs import EXIT_CODES, Outcome
from tests.conftest import digest
from tests.fakes.incidents import run_incident


def _tree(tmp: Path) -> Path:
    state = tmp / "exec" / "containerd"
    for sub in ("daemon/io.containerd.metadata.v1.bolt", "daemon/io.containerd.runtime.v2.task/moby/c1", "io.x"):
        (state / sub).mkdir(parents=True)
    (state / "daemon" / "io.containerd.metadata.v1.bolt" / "meta.db").write_bytes(os.urandom(2048))
    (state / "daemon" / "io.containerd.runtime.v2.task" / "moby" / "c1" / "config.json").write_text('{"id": 1}')
    (state / "containerd.pid").write_text("42")
    return state


def _facts(tmp: Path) -> Facts:
    return Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp / "data"), exec_root=str(tmp / "exec"),
                 version="20.10", layout="managed", state_dirs=[str(tmp / "exec" / "containerd")], dockerd_pid=None)


def _run(tmp: Path, rb: Runbook, *, journal: Journal | None = None, faults: Faults | None = None,
         said: list[tuple[str, str]] | None = None) -> tuple[Any, Journal]:
    journal = journal or Journal(tmp / "state")
    def report(kind: str, step: str | None, text: str, lines: list[str] | None = None, **_: object) -> None:
        if said is not None:
            said.append((kind, text))
    out = run_incident(host=FakeHost(HostConfig(name="h"), faults=faults or Faults()), runbook=rb, journal=journal,
                       approver=lambda r: (True, "test"), report=report, dry_run=False, evidence_budget=5,
                       facts=_facts(tmp), service=FakeService())
    return out, journal


def _unvalidated(text: str, tmp: Path) -> Runbook:
    """A runbook as the engine gets it, without the loader's static checks (which refuse what is tested here)."""
    (tmp / "rb.yaml").write_text(text)
    return Runbook.model_validate(plain(load_yaml(tmp / "rb.yaml")))


# ---- a rollback proves itself -------------------------------------------------------------------------------------

NESTED_WRONG_ORDER = """schema: 1
name: nested
steps:
  - id: inner
    action: files.quarantine
    params: {paths: ["{exec_root}/containerd/daemon"]}
    rollback: [{action: files.unquarantine, params: {paths: ["{exec_root}/containerd/daemon"], quarantine_step: inner}}]
  - id: outer
    action: files.quarantine
    params: {paths: ["{exec_root}/containerd"]}
    rollback:
      - {action: files.unquarantine, params: {paths: ["{exec_root}/containerd/daemon"], quarantine_step: inner}}
      - {action: files.unquarantine, params: {paths: ["{exec_root}/containerd"], quarantine_step: outer}}
  - {id: boom, action: test.boom}
"""


def test_a_rollback_that_leaves_the_state_elsewhere_ends_failed_not_rolled_back(tmp_path: Path) -> None:
    """Nested state dirs put back in the wrong order: every rollback action 'succeeds', yet the inner tree ends up
    displaced (an empty directory sits where it was). The rename records' inodes prove it: FAILED, exit 1."""
    import tests.unit.test_step_faults  # noqa: F401 - registers test.boom

    state = _tree(tmp_path)
    inner_ino = os.stat(state / "daemon").st_ino
    said: list[tuple[str, str]] = []
    report, journal = _run(tmp_path, _unvalidated(NESTED_WRONG_ORDER, tmp_path), said=said)
    assert not (state / "daemon" / "io.containerd.metadata.v1.bolt").exists(), "the scenario: the state is elsewhere"
    assert os.stat(state / "daemon").st_ino != inner_ino
    assert report.outcome is Outcome.FAILED and EXIT_CODES[report.outcome] == 1, report.summary
    assert any(k == "fail" and "did not put the host back" in t and "inner" in t for k, t in said), said
    row = journal.incident(report.incident)
    assert row is not None and row.outcome == "failed"
    assert any(k == "rollback-unverified" for _, k, _, _ in journal.events(report.incident))


def test_a_rollback_in_the_right_order_is_proven_and_rolled_back(tmp_path: Path) -> None:
    """The same nested moves undone last-first: the inodes match, the tree is byte-identical: ROLLED_BACK."""
    import tests.unit.test_step_faults  # noqa: F401

    state = _tree(tmp_path)
    before = digest(str(state))
    right = NESTED_WRONG_ORDER.replace(
        '      - {action: files.unquarantine, params: {paths: ["{exec_root}/containerd/daemon"], quarantine_step: inner}}\n',
        "")
    report, _ = _run(tmp_path, _unvalidated(right, tmp_path))
    assert report.outcome is Outcome.ROLLED_BACK, report.summary
    assert digest(str(state)) == before


def test_one_step_given_nested_paths_is_refused_before_anything_moves(tmp_path: Path) -> None:
    """Defence in depth under the validation: a step given nested paths by hand is refused before it moves
    anything (files.quarantine checks the real paths), so the host is untouched."""
    import tests.unit.test_step_faults  # noqa: F401

    state = _tree(tmp_path)
    before = digest(str(state))
    rb = _unvalidated("""schema: 1
name: nested-one-step
steps:
  - id: aside
    action: files.quarantine
    params: {paths: ["{exec_root}/containerd", "{exec_root}/containerd/daemon"]}
    rollback: [{action: files.unquarantine, params: {paths: ["{exec_root}/containerd", "{exec_root}/containerd/daemon"], quarantine_step: aside}}]
""", tmp_path)
    said: list[tuple[str, str]] = []
    report, _ = _run(tmp_path, rb, said=said)
    assert report.outcome is Outcome.NOT_HEALED, report.summary
    assert any(k == "fail" and "must not overlap" in t for k, t in said), said
    assert digest(str(state)) == before and not (tmp_path / "exec" / ".remediator-quarantine").exists()


def test_nested_or_repeated_state_paths_are_refused_at_validation(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text("""schema: 1
name: nested
steps:
  - id: aside
    action: files.quarantine
    params:
      paths:
        - "{exec_root}/containerd"
        - "{exec_root}/containerd/daemon"
  - id: backup
    action: files.backup
    params: {paths: ["{data_root}/containerd", "{data_root}/containerd/"]}
""")
    with pytest.raises(InputError) as exc:
        load_runbook(path)
    text = "\n".join(exc.value.problems)
    assert f"{path}:9:11: steps[0].params.paths[1]" in text and "overlaps" in text, text
    assert "steps[1].params.paths[1]" in text, text
    res = CliRunner().invoke(main, ["runbook", "validate", str(path)])
    assert res.exit_code == 2 and "overlaps" in res.output and "Traceback" not in res.output


# ---- a state filesystem that fills mid-incident -------------------------------------------------------------------

QRB = """schema: 1
name: quarantine-then-more
steps:
  - id: aside
    action: files.quarantine
    params: {paths: ["{exec_root}/containerd", "{exec_root}/runtime-runc"]}
    rollback: [{action: files.unquarantine, params: {paths: ["{exec_root}/containerd", "{exec_root}/runtime-runc"], quarantine_step: aside}}]
  - {id: boom, action: test.boom}
"""


class FullAfter(Journal):
    """A journal whose filesystem fills once a given event was written: every write after it fails as SQLite
    fails on a full disk (the rollback's own writes included)."""

    def __init__(self, state_dir: Path, dest: str) -> None:
        super().__init__(state_dir)
        self.dest, self.full, self.refused = dest, False, 0

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        if self.full:
            self.refused += 1
            raise JournalError("journal write failed: database or disk is full")
        super()._write(sql, args)

    def event(self, incident: str, kind: str, step: str | None = None, **detail: Any) -> None:
        super().event(incident, kind, step, **detail)
        if kind == "state" and detail.get("dest") == self.dest:
            self.full = True


def test_a_state_filesystem_full_after_the_quarantine_still_puts_the_host_back(tmp_path: Path) -> None:
    """The quarantine ran; the journal's filesystem fills before its result is written. Nothing more runs
    forward, the rollback runs from memory (said on the report's `journal` line), the trees are back."""
    import tests.unit.test_step_faults  # noqa: F401

    state = _tree(tmp_path)
    (tmp_path / "exec" / "runtime-runc" / "moby").mkdir(parents=True)
    trees = (str(state), str(tmp_path / "exec" / "runtime-runc"))
    before = digest(*trees)
    journal = FullAfter(tmp_path / "state", "step_aside")  # the step starts; its result finds the journal full
    said: list[tuple[str, str]] = []
    report, _ = _run(tmp_path, _unvalidated(QRB, tmp_path), journal=journal, said=said)
    assert journal.full and journal.refused > 0
    assert report.outcome is Outcome.ROLLED_BACK, report.summary
    assert "not journaled" in report.summary
    assert any(k == "journal" and "rollback runs from the record in memory" in t for k, t in said), said
    assert not any(k == "start" and t for k, t in said if "boom" in t), "nothing ran forward after the journal filled"
    assert digest(*trees) == before, "both trees back, byte for byte"
    assert (state / "daemon").is_dir()


def test_enospc_half_way_through_the_quarantine_puts_the_first_tree_back(tmp_path: Path) -> None:
    """The Docker root's filesystem fills while the second tree is being moved aside (ENOSPC on its rename):
    the first tree, already aside, is put back; the host is as it was."""
    _tree(tmp_path)
    (tmp_path / "exec" / "runtime-runc" / "moby").mkdir(parents=True)
    trees = (str(tmp_path / "exec" / "containerd"), str(tmp_path / "exec" / "runtime-runc"))
    before = digest(*trees)
    faults = Faults(fail_rename=4, error=errno.ENOSPC)  # 1, 2: the first record and tree; 3: the second record
    report, journal = _run(tmp_path, _unvalidated(QRB.replace("  - {id: boom, action: test.boom}\n", ""), tmp_path),
                           faults=faults)
    assert faults.renames >= 4
    assert report.outcome is Outcome.ROLLED_BACK, report.summary
    errors = [d for _, k, _, d in journal.events(report.incident) if k == "result" and d.get("ok") is False]
    assert any("No space left on device" in str(d.get("error")) for d in errors), errors
    assert digest(*trees) == before


# ---- roots: one rule ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("root", ["/etc", "/usr", "/proc", "/", "/etc/containerd", "/sys/fs/x", "/var", "/tmp"])
def test_config_check_refuses_system_directories_as_roots(tmp_path: Path, root: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nhosts:\n  - name: h\n    data_root: {root}\n"
                   f"    exec_root: {tmp_path}/exec\n")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    out = res.output.replace("\n", " ")
    assert f"{cfg}:4:5: hosts[0].data_root" in out and "Traceback" not in out, out
    assert not (tmp_path / "state").exists()


def test_exec_root_and_state_dir_obey_the_same_rule(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("state_dir: /tmp\nhosts:\n  - name: h\n    exec_root: /proc\n")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)])
    out = res.output.replace("\n", " ")
    assert res.exit_code == 2 and f"{cfg}:1:1: state_dir" in out and f"{cfg}:4:5: hosts[0].exec_root" in out, out


@pytest.mark.parametrize("bad", ["relative/docker", "/etc", "./x", "/proc/docker"])
def test_an_effective_root_from_daemon_json_obeys_the_rule_and_fails_fast(tmp_path: Path, bad: str) -> None:
    dj = tmp_path / "daemon.json"
    dj.write_text(f'{{"data-root": "{bad}"}}')
    host = FakeHost(HostConfig(name="h", daemon_json=str(dj), data_root=str(tmp_path / "d"),
                               exec_root=str(tmp_path / "e")))
    t0 = time.monotonic()
    with pytest.raises(InputError) as exc:
        factsmod.resolve(host)
    assert time.monotonic() - t0 < 2
    assert "data-root from daemon.json" in str(exc.value) and "h" in str(exc.value)


def test_effective_roots_that_contain_each_other_are_refused(tmp_path: Path) -> None:
    dj = tmp_path / "daemon.json"
    dj.write_text(f'{{"data-root": "{tmp_path}/r", "exec-root": "{tmp_path}/r/exec"}}')
    host = FakeHost(HostConfig(name="h", daemon_json=str(dj), data_root=str(tmp_path / "d"),
                               exec_root=str(tmp_path / "e")))
    with pytest.raises(InputError, match="contain each other"):
        factsmod.resolve(host)


def test_disk_usage_of_a_relative_path_is_an_error_not_a_loop() -> None:
    with pytest.raises(HostError, match="not an absolute path"):
        LocalHost(HostConfig(name="h")).disk_usage("relative/docker")


# ---- state_dir: checked, never chmod-ed, before anything is created ----------------------------------------------

def _cfg(tmp: Path, state_dir: Path) -> Path:
    cfg = tmp / "c.yaml"
    cfg.write_text(f"state_dir: {state_dir}\nhosts:\n  - name: h\n    data_root: {tmp}/data\n    exec_root: {tmp}/exec\n"
                   f"    daemon_json: {tmp}/daemon.json\n"
                   f"    service: {{kind: process, argv: [dockerd, --data-root, {tmp}/data, --exec-root, {tmp}/exec, "
                   f"--pidfile, {tmp}/d.pid, -H, 'unix://{tmp}/d.sock'], pidfile: {tmp}/d.pid, log: {tmp}/d.log}}\n"
                   f"    docker_host: unix://{tmp}/d.sock\n")
    return cfg


def test_status_and_dry_run_never_chmod_an_existing_state_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    cfg = _cfg(tmp_path, shared)
    for args in (["status"], ["run", "--host", "h", "--dry-run", "--runbook", "dockerd-restart"]):
        res = CliRunner().invoke(main, [*args, "--config", str(cfg)])
        assert res.exit_code == 2, (args, res.output)
        assert "others can write to it" in res.output.replace("\n", " "), res.output
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o1777 and not any(shared.iterdir())


def test_a_state_dir_that_is_a_symlink_into_a_root_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    (tmp_path / "data" / "remediator").mkdir(parents=True)
    os.chmod(tmp_path / "data" / "remediator", 0o700)
    os.symlink(tmp_path / "data" / "remediator", tmp_path / "state")
    cfg = _cfg(tmp_path, tmp_path / "state")
    for args in (["run", "--host", "h", "--dry-run", "--runbook", "dockerd-restart"], ["status"], ["config", "check"]):
        res = CliRunner().invoke(main, [*args, "--config", str(cfg)])
        assert res.exit_code == 2, (args, res.output)
        assert "lies inside the root" in res.output.replace("\n", " "), res.output
    assert not any((tmp_path / "data" / "remediator").iterdir()), "nothing was created in the Docker root"


def test_the_ladder_never_climbs_from_a_rollback_that_did_not_put_the_host_back(tmp_path: Path) -> None:
    """FAILED (state elsewhere) is not a rung to climb from: no re-diagnosis, no second runbook."""
    import tests.unit.test_step_faults  # noqa: F401
    from remediator.incident import IncidentSettings, open_incident
    from remediator.ladder import heal

    _tree(tmp_path)
    asked: list[str] = []

    def rediagnose(ctx: Any) -> Any:
        asked.append("again")
        raise AssertionError("the ladder re-diagnosed a changed host")

    journal = Journal(tmp_path / "state")
    rb = _unvalidated(NESTED_WRONG_ORDER, tmp_path)
    ctx = open_incident(host=FakeHost(HostConfig(name="h")), runbook=rb, journal=journal, report=lambda *a, **k: None,
                        dry_run=False, config=IncidentSettings(evidence_budget=5), facts=_facts(tmp_path), service=FakeService())
    report = heal(ctx, rb, journal=journal, approver=lambda r: (True, "test"), report=lambda *a, **k: None,
                  dry_run=False, rediagnose=rediagnose, load=lambda name: rb)
    assert report.outcome is Outcome.FAILED and asked == [] and report.chain == ["nested"]


def test_config_check_and_incidents_refuse_a_state_dir_others_can_write_to(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    cfg = _cfg(tmp_path, shared)
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)])
    assert res.exit_code == 2 and "others can write to it" in res.output.replace("\n", " "), res.output
    (shared / "journal.sqlite3").write_bytes(b"")
    res = CliRunner().invoke(main, ["incidents", "--config", str(cfg)])
    assert res.exit_code == 2 and "others can write to it" in res.output.replace("\n", " "), res.output
    assert "Traceback" not in res.output and stat.S_IMODE(os.stat(shared).st_mode) == 0o777


def test_two_quarantine_steps_moving_nested_trees_are_refused_at_validation(tmp_path: Path) -> None:
    import tests.unit.test_step_faults  # noqa: F401

    path = tmp_path / "nested.yaml"
    path.write_text(NESTED_WRONG_ORDER)
    with pytest.raises(InputError) as exc:
        load_runbook(path)
    text = "\n".join(exc.value.problems)
    assert "steps[1].params.paths[0]" in text and "which step inner also moves aside" in text, text

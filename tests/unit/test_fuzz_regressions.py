"""One regression test per bug the fuzz suite (tests/fuzz) found."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from remediator.cli import main
from remediator.cli.diag import read_bounded
from remediator.journal import Journal


def test_emoji_codes_in_user_text_are_printed_as_text(tmp_path: Path) -> None:
    """A path with ':smile:' in it came out as an emoji: user text interpreted, not escaped."""
    cfg = tmp_path / "a:smile:b.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nhosts:\n  - name: h\n")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)], env={"COLUMNS": "1000"})
    assert res.exit_code == 0 and str(cfg) in res.output


def test_a_log_is_read_in_chunks_not_with_the_whole_cap_set_aside() -> None:
    """diagnose --log /proc/self/environ set aside 256 MiB for a read(cap) and died under a memory limit."""
    asked: list[int] = []

    class Reader(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            asked.append(size if size is not None else -1)
            return super().read(size)

    data = read_bounded(Reader(b"x" * (3 << 20)), 256 << 20)
    assert data is not None and len(data) == 3 << 20 and 0 < max(asked) <= 1 << 20
    assert read_bounded(io.BytesIO(b"x" * 11), 10) is None and read_bounded(io.BytesIO(b"x" * 10), 10) == b"x" * 10


def test_a_yaml_file_of_many_nodes_is_refused_early_with_a_position(tmp_path: Path) -> None:
    """A 1 MB config of 70,000 keys took 48 s of ruamel's pure-Python parser before it was refused, and then listed
    70,001 problems; now libyaml's events build it in a second and at most MAX_PROBLEMS are listed, then a count."""
    path = tmp_path / "c.yaml"
    path.write_text("".join(f"k{i}: {i}\n" for i in range(70_000)))
    res = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert res.exit_code == 2 and f"{path}:" in res.output and "more problems" in res.output
    assert res.output.count("\n") <= 60


def test_aliases_of_a_long_string_are_refused_before_they_are_expanded(tmp_path: Path) -> None:
    """One 300 KB string aliased 15,000 times: 4.5 GB of copies and reprs (MemoryError, 40 s) from a 360 KB file."""
    path = tmp_path / "rb.yaml"
    path.write_text('schema: 1\nname: n\ndescription: &s "/' + "C" * 300_000 + '"\nsteps:\n  - id: b\n    action: files.backup\n'
                    "    params:\n      paths: [" + ", ".join(["*s"] * 15_000) + "]\n")
    res = CliRunner().invoke(main, ["runbook", "validate", str(path)])
    assert res.exit_code == 2 and f"{path}:8:" in res.output and "aliases expand to more than" in res.output
    ok = tmp_path / "ok.yaml"
    ok.write_text(f"state_dir: &s {tmp_path / 'state'}\nhosts:\n  - name: h\n    data_root: /srv/d\n    exec_root: /srv/e\n"
                  f"runbook_dirs: [*s]\n")
    assert CliRunner().invoke(main, ["config", "check", "--config", str(ok)]).exit_code == 0


def test_incidents_never_creates_or_tightens_the_state_dir_it_is_pointed_at(tmp_path: Path) -> None:
    """`incidents` with state_dir naming somebody else's directory created a journal there and chmod'ed it 0700."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chmod(theirs, 0o755)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {theirs}\nhosts:\n  - name: h\n")
    res = CliRunner().invoke(main, ["incidents", "--config", str(cfg)])
    assert res.exit_code == 0 and "no journal" in res.output
    assert CliRunner().invoke(main, ["incidents", "--config", str(cfg), "--json"]).output.strip() == "[]"
    assert CliRunner().invoke(main, ["incidents", "--config", str(cfg), "[/]"]).exit_code == 2
    assert os.listdir(theirs) == [] and stat.S_IMODE(os.stat(theirs).st_mode) == 0o755


def test_a_journal_that_cannot_be_opened_is_a_clean_error(tmp_path: Path) -> None:
    """A journal.sqlite3 that is not a database: JournalError raised out of `incidents` (a traceback)."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.sqlite3").write_bytes(b"not a database" * 100)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {state}\nhosts:\n  - name: h\n")
    res = CliRunner().invoke(main, ["incidents", "--config", str(cfg)])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert f"{state / 'journal.sqlite3'}: is not a usable remediator journal" in res.output  # names the file


def test_config_check_of_a_socket_path_too_long_to_look_up(tmp_path: Path) -> None:
    """Path.exists() raised ENAMETOOLONG for a 5,000-character docker_host: a traceback from `config check`."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/s\nrunbook_dirs: [/{'r' * 5000}]\nhosts:\n  - name: h\n"
                   f"    docker_host: unix:///{'a' * 5000}\n")
    res = CliRunner().invoke(main, ["config", "check", "--config", str(cfg)])
    assert res.exit_code == 0 and "(not there now)" in res.output and "(missing)" in res.output


PROBE = """
import fcntl, sys
fd = open(sys.argv[1], "r+b")
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)  # SQLite's shared-lock bytes of the database file
except OSError:
    print("held")
else:
    print("free")
"""


def test_a_second_journal_in_one_process_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """Journal() opened and closed a descriptor of an existing journal: that drops every POSIX lock the process
    holds on the file, so another process could checkpoint under a live connection (the fuzz workers, which run
    many commands per process, corrupted their shared journal: 'database disk image is malformed')."""
    first = Journal(tmp_path)
    first.incidents()

    def probe() -> str:
        return subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "journal.sqlite3")], capture_output=True,
                              text=True, check=True).stdout.strip()

    assert probe() == "held"  # the probe sees a live connection's lock
    Journal(tmp_path)
    assert probe() == "held"
    first.incidents()

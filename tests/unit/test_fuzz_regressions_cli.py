"""One regression test per bug the CLI fuzz classes (tests/fuzz/test_fuzz_cli.py, issue 14 point 9) found."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from remediator import exitcodes
from remediator.cli import main
from remediator.daemon.api import read_token
from remediator.daemon.store import Store
from remediator.errors import BadStateFile, InputError, JournalError
from remediator.journal import Journal


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir

INCIDENT = "20261205T123456-abcdef"


def cli(*argv: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(argv), env=env)


def clean(res: Result, code: int) -> None:
    """The exit code, and no exception other than the exit itself (no traceback in the real CLI)."""
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "internal error" not in res.output


def config(tmp: Path, extra: str = "", host: str = "") -> Path:
    cfg = tmp / "c.yaml"
    cfg.write_text(f"state_dir: {tmp / 'state'}\nhosts:\n  - name: h0\n{host}{extra}")
    return cfg


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- ids ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["\udcff\udcfe", "a b", "x" * 5000, "20261205T123456-abcdef/../x", "\x1b[2J"])
def test_an_ill_formed_incident_id_is_exit_2_naming_the_argument(tmp_path: Path, bad: str) -> None:
    """`incidents '\\udcff'` died in sqlite's binding (UnicodeEncodeError); now the grammar refuses it first."""
    cfg = config(tmp_path)
    Journal(tmp_path / "state").disconnect()
    for argv in (["incidents", bad, "--config", str(cfg)], ["resume", bad, "--config", str(cfg)]):
        res = cli(*argv)
        clean(res, 2)
        assert "INCIDENT:" in res.output and "is not a valid incident id" in res.output
        assert "\x1b" not in res.output and len(res.output) < 400  # escaped and cut


class FakeApi:
    """A unix socket that answers every request with `answer` and records the request lines."""

    def __init__(self, path: Path, answer: bytes, pause: float = 0.0, drip: bool = False) -> None:
        self.seen: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.answer, self.pause, self.drip, self.stop = answer, pause, drip, threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.seen.append(self._request(conn).split(b"\r\n")[0])
                try:
                    for i in range(len(self.answer)) if self.drip else [None]:
                        conn.sendall(self.answer[i:i + 1] if i is not None else self.answer)
                        if self.stop.wait(self.pause):
                            return
                except OSError:
                    pass

    @staticmethod
    def _request(conn: socket.socket) -> bytes:
        """The whole request, body included (closing before it is read would break the client's send)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return data

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Path, list[FakeApi]]]:
    made: list[FakeApi] = []
    yield tmp_path, made
    for a in made:
        a.close()


def api_config(tmp: Path, made: list[FakeApi], answer: bytes, **kw: object) -> tuple[Path, FakeApi]:
    fake = FakeApi(tmp / "api.sock", answer, **kw)  # type: ignore[arg-type]
    made.append(fake)
    return config(tmp, f"daemon:\n  api_socket: {tmp / 'api.sock'}\n  api_timeout: 1\n"), fake


def http(status: int, body: bytes) -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize("argv", [["approve", "0123456789ab/../../hosts/h0/release"], ["deny", "id with space"],
                                  ["approve", "0123456789ab?x=1"], ["deny", INCIDENT, "stop/../x"],
                                  ["pause", "h0/../../approvals"], ["release", "h0#x"], ["resume-host", "%2Fh0"]])
def test_an_ill_formed_id_never_reaches_the_daemon(api: tuple[Path, list[FakeApi]], argv: list[str]) -> None:
    """`approve 'ID/../../hosts/h0/release'` was sent as is (another route, exit 0); spaces and control
    characters died in http.client (InvalidURL). Now: exit 2 before any request."""
    tmp, made = api
    cfg, fake = api_config(tmp, made, http(200, b'{"host": "h0", "changed": true}'))
    res = cli(*argv, "--config", str(cfg))
    clean(res, 2)
    assert fake.seen == []


# ---- the daemon API's answers --------------------------------------------------------------------------------

def test_the_real_answer_to_approve_is_printed(api: tuple[Path, list[FakeApi]]) -> None:
    """The first shape check of `approve` wanted every value of the approval a scalar; the daemon's has
    `changes`, a list: every approve exited 5 (found by the e2e daemon tests)."""
    from remediator.daemon.store import Approval

    tmp, made = api
    a = Approval("0123456789ab", INCIDENT, "h0", "stop", "a" * 64, "stop dockerd", ["x"], 1.0, 2.0, "approved", "me",
                 1.5, None)
    cfg, fake = api_config(tmp, made, http(200, json.dumps({"approval": a.as_dict()}).encode()))
    res = cli("approve", "0123456789ab", "--config", str(cfg))
    clean(res, 0)
    assert "0123456789ab: approved by me" in res.output and fake.seen == [b"POST /v1/approvals/0123456789ab/approve HTTP/1.0"]


@pytest.mark.parametrize(("answer", "code"), [
    (http(200, b"[]"), 8), (http(200, b'{"approvals": "x"}'), 8), (http(200, b'{"approvals": [{"id": 1}]}'), 8),
    (http(200, b'{"approvals": [{"id": "a", "host": "h", "incident": "i", "step": "s", "summary": "x", '
                b'"changes": [], "expires": 1e999}]}'), 8),
    (http(404, b"[1]"), 8), (http(500, b'{"error": "boom"}'), 8), (b"HTTP/1.1 abc\r\n\r\n", 8),
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 500 + b"\r\n", 8), (b"HTTP/1.1 200 " + b"O" * 100000 + b"\r\n", 8),
    (http(200, b'{"approvals": []}')[:-5], 8), (http(200, b"[" * 100000), 8), (b"\xff" * 100, 8),
])
def test_a_broken_answer_from_the_api_is_a_documented_exit(api: tuple[Path, list[FakeApi]], answer: bytes,
                                                         code: int) -> None:
    """Answers of the wrong shape died in the renderer (AttributeError, KeyError, TypeError, OverflowError); a bad
    status line, a header flood, a long line or a short body died in http.client; deep JSON in RecursionError."""
    tmp, made = api
    cfg, _ = api_config(tmp, made, answer)
    clean(cli("approvals", "--config", str(cfg)), code)


def test_the_daemons_error_message_reaches_the_terminal_escaped(api: tuple[Path, list[FakeApi]]) -> None:
    """A 4xx's {"error": ...} was printed as it came: a peer could send terminal escape sequences."""
    tmp, made = api
    cfg, _ = api_config(tmp, made, http(409, json.dumps({"error": "[bold]no[/bold] \x1b[2J gone"}).encode()))
    res = cli("approvals", "--config", str(cfg))
    clean(res, 2)
    assert "\x1b" not in res.output and "[bold]no[/bold] \\x1b[2J gone" in res.output


@pytest.mark.parametrize("drip", [True, False])
def test_a_peer_that_drip_feeds_or_stays_silent_is_given_up_on_within_the_whole_deadline(
        api: tuple[Path, list[FakeApi]], drip: bool) -> None:
    """The timeout was per recv: a byte every 0.2 s kept `approvals` waiting forever. Now daemon.api_timeout
    bounds the whole exchange (1 s here)."""
    tmp, made = api
    cfg, _ = api_config(tmp, made, http(200, b'{"approvals": []}') if drip else b"", pause=0.2 if drip else 30,
                        drip=drip)
    t0 = time.monotonic()
    res = cli("approvals", "--config", str(cfg))
    clean(res, exitcodes.NO_DAEMON)
    assert time.monotonic() - t0 < 3 and "cannot be reached" in res.output


# ---- damaged state files -------------------------------------------------------------------------------------

def journal_with_incident(state: Path) -> str:
    with Journal(state) as j:
        row = j.open_incident(host="h0", runbook="dockerd-restart", sha256="0" * 64, dry_run=False)
        j.event(row.id, "state", None, source="a", dest="b")
        return row.id


def test_status_never_exits_1_on_a_damaged_store(tmp_path: Path) -> None:
    """`status` mapped every error to exit 1 ("changed and could not undo"); a garbage daemon.sqlite3 is 2."""
    cfg = config(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "daemon.sqlite3").write_bytes(b"garbage" * 200)
    res = cli("status", "--config", str(cfg))
    clean(res, 2)
    assert "daemon.sqlite3" in res.output


def test_status_with_the_daemon_never_run_creates_nothing(tmp_path: Path) -> None:
    """`status` created the state directory, daemon.sqlite3 and journal.sqlite3 just to read them."""
    cfg = config(tmp_path)
    clean(cli("status", "--config", str(cfg), "--json"), 0)
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("size", [1, 99, 100, 511])
def test_a_journal_shorter_than_a_page_is_refused_not_taken_for_an_empty_one(tmp_path: Path, size: int) -> None:
    """SQLite reads a file of fewer than 512 bytes as an empty database: `incidents` listed nothing (exit 0) and
    a dry-run wrote its tables into the damaged file."""
    cfg = config(tmp_path)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "journal.sqlite3"
    path.write_bytes(os.urandom(size))
    before = sha(path)
    clean(cli("incidents", "--config", str(cfg)), 2)
    with pytest.raises(BadStateFile, match="too short"):
        Journal(tmp_path / "state")
    assert sha(path) == before


def test_another_database_in_the_journals_place_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """A foreign SQLite file got the journal's tables added (and WAL mode) by the next run."""
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('x');")
    db.close()
    before = sha(path)
    with pytest.raises(BadStateFile, match="no table incidents"):
        Journal(tmp_path / "state")
    with pytest.raises(BadStateFile):
        Journal(tmp_path / "state", readonly=True)
    assert sha(path) == before


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_special_file_in_the_journals_place_is_refused_never_opened(tmp_path: Path, kind: str) -> None:
    """A directory in the journal's place read as "no incidents" (and was chmod'ed 0600 by a run); a FIFO would
    block SQLite's first read; a symlink was followed by the chmod."""
    cfg = config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    path = state / "journal.sqlite3"
    target = tmp_path / "elsewhere"
    target.write_text("x")
    os.chmod(target, 0o644)
    {"directory": path.mkdir, "fifo": lambda: os.mkfifo(path), "symlink": lambda: path.symlink_to(target)}[kind]()
    for argv in (["incidents"], ["status"], ["run", "--host", "h0", "--dry-run", "--runbook", "dockerd-restart"]):
        res = cli(*argv, "--config", str(cfg))
        clean(res, 2)
        assert str(path) in res.output
    assert os.stat(target).st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("sql", "argv"), [
    ("UPDATE incidents SET started = 'yesterday'", ["incidents"]),  # TypeError in `ts - t0`
    ("UPDATE events SET detail = '{not json'", ["incidents", "ID"]),  # JSONDecodeError
    ("UPDATE events SET detail = '" + "[" * 5000 + "]" * 5000 + "'", ["incidents", "ID"]),  # RecursionError
    ("UPDATE events SET detail = x'ff00'", ["incidents", "ID"]),  # UnicodeDecodeError
    ("UPDATE events SET detail = '[1]'", ["incidents", "ID", "--json"]),  # AttributeError
    ("PRAGMA user_version = 99", ["status"]),  # exit 1
    ("UPDATE incidents SET runbook = CAST(x'ff' AS TEXT)", ["incidents"]),  # OperationalError: cannot decode
    ("UPDATE incidents SET runbook = CAST(x'ff' AS TEXT)", ["run", "--host", "h0", "--dry-run", "--runbook",
                                                           "dockerd-restart"]),  # JournalError: exit 1
])
def test_a_journal_with_wrong_values_is_exit_2_naming_it(tmp_path: Path, sql: str, argv: list[str]) -> None:
    """Values SQLite stores anywhere (text in a REAL column, a blob, JSON that is not an object) reached the
    renderer: tracebacks. Now the journal's reader checks each value's type and refuses the file by name."""
    cfg = config(tmp_path)
    iid = journal_with_incident(tmp_path / "state")
    db = sqlite3.connect(tmp_path / "state" / "journal.sqlite3")
    db.executescript(sql)
    db.close()
    res = cli(*[iid if a == "ID" else a for a in argv], "--config", str(cfg))
    clean(res, 2)
    assert "journal.sqlite3" in res.output


@pytest.mark.parametrize("sql", ["UPDATE approvals SET changes = '{x'", "UPDATE status SET verdict_at = 'soon'",
                                 "UPDATE approvals SET expires = 'never'"])
def test_a_store_with_wrong_values_is_exit_2_naming_it(tmp_path: Path, sql: str) -> None:
    """`status` died on a store whose approval `changes` was not JSON, or whose times were text."""
    cfg = config(tmp_path)
    store = Store(tmp_path / "state")
    store.set_status("h0", "healthy", verdict="healthy")
    store.request(incident=INCIDENT, host="h0", step="stop", plan_sha256="a" * 64, summary="s", changes=["c"], ttl=60)
    store.db.executescript(sql)
    store.db.close()
    res = cli("status", "--config", str(cfg))
    clean(res, 2)
    assert "daemon.sqlite3" in res.output


@pytest.mark.parametrize("name", ["daemon.sqlite3", "journal.sqlite3"])
def test_a_state_file_whose_schema_is_not_utf8_is_exit_2(tmp_path: Path, name: str) -> None:
    """A flipped bit in sqlite_master: sqlite3 raised UnicodeDecodeError (not an sqlite3.Error) out of the open."""
    cfg = config(tmp_path)
    journal_with_incident(tmp_path / "state")
    Store(tmp_path / "state").db.close()
    path = tmp_path / "state" / name
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tablé (x TEXT)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    path.write_bytes(path.read_bytes().replace("é".encode(), b"\xc1\xc1"))
    before = sha(path)
    res = cli("status", "--config", str(cfg))
    clean(res, 2)
    assert str(path) in res.output and sha(path) == before


# ---- special files and long names as paths -------------------------------------------------------------------

def test_a_fifo_as_config_runbook_or_log_is_refused_at_once(tmp_path: Path) -> None:
    """open() of a FIFO with no writer blocks: config check, runbook validate and diagnose --log hung."""
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    for argv in (["config", "check", "--config", str(fifo)], ["runbook", "validate", str(fifo)],
                 ["diagnose", "--log", str(fifo)]):
        t0 = time.monotonic()
        res = cli(*argv)
        clean(res, 2)
        assert "a FIFO, not a regular file" in res.output and time.monotonic() - t0 < 5


def standin(t: Path) -> str:
    """A host whose dockerd is not there, run as a process (no systemd needed): dry-runs can plan against it."""
    return (f"    docker_host: unix://{t}/no.sock\n    data_root: {t}/data\n    exec_root: {t}/exec\n"
            f"    service:\n      kind: process\n      argv: [/bin/true, --data-root, {t}/data, --exec-root, {t}/exec, "
            f"-H, 'unix://{t}/no.sock', --pidfile, {t}/d.pid]\n      pidfile: {t}/d.pid\n      log: {t}/d.log\n")


def test_a_dry_run_on_a_journal_damaged_inside_is_exit_2_not_1(tmp_path: Path) -> None:
    """A journal whose second page is zeros opens fine; the dry-run's first write failed and exited 1 ("changed
    and could not undo") although nothing was done. Now: exit 2 naming the file, the file left as it was."""
    state = tmp_path / "state"
    with Journal(state) as j:
        for _ in range(30):
            row = j.open_incident(host="h0", runbook="x", sha256="0" * 64, dry_run=True)
            j.event(row.id, "state", None, note="x" * 500)
    path = state / "journal.sqlite3"
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\0" * 4096 + data[8192:])
    before = sha(path)
    cfg = config(tmp_path, host=standin(tmp_path))
    res = cli("run", "--config", str(cfg), "--host", "h0", "--dry-run", "--runbook", "dockerd-restart")
    clean(res, 2)
    assert f"{path}: damaged" in res.output and sha(path) == before


def test_a_fifo_as_daemon_json_does_not_hang_a_dry_run(tmp_path: Path) -> None:
    """daemon_json naming a FIFO hung `run --dry-run` and `probe` in facts.resolve()."""
    fifo = tmp_path / "daemon.json"
    os.mkfifo(fifo)
    cfg = config(tmp_path, host=f"    daemon_json: {fifo}\n" + standin(tmp_path))
    p = run_cli(["probe", "--config", str(cfg), "--rounds", "1"], {}, capture_output=True)
    assert p.returncode == exitcodes.SICK and b"Traceback" not in p.stderr  # sick: no dockerd; and no hang
    p = run_cli(["run", "--config", str(cfg), "--host", "h0", "--dry-run", "--runbook", "dockerd-restart"], {},
                capture_output=True)
    assert p.returncode in (0, 4, 6) and b"Traceback" not in p.stderr


def test_probe_of_a_host_whose_systemd_cannot_be_asked_is_exit_2(tmp_path: Path) -> None:
    """systemctl failing (no systemd as PID 1, as in a container) raised CommandFailed out of `probe`."""
    cfg = config(tmp_path, host=f"    docker_host: unix://{tmp_path}/no.sock\n    service:\n      kind: systemd\n"
                                f"      systemctl: /bin/false\n")
    res = cli("probe", "--config", str(cfg), "--rounds", "1")
    clean(res, res.exit_code)  # no traceback: the verdict of what can be seen (no dockerd: 9), or exit 2 naming it
    assert res.exit_code in (exitcodes.SICK, exitcodes.BAD_INPUT), res.output
    assert res.exit_code == exitcodes.SICK or "h0: cannot be probed from here: /bin/false exited 1" in res.output


def test_a_token_file_that_is_a_fifo_or_a_symlink_is_refused(tmp_path: Path) -> None:
    fifo, link, real = tmp_path / "fifo", tmp_path / "link", tmp_path / "real"
    os.mkfifo(fifo, 0o600)
    real.write_text("t" * 32)
    os.chmod(real, 0o600)
    link.symlink_to(real)
    assert read_token(str(real)) == ("token real", "t" * 32)
    for path, why in ((fifo, "a FIFO"), (link, "a symlink")):
        with pytest.raises(InputError, match=why):
            read_token(str(path))


@pytest.mark.parametrize("name", ["n" * 5000, "bad name", "x\ny", "\udcff"])
def test_an_over_long_or_ill_formed_runbook_name_is_exit_2(name: str) -> None:
    """`runbook validate NAME` with a 5,000-character name died in Path.is_file() (ENAMETOOLONG)."""
    for argv in (["runbook", "validate", name], ["runbook", "graph", name]):
        res = cli(*argv)
        clean(res, 2)
        assert "is not a valid runbook name" in res.output


# ---- output ----------------------------------------------------------------------------------------------------

def run_cli(argv: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "remediator", *argv], env={**os.environ, **env}, timeout=60,
                          check=False, **kw)  # type: ignore[call-overload,no-any-return]


def test_a_stdout_that_is_not_utf8_gets_escaped_text_not_a_traceback() -> None:
    """rich raised UnicodeEncodeError on PYTHONIOENCODING=ascii (the signature titles hold non-ASCII)."""
    p = run_cli(["signatures"], {"PYTHONIOENCODING": "ascii"}, capture_output=True)
    assert p.returncode == 0 and b"Traceback" not in p.stderr and p.stdout


def test_a_full_stdout_is_one_line_and_exit_2() -> None:
    """> /dev/full: a traceback from rich and exit 120."""
    with open("/dev/full", "wb") as full:
        p = run_cli(["signatures"], {}, stdout=full, stderr=subprocess.PIPE)
    assert p.returncode == 2
    assert p.stderr.decode().strip().splitlines() == [
        "error: cannot write to stdout: No space left on device; the rest of the output was dropped"]


def test_a_closed_pipe_is_quiet_and_keeps_the_exit_code() -> None:
    """`| head -1`: click exited 1 (the code of "changed and could not undo") on EPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = run_cli(["signatures"], {}, stdout=w, stderr=subprocess.PIPE)
    finally:
        os.close(w)
    assert p.returncode == 0 and p.stderr == b""


def test_a_path_the_locale_cannot_encode_is_exit_2(tmp_path: Path) -> None:
    """LANG=C with UTF-8 mode off: a state_dir named 'état' died in os.lstat (UnicodeEncodeError)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/état\nhosts:\n  - name: h0\n", encoding="utf-8")
    p = run_cli(["status", "--config", str(cfg)], {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0",
                                                   "PYTHONUTF8": "0"}, capture_output=True)
    assert p.returncode == 2 and b"Traceback" not in p.stderr and b"LANG=C.UTF-8" in p.stderr


def test_an_unexpected_exception_is_one_line_and_exit_8(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The last line of defence: a bug is one line on stderr and exit 8; REMEDIATOR_DEBUG=1 adds the traceback."""
    import remediator.cli.diag as cli_diag

    def boom(*_a: object, **_k: object) -> None:
        raise KeyError("planted")

    monkeypatch.setattr(cli_diag.logdiag, "diagnose_text", boom)
    log = tmp_path / "x.log"
    log.write_text("hello\n")
    res = cli("diagnose", "--log", str(log))
    assert res.exit_code == exitcodes.INTERNAL and isinstance(res.exception, SystemExit)
    assert res.output.strip().splitlines() == [
        "error: internal error (a bug in remediator), KeyError: 'planted'; REMEDIATOR_DEBUG=1 shows the traceback"]
    assert "Traceback" in cli("diagnose", "--log", str(log), env={"REMEDIATOR_DEBUG": "1"}).output
    assert json.loads(cli("signatures", "--json").output)  # the guard passes ordinary output through


def test_a_read_only_journal_writes_nothing_and_creates_no_incident(tmp_path: Path) -> None:
    """The listings open the journal read-only: a write through it is refused, never kept in memory as if done,
    and no incident directory is created."""
    state = tmp_path / "state"
    Journal(state).disconnect()
    def ours() -> list[str]:  # SQLite's own -wal/-shm files come and go with any reader of a WAL database
        return sorted(p.name for p in state.iterdir() if not p.name.endswith(("-wal", "-shm")))

    before = ours()
    with Journal(state, readonly=True) as j, pytest.raises(JournalError, match="read-only"):
        j.open_incident(host="h0", runbook="dockerd-restart", sha256="0" * 64, dry_run=True)
    assert ours() == before and not (state / "incidents").exists()
    with Journal(state, readonly=True) as j:
        assert j.incidents() == []

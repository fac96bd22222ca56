"""End-to-end: access is not health, against a healthy real dockerd, with the CLI run as an unprivileged user.

`nobody` (uid 65534) runs the real CLI (setuid/setgid in the child before exec) against the `sandbox` fixture's
healthy dockerd: the probe says what was denied and selects no runbook, `run --dry-run` plans no step and exits
2, `daemon` refuses with the same words, `incidents`/`status` name the closed state dir (exit 2), and nothing on
the host changed (digest of both roots, dockerd's pid, its answer, its containers). As root: a docker_host that
is not where the running dockerd listens is `no-access` (wrong-socket), and a managed containerd socket moved
away while the API answers is `degraded`, never containerd-wedged (issue 14.10).
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remediator.journal import Journal
from remediator.lab import Sandbox, wait_for
from tests.conftest import cli, digest, shim_ids, stop_group

pytestmark = pytest.mark.dockerd
NOBODY = 65534


def _drop(groups: list[int], uid: int = NOBODY) -> Callable[[], None]:
    def preexec() -> None:
        os.setgroups(groups)
        os.setgid(uid)
        os.setuid(uid)
    return preexec


class Nobody:
    """The real CLI as uid 65534 (groups as given), from a world-readable tmp dir: an interpreter nobody may
    run (this one if it can, else the system's python of the same version) with this checkout's packages."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        sc = tmp / "sitecustomize"
        sc.mkdir()
        paths = [str(Path(__file__).resolve().parents[2]), *site.getsitepackages()]
        (sc / "sitecustomize.py").write_text("import site, sys\n" + "".join(
            f"site.addsitedir({p!r})\n" for p in paths[1:]) + f"sys.path.insert(0, {paths[0]!r})\n")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(sc), "COLUMNS": "200",
                    "HOME": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
        v = sys.version_info
        self.python = ""
        why = []
        for exe in (sys.executable, f"/usr/bin/python{v.major}.{v.minor}", f"/usr/local/bin/python{v.major}.{v.minor}"):
            if not os.path.exists(exe):
                continue
            try:
                res = subprocess.run([exe, "-c", "import remediator.cli"], capture_output=True, text=True, cwd=tmp,
                                     env=self.env, preexec_fn=_drop([]), timeout=60)
            except PermissionError as exc:  # e.g. a venv whose interpreter lives under root's 0700 home
                why.append(f"{exe}: {exc.strerror}")
                continue
            if res.returncode == 0:
                self.python = exe
                break
            why.append(f"{exe}: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
        if not self.python:
            pytest.skip("no Python interpreter with remediator's packages that uid 65534 may run: " + "; ".join(why))

    def run(self, *args: str, groups: list[int] | None = None, timeout: float = 120,
            uid: int = NOBODY) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, "-m", "remediator", *args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, cwd=self.tmp, env=self.env, preexec_fn=_drop(groups or [], uid), timeout=timeout)


@pytest.fixture
def world() -> Iterator[Path]:
    """A tmp dir everyone may enter (pytest's own tmp_path is root's 0700); removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="rmd-access-", dir="/tmp"))
    try:
        d.chmod(0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _config(sb: Sandbox, where: Path, state: Path, extra_hosts: str = "", daemon: str = "") -> Path:
    cfg = where / "config.yaml"
    cfg.write_text(sb.config_yaml(str(state)) + extra_hosts + daemon)
    cfg.chmod(0o644)
    return cfg


class Host:
    """What must not change: both roots' digest, dockerd's pid and answer, the running containers and shims."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        p = sb.dockerd_proc()
        assert p is not None and sb.host.ping().ok, "the sandbox must be healthy"
        self.pid, self.running, self.shims = p.pid, sb.running(), shim_ids(sb)
        self.digest = _settled(sb)
        self.entries = _entries(sb.data, sb.exec_)

    def unchanged(self) -> None:
        p = self.sb.dockerd_proc()
        assert p is not None and p.pid == self.pid, "dockerd was stopped or replaced"
        assert self.sb.host.ping().ok, "dockerd no longer answers"
        assert self.sb.running() == self.running and shim_ids(self.sb) == self.shims
        if digest(self.sb.data, self.sb.exec_) != self.digest:
            now = _entries(self.sb.data, self.sb.exec_)
            changed = sorted(k for k in set(now) | set(self.entries)
                             if now.get(k) != self.entries.get(k) and not _own_write(k, self.entries.get(k), now.get(k)))
            if changed:
                raise AssertionError(f"a root changed: {[(k, self.entries.get(k), now.get(k)) for k in changed][:10]}")


def _own_write(path: str, was: tuple[int, int, int, str, int] | None, now: tuple[int, int, int, str, int] | None) -> bool:
    """containerd commits to its live bolt database by itself (GC, lease expiry: seen ~6 s after the quiet check):
    the same file (inode) with new content is containerd's own write. A moved, replaced or removed file is not."""
    return (path.endswith("/io.containerd.metadata.v1.bolt/meta.db") and was is not None and now is not None
            and (was[0], was[4]) == (now[0], now[4]))


def _settled(sb: Sandbox) -> str:
    """The roots' digest once they are quiet: containerd rewrites meta.db about half a second after the fixture's
    last container start (measured), by itself. Two digests half a second apart must agree (at most 30 s)."""
    last, deadline = digest(sb.data, sb.exec_), time.monotonic() + 30
    while True:
        time.sleep(0.5)  # the quiet interval being checked, not a wait for an event
        now = digest(sb.data, sb.exec_)
        if now == last:
            return now
        assert time.monotonic() < deadline, "the sandbox's roots keep changing by themselves"
        last = now


def _entries(*tops: str) -> dict[str, tuple[int, int, int, str, int]]:
    """Mode, size, mtime, content hash and inode of every entry under tops: what changed, when the digest says so."""
    out = {}
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12] if stat.S_ISREG(st.st_mode) else ""
                out[path] = (st.st_mode, st.st_size, st.st_mtime_ns, sha, st.st_ino)
    return out


def test_nobody_gets_no_access_never_a_sick_verdict_and_nothing_changes(sandbox: Sandbox, world: Path) -> None:
    nobody = Nobody(world)
    state = world / "state"  # root's, 0700, with one incident in its journal
    with Journal(state) as j:  # root's own state dir
        row = j.open_incident(host="t", runbook="dockerd-restart", sha256="0" * 64, dry_run=True)
    cfg = _config(sandbox, world, state)
    host = Host(sandbox)

    res = nobody.run("probe", "--config", str(cfg))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "verdict no-access" in res.stdout and "runbook — (nothing to do)" in res.stdout
    assert f"{sandbox.root} (root:root, mode 0700) may not be searched" in res.stdout
    assert "to do: run as root, or as a member of the group that owns the Docker socket" in res.stdout
    for sick in ("dockerd-wedged", "dockerd-down", "containerd-wedged", "starting"):
        assert f"verdict {sick}" not in res.stdout
    js = nobody.run("probe", "--config", str(cfg), "--json")
    v = json.loads(js.stdout)
    assert js.returncode == 2 and v["verdict"] == "no-access" and v["runbook"] is None
    assert v["observations"]["socket"]["cause"] == "access" and v["observations"]["_ping"]["outcome"] == "denied"

    run = nobody.run("run", "--config", str(cfg), "--host", "t", "--dry-run")
    assert run.returncode == 2, run.stdout + run.stderr
    said = [ln for ln in run.stderr.splitlines() if ln.startswith("error: host t: no access to the Docker socket")]
    assert said and "uid 65534 (nobody)" in said[0] and str(sandbox.sock) in said[0], run.stderr
    assert "plan" not in run.stdout and "dockerd-restart" not in run.stdout, "a step was planned"

    daemon = nobody.run("daemon", "--config", str(cfg), timeout=60)
    assert daemon.returncode == 2, daemon.stdout + daemon.stderr
    assert said[0] in daemon.stderr.splitlines(), "daemon and run must say the same"
    assert "none of its hosts can be reached" in daemon.stderr and '"event": "started"' not in daemon.stdout

    for args in (("incidents",), ("incidents", "--json"), ("status",)):
        res = nobody.run(*args, "--config", str(cfg))
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "no incidents" not in res.stdout and res.stdout.strip() != "[]", res.stdout
        assert str(state) in res.stderr and "mode 0700" in res.stderr and "uid 65534" in res.stderr, res.stderr
    with Journal(state, readonly=True) as j:  # nobody's directory: root only reads it
        assert [r.id for r in j.incidents()] == [row.id], "something opened an incident"
    host.unchanged()


def test_a_socket_member_who_cannot_prove_dockerd_is_refused_after_the_diagnosis(sandbox: Sandbox, world: Path) -> None:
    """nobody in group docker may talk to the API, but not read dockerd's /proc/<pid>/exe nor the data-root:
    the preflight passes, the diagnosis reads no-access, `run --dry-run` opens no incident and exits 2."""
    nobody = Nobody(world)
    docker = grp.getgrnam("docker").gr_gid if _has_group("docker") else None
    if docker is None or os.stat(sandbox.sock).st_gid != docker:
        pytest.skip("the sandbox socket is not group docker here")
    sandbox.root.chmod(0o711)  # the sandbox's own top: its socket reachable; the roots keep their modes
    state = world / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    cfg = _config(sandbox, world, state)
    host = Host(sandbox)

    res = nobody.run("probe", "--config", str(cfg), "--json", groups=[docker])
    v = json.loads(res.stdout)
    assert res.returncode == 2 and v["verdict"] == "no-access", res.stdout + res.stderr
    assert v["observations"]["_ping"]["outcome"] == "ok", "the API answers this user"
    assert v["observations"]["dockerd-proc"]["cause"] == "access"
    assert "/exe may not be read" in v["observations"]["dockerd-proc"]["detail"]

    run = nobody.run("run", "--config", str(cfg), "--host", "t", "--dry-run", groups=[docker])
    assert run.returncode == 2, run.stdout + run.stderr
    assert "error: host t: no-access: dockerd-proc:" in run.stderr and "to do:" in run.stderr
    with Journal(state, readonly=True) as j:  # nobody's directory: root only reads it
        assert j.incidents() == [], "an incident was opened for a host this user cannot see"
    host.unchanged()


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def test_the_daemon_marks_the_host_it_cannot_reach_and_never_plans_for_it(sandbox: Sandbox, world: Path) -> None:
    """Two hosts: the sandbox (reachable by nobody in group docker) and one whose socket lies in root's 0700
    directory (with no dockerd: were it taken for sick, dockerd-down would plan a start). The daemon starts,
    marks that one `no-access`, keeps the other healthy, and opens no incident."""
    nobody = Nobody(world)
    if not _has_group("docker") or os.stat(sandbox.sock).st_gid != grp.getgrnam("docker").gr_gid:
        pytest.skip("the sandbox socket is not group docker here")
    docker = grp.getgrnam("docker").gr_gid
    sandbox.root.chmod(0o711)
    closed = world / "closed"
    closed.mkdir(mode=0o700)
    state = world / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    other = (f"  - name: shut\n    docker_host: unix://{closed}/docker.sock\n    data_root: {closed}/data\n"
             f"    exec_root: {closed}/exec\n    policy: auto\n"
             f"    service: {{kind: process, argv: [dockerd, --data-root, {closed}/data, --exec-root, {closed}/exec, "
             f"--pidfile, {closed}/docker.pid, -H, 'unix://{closed}/docker.sock'], pidfile: {closed}/docker.pid, "
             f"log: {closed}/d.log}}\n")
    cfg = _config(sandbox, world, state, other, f"daemon: {{interval: 0.5, api_socket: {state}/api.sock}}\n")
    host = Host(sandbox)
    shut_api = world / "api.yaml"  # its API socket where this user may not create one: exit 2 with why, not 1
    shut_api.write_text(sandbox.config_yaml(str(state)) + f"daemon: {{api_socket: {closed}/api.sock}}\n")
    shut_api.chmod(0o644)
    res = nobody.run("daemon", "--config", str(shut_api), groups=[docker], timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{closed} (root:root, mode 0700) may not be searched for uid 65534" in res.stderr, res.stderr
    log = world / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([nobody.python, "-m", "remediator", "daemon", "--config", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=world, env=nobody.env, preexec_fn=_drop([docker]),
                                start_new_session=True)
    try:
        def states() -> dict[str, str]:
            res = nobody.run("status", "--config", str(cfg), "--json", groups=[docker])
            return {h["name"]: h["state"] for h in json.loads(res.stdout)["hosts"]} if res.returncode == 0 else {}

        wait_for(lambda: proc.poll() is not None or states().get("shut") == "no-access" and
                 states().get("t") == "healthy", 60, "shut marked no-access, t healthy")
        assert proc.poll() is None, log.read_text()
        end = time.monotonic() + 3  # ~6 more rounds (interval 0.5): the marking holds, nothing is planned
        while time.monotonic() < end:
            assert states() == {"t": "healthy", "shut": "no-access"}
        text = log.read_text()
        assert '"event": "no-access"' in text and f"{closed} (root:root, mode 0700) may not be searched" in text
        assert '"event": "acting"' not in text and '"event": "verdict"' not in text, "it planned for a host it cannot see"
        other = nobody.run("approvals", "--config", str(cfg), uid=NOBODY - 1)  # the daemon runs; this user may not ask it
        assert other.returncode == 2, other.stdout + other.stderr
        assert f"no access to the daemon's API socket {state}/api.sock: {state} (nobody:nogroup, mode 0700) may not " \
               "be searched for uid 65533" in other.stderr, other.stderr
    finally:
        stop_group(proc)
    with Journal(state, readonly=True) as j:  # nobody's directory: root only reads it
        assert j.incidents() == []
    host.unchanged()


def test_a_docker_host_that_is_not_where_dockerd_listens_is_no_access(sandbox: Sandbox, world: Path) -> None:
    """As root: the config names a socket that does not exist while the running dockerd listens on its -H."""
    state = world / "state"
    cfg = world / "config.yaml"  # kind command: no argv whose -H the config check would compare with docker_host
    cfg.write_text(f"state_dir: {state}\nprobe: {{timeout: 1.0, interval: 0.2}}\nhosts:\n  - name: t\n"
                   f"    docker_host: unix://{sandbox.root}/elsewhere.sock\n    data_root: {sandbox.data}\n"
                   f"    exec_root: {sandbox.exec_}\n    daemon_json: {sandbox.root}/daemon.json\n"
                   f"    service: {{kind: command, start: [/bin/false], stop: [/bin/false], status: [/bin/false], "
                   f"pidfile: {sandbox.pidfile}, log: {sandbox.log}}}\n")
    host = Host(sandbox)
    res = cli("probe", "--config", str(cfg), "--json")
    v = json.loads(res.stdout)
    assert res.returncode == 2 and v["verdict"] == "no-access" and v["runbook"] is None, res.stdout + res.stderr
    assert v["observations"]["socket"]["cause"] == "wrong-socket"
    assert f"listens on unix://{sandbox.sock}" in v["observations"]["socket"]["detail"]
    run = cli("run", "--config", str(cfg), "--host", "t", "--dry-run")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"the running dockerd (pid {host.pid}) listens on unix://{sandbox.sock}: set docker_host to it" in run.stderr
    assert not state.exists() or not (state / "incidents").exists() or not any((state / "incidents").iterdir())
    host.unchanged()


def test_a_moved_managed_containerd_socket_with_a_healthy_api_is_no_wedge(sandbox: Sandbox, world: Path) -> None:
    """Issue 14.10: the socket the facts expect is gone (renamed here; a layout the facts got wrong looks the
    same) while the API answers everything: `degraded` with a note, no runbook, `run --yes` stops nothing."""
    sock = Path(sandbox.exec_) / "containerd" / "containerd.sock"
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    cfg = world / "config.yaml"
    cfg.write_text(sandbox.config_yaml(str(world / "state")))
    moved = sock.with_name("containerd.sock.moved")
    sock.rename(moved)
    try:
        pid = sandbox.dockerd_proc().pid  # type: ignore[union-attr]
        res = cli("probe", "--config", str(cfg), "--json")
        v = json.loads(res.stdout)
        assert res.returncode == 0 and v["verdict"] == "degraded" and v["runbook"] is None, res.stdout + res.stderr
        assert v["observations"]["containerd"]["outcome"] == "missing"
        assert any("not containerd-wedged" in line for line in v["trace"])
        run = cli("run", "--config", str(cfg), "--host", "t", "--yes")
        assert run.returncode == 0 and "nothing to do: degraded" in run.stdout, run.stdout + run.stderr
        p = sandbox.dockerd_proc()
        assert p is not None and p.pid == pid and sandbox.host.ping().ok, "a working dockerd was restarted"
    finally:
        moved.rename(sock)


def test_the_journal_check_follows_the_groups_journald_trusts(world: Path) -> None:
    """journalctl hides the system's entries from other users without a word: the check says so for nobody, and
    not for nobody in group adm (one of the groups journald lets read them)."""
    nobody = Nobody(world)
    code = "from remediator.access import journal_blocker; print(journal_blocker())"
    plain = subprocess.run([nobody.python, "-c", code], capture_output=True, text=True, cwd=world, env=nobody.env,
                           preexec_fn=_drop([]), timeout=60)
    assert plain.returncode == 0 and "only to root and the groups systemd-journal, adm, wheel" in plain.stdout
    if not _has_group("adm"):
        pytest.skip("no group adm here")
    member = subprocess.run([nobody.python, "-c", code], capture_output=True, text=True, cwd=world, env=nobody.env,
                            preexec_fn=_drop([grp.getgrnam("adm").gr_gid]), timeout=60)
    assert member.returncode == 0 and member.stdout.strip() == "None", member.stdout + member.stderr

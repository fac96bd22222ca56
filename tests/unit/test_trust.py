"""The trust rule (hosts/trust.py): which process is this host's dockerd, which files root may believe or delete.

Unit tests of the rule itself (uid, image identity, writable directories, the service link: MainPID, the
pidfile, our own children), of where it is applied (family, facts, the prober and the verdict, the stale
pidfile), and of the /proc reader on real processes run as root and as nobody.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from remediator.detect import facts as factsmod
from remediator.detect import logdiag
from remediator.detect.facts import Facts
from remediator.detect.probes import Prober, ProbeSettings
from remediator.detect.verdict import classify
from remediator.hosts import procfs, trust
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.local import LocalHost
from remediator.hosts.port import Ping
from remediator.hosts.service import controller, remove_stale_pidfile
from remediator.hosts.trust import Identity, dockerd_doubt, root_exe_doubt, unsafe_path
from remediator.settings import HostConfig, SystemdService
from remediator.structs import CommandResult, Proc

NOBODY = 65534
ROOT_SAFE = Identity(uid=0, euid=0, exe="/usr/bin/dockerd", exe_file=(1, 2), exe_unsafe=None)
USER = Identity(uid=1000, euid=1000, exe="/home/x/dockerd", exe_file=(3, 4), exe_unsafe="/home/x is owned by uid 1000, not root")
ROOTS = ("/var/lib/docker", "/var/run/docker")


def dockerd(pid: int, *args: str, ppid: int = 1, exe: str = "/usr/bin/dockerd") -> Proc:
    return Proc(pid, ppid, "S", "dockerd", exe, (exe, *args), start=5)


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("ownership checks need root to chown")


# ---- the rule, pure ------------------------------------------------------------------------------------
def test_only_root_from_a_root_only_image_or_the_configured_binary_passes_the_identity_half() -> None:
    assert root_exe_doubt(ROOT_SAFE) is None
    assert "uid 1000" in (root_exe_doubt(USER) or "")
    setuid = Identity(uid=1000, euid=0, exe="/usr/bin/x", exe_file=(1, 9), exe_unsafe=None)
    assert "uid 1000 (effective 0)" in (root_exe_doubt(setuid) or ""), "a setuid helper run by a user is not root's"
    assert "cannot be read" in (root_exe_doubt(None) or "")
    odd = Identity(uid=0, euid=0, exe="/opt/d/dockerd", exe_file=(7, 7), exe_unsafe="/opt/d is writable by everyone")
    assert "writable by everyone" in (root_exe_doubt(odd) or "")
    assert root_exe_doubt(odd, binaries={(7, 7)}) is None, "the configured binary itself (same device and inode)"


def test_dockerd_also_needs_the_service_link() -> None:
    p = dockerd(40, ppid=39)
    unlinked = dockerd_doubt(p, ROOT_SAFE, binaries=(), links={}, spawned=())
    assert unlinked is not None and "not started by the configured service" in unlinked
    assert dockerd_doubt(p, ROOT_SAFE, binaries=(), links={40: "MainPID of docker.service"}, spawned=()) is None
    assert dockerd_doubt(p, ROOT_SAFE, binaries=(), links={}, spawned={40}) is None
    assert dockerd_doubt(p, ROOT_SAFE, binaries=(), links={}, spawned={39}) is None, "a wrapper we started"
    assert dockerd_doubt(p, USER, binaries=(), links={40: "pidfile"}, spawned={40}) is not None, \
        "a user's process is never proven, whatever names its pid (a pidfile after a pid reuse)"


def test_a_path_is_trusted_only_when_root_alone_can_change_it(tmp_path: Path) -> None:
    needs_root()
    safe = tmp_path / "run"
    safe.mkdir(mode=0o755)
    f = safe / "daemon.json"
    f.write_text("{}")
    os.chmod(f, 0o644)
    assert unsafe_path(str(f)) is None, "root-owned, under /tmp (sticky) and root-only directories"
    os.chown(f, NOBODY, NOBODY)
    assert f"owned by uid {NOBODY}" in (unsafe_path(str(f)) or "")
    os.chown(f, 0, 0)
    os.chmod(f, 0o666)
    assert "writable by everyone" in (unsafe_path(str(f)) or "")
    os.chmod(f, 0o664)
    assert unsafe_path(str(f)) is None, "group root may write"
    os.chown(f, 0, NOBODY)
    assert f"writable by group {NOBODY}" in (unsafe_path(str(f)) or "")
    os.chmod(f, 0o644)
    os.chmod(safe, 0o777)
    assert f"{safe} is writable by everyone" in (unsafe_path(str(f)) or ""), "a parent anyone can write"
    os.chmod(safe, 0o1777)
    assert unsafe_path(str(f)) is None, "a sticky parent: others cannot replace root's entry"
    os.chmod(f, 0o1777)
    assert unsafe_path(str(f)) is not None, "the sticky pass is for directories above, not the file"
    os.chmod(f, 0o644)
    os.chmod(safe, 0o755)
    user = tmp_path / "user"
    user.mkdir()
    os.chown(user, NOBODY, NOBODY)
    link = user / "daemon.json"
    link.symlink_to(f)
    assert f"{user} is owned by uid {NOBODY}" in (unsafe_path(str(link)) or ""), "a link a user can re-point"
    back = safe / "to-user.json"
    back.symlink_to(user / "x.json")
    (user / "x.json").write_text("{}")
    assert unsafe_path(str(back)) is not None, "a root link into a user's directory"
    assert "not an absolute path" in (unsafe_path("etc/docker/daemon.json") or "")


# ---- the rule on a host: Prover, family, find -----------------------------------------------------------
def test_the_service_vouches_by_main_pid_or_a_trusted_pidfile(tmp_path: Path) -> None:
    needs_root()
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    pidfile = run / "docker.pid"
    pidfile.write_text("41\n")
    spec = SystemdService(pidfile=str(pidfile))
    show = (spec.systemctl, "show", "-p", "MainPID", "--value", spec.unit)
    host = FakeHost(config=HostConfig(name="h", service=spec), processes=[dockerd(40), dockerd(41)],
                    commands={show: CommandResult(show, 0, "40\n", "", 0.0)})
    assert trust.Prover(host).links() == {41: f"the pidfile {pidfile}", 40: f"MainPID of {spec.unit}"}
    fam = host.family(data_root=ROOTS[0], exec_root=ROOTS[1])
    assert [p.pid for p in fam.dockerd] == [40, 41]
    os.chown(run, NOBODY, NOBODY)  # nobody could have written that pidfile: it vouches for nothing
    assert trust.Prover(host).links() == {40: f"MainPID of {spec.unit}"}
    assert [p.pid for p in host.family(data_root=ROOTS[0], exec_root=ROOTS[1]).dockerd] == [40]


def test_a_look_alike_is_named_and_ignored_never_part_of_the_family(tmp_path: Path) -> None:
    spec = SystemdService(pidfile=str(tmp_path / "none.pid"))
    fake_ctrd = Proc(50, 1, "S", "containerd", "/home/x/containerd",
                     ("containerd", "--address", "/var/run/docker/containerd/containerd.sock"), start=5)
    fake_shim = Proc(51, 1, "S", "containerd-shim", "/home/x/containerd-shim",
                     ("containerd-shim", "-namespace", "moby", "-workdir", "/var/lib/docker/containerd/daemon/x"), start=5)
    child = Proc(52, 51, "S", "sleep", "/bin/sleep", ("sleep", "1000"), start=5)
    host = FakeHost(config=HostConfig(name="h", service=spec), processes=[dockerd(40), fake_ctrd, fake_shim, child],
                    identities={40: USER, 50: USER, 51: USER})
    host.started.add(40)  # even "started by us": a user's process is not root's daemon
    fam = host.family(data_root=ROOTS[0], exec_root=ROOTS[1])
    assert fam.all() == [], fam.describe()
    assert fam.ignored("dockerd") == [
        "a process named dockerd (pid 40, uid 1000, /usr/bin/dockerd) is not proven to be this host's dockerd: "
        "it runs as uid 1000 (effective 1000), not root; ignored"]
    assert len(fam.ignored("containerd")) == 1 and len(fam.ignored("shim")) == 1
    assert controller(host).find() is None


def test_a_proven_dockerd_is_found_and_preferred_by_the_service_link(tmp_path: Path) -> None:
    spec = SystemdService(pidfile=str(tmp_path / "none.pid"))
    show = (spec.systemctl, "show", "-p", "MainPID", "--value", spec.unit)
    host = FakeHost(config=HostConfig(name="h", service=spec), processes=[dockerd(60), dockerd(61), dockerd(62)],
                    identities={60: USER}, commands={show: CommandResult(show, 0, "62\n", "", 0.0)})
    host.started.add(61)
    found, ignored = trust.find_dockerd(host)
    assert found is not None and found.pid == 62 and len(ignored) == 1 and "pid 60" in ignored[0]


# ---- where the rule is used: facts, prober, verdict -------------------------------------------------------
def _user_file(tmp_path: Path, name: str, body: str) -> Path:
    user = tmp_path / "home-x"
    user.mkdir(exist_ok=True)
    os.chown(user, NOBODY, NOBODY)
    f = user / name
    f.write_text(body)
    os.chown(f, NOBODY, NOBODY)
    return f


def test_facts_never_believe_or_execute_an_unproven_dockerd(tmp_path: Path) -> None:
    """Default roots: any process named dockerd matches them. A user's must not choose the roots (its
    --config-file), nor be run as root for its --version."""
    needs_root()
    evil = _user_file(tmp_path, "daemon.json", json.dumps({"data-root": str(tmp_path / "mine")}))
    spec = SystemdService(pidfile=str(tmp_path / "none.pid"))
    host = FakeHost(config=HostConfig(name="h", service=spec, daemon_json=str(tmp_path / "absent.json")),
                    processes=[dockerd(70, "--config-file", str(evil), exe="/home/x/dockerd")], identities={70: USER})
    host.started.add(70)
    f = factsmod.resolve(host)
    assert (f.data_root, f.exec_root, f.dockerd_pid) == (ROOTS[0], ROOTS[1], None)
    assert all("/home/x" not in argv[0] for argv in host.ran), host.ran
    assert ("dockerd", "--version") in host.ran, "the version comes from the configured binary"
    assert any("pid 70, uid 1000" in n and "not proven" in n for n in f.notes), f.notes


def test_a_config_file_a_user_can_write_is_not_read_even_from_a_proven_dockerd(tmp_path: Path) -> None:
    needs_root()
    evil = _user_file(tmp_path, "daemon.json", json.dumps({"data-root": str(tmp_path / "mine")}))
    host = FakeHost(config=HostConfig(name="h", service=SystemdService(pidfile=str(tmp_path / "none.pid"))),
                    processes=[dockerd(71, "--config-file", str(evil))])
    host.started.add(71)
    f = factsmod.resolve(host)
    assert f.dockerd_pid == 71 and f.data_root == ROOTS[0]
    assert any(f"{evil} not read" in n and f"uid {NOBODY}" in n for n in f.notes), f.notes
    data, notes = factsmod._daemon_json(host, str(evil))
    assert data == {} and notes
    os.chown(evil.parent, 0, 0)
    os.chown(evil, 0, 0)
    assert factsmod._daemon_json(host, str(evil))[0] == {"data-root": str(tmp_path / "mine")}


def test_an_unproven_dockerd_is_reported_and_is_no_evidence_of_a_wedge(tmp_path: Path) -> None:
    spec = SystemdService(pidfile=str(tmp_path / "none.pid"))
    host = FakeHost(config=HostConfig(name="h", service=spec), processes=[dockerd(80, exe="/home/x/dockerd")],
                    identities={80: USER}, pings={p: Ping("refused", 0.0, "nothing listening") for p in
                                                  ("/_ping", "/version", "/info", "/containers/json?all=1")})
    facts = Facts(host="h", docker_host="unix:///s", data_root=ROOTS[0], exec_root=ROOTS[1], version="x",
                  layout="managed", state_dirs=[], dockerd_pid=None)
    r = Prober(host, FakeService(), facts, ProbeSettings(timeout=0.2)).round()
    obs = r["dockerd-proc"]
    assert obs.outcome == "absent" and "pid 80, uid 1000, /home/x/dockerd" in obs.detail and "not proven" in obs.detail
    view = classify(r, logdiag.diagnose_text(""), "managed")
    assert view.diagnosis == "dockerd-down" and any("not proven" in b for b in view.because), view
    assert host.signals == [] and host.ran == []


# ---- deletion only of what is proven ours: the stale pidfile ---------------------------------------------
def _pid_host(pidfile: Path, *procs: Proc, **kw: object) -> FakeHost:
    return FakeHost(config=HostConfig(name="h", service=SystemdService(pidfile=str(pidfile))), processes=list(procs),
                    **kw)  # type: ignore[arg-type]


def test_a_pidfile_naming_a_live_process_is_never_removed(tmp_path: Path) -> None:
    needs_root()
    pidfile = tmp_path / "docker.pid"
    other = dockerd(4242, "--data-root", "/srv/other")  # another daemon on this machine
    reused = Proc(4343, 1, "S", "nginx", "/usr/sbin/nginx", ("nginx",), start=1)  # another service's pid
    mine = dockerd(4545)
    host = _pid_host(pidfile, other, reused, mine)
    host.started.add(4545)
    for pid, why in ((4242, "not a proven dockerd"), (4343, "(nginx) and not a proven dockerd"),
                     (4545, "this host's running dockerd")):
        pidfile.write_text(f"{pid}\n")
        notes = remove_stale_pidfile(host)
        assert pidfile.exists() and why in notes[0], (pid, notes)
    pidfile.write_text("4444\n")
    assert "removed stale pidfile" in remove_stale_pidfile(host)[0] and not pidfile.exists()


def test_a_pidfile_root_does_not_alone_control_is_left_alone(tmp_path: Path) -> None:
    needs_root()
    user = tmp_path / "user"
    user.mkdir()
    os.chown(user, NOBODY, NOBODY)
    pidfile = user / "docker.pid"
    pidfile.write_text("4444\n")
    notes = remove_stale_pidfile(_pid_host(pidfile))
    assert pidfile.exists() and "not proven to be dockerd's pidfile" in notes[0], notes
    ours = tmp_path / "docker.pid"
    ours.symlink_to(pidfile)
    notes = remove_stale_pidfile(_pid_host(ours))
    assert ours.is_symlink() and pidfile.exists() and "left" in notes[0], notes


# ---- the /proc reader, on real processes ----------------------------------------------------------------
def test_identity_reads_uids_and_the_image_of_real_processes(tmp_path: Path) -> None:
    needs_root()
    me = procfs.read_proc(os.getpid())
    assert me is not None
    ident = LocalHost(HostConfig(name="x")).identity(me)
    assert ident is not None and (ident.uid, ident.euid) == (0, 0)
    assert ident.exe_file == (os.stat(sys.executable).st_dev, os.stat(sys.executable).st_ino)
    user = tmp_path / "user"
    user.mkdir()
    os.chown(user, NOBODY, NOBODY)
    copy = user / "dockerd"
    shutil.copy("/bin/sleep", copy)
    os.chown(copy, NOBODY, NOBODY)
    as_nobody = subprocess.Popen(["/bin/sleep", "60"], user=NOBODY, group=NOBODY, extra_groups=[])
    as_root_from_user_dir = subprocess.Popen([str(copy), "60"])
    try:
        host = LocalHost(HostConfig(name="x"))
        for proc, uid, unsafe in ((as_nobody, NOBODY, None), (as_root_from_user_dir, 0, f"owned by uid {NOBODY}")):
            p = procfs.read_proc(proc.pid)
            assert p is not None
            got = host.identity(p)
            assert got is not None and got.uid == uid, got
            assert (got.exe_unsafe is None) if unsafe is None else (unsafe in (got.exe_unsafe or "")), got
        p = procfs.read_proc(as_nobody.pid)
        assert p is not None
        assert host.identity(Proc(**{**p.__dict__, "start": p.start - 1})) is None, "a reused pid is not that process"
    finally:
        for proc in (as_nobody, as_root_from_user_dir):
            proc.kill()
            proc.wait(5)


def test_stopping_the_service_never_signals_a_look_alike(tmp_path: Path) -> None:
    """service stop on a process host whose only "dockerd" is a user's: nothing is signalled, the user's process
    is still there, and its pid in the (root-owned) pidfile does not get that file deleted either."""
    needs_root()
    from remediator.settings import ProcessService

    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("90\n")
    argv = ["dockerd", "--data-root", ROOTS[0], "--exec-root", ROOTS[1], "-H", "unix:///var/run/docker.sock",
            "--pidfile", str(pidfile)]
    spec = ProcessService(kind="process", argv=argv, pidfile=str(pidfile), log=str(tmp_path / "log"))
    host = FakeHost(config=HostConfig(name="h", service=spec), processes=[dockerd(90, exe="/home/x/dockerd")],
                    identities={90: USER})
    notes = controller(host).stop(1.0)
    assert host.signals == [] and [p.pid for p in host.processes] == [90]
    assert "dockerd was not running" in notes[0] and pidfile.exists() and "pid 90 is alive" in notes[1], notes

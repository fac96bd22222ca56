"""Disposable real-dockerd sandboxes for the demo, the tests and the benchmarks.

Role: start an isolated dockerd (own data-root, exec-root, socket, pidfile; no bridge, no
iptables), give it a busybox image made with `docker import`, run containers, break it the
incident's ways, and clean up everything it started — daemons, shims, container processes,
mounts — even after a failure.
Must not: touch anything outside its own directory, or any process that does not name it.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from remediator.clock import poll_until
from remediator.hosts import connect
from remediator.hosts.service import controller
from remediator.settings import HostConfig, ProcessService
from remediator.structs import Proc

IMAGE = "lab/busybox:1"
LOOP = ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do /bin/busybox sleep 1 & wait $!; done"]


def busybox_tar() -> bytes:
    """A one-file root filesystem: /bin/busybox from the busybox-static package."""
    src = shutil.which("busybox") or "/bin/busybox"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(src, arcname="bin/busybox")
    return buf.getvalue()


class Sandbox:
    def __init__(self, root: str | Path | None = None, name: str = "lab", dockerd: str = "dockerd",
                 external_containerd: bool = False, extra_flags: tuple[str, ...] = ()) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="rmd-lab-", dir="/tmp"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.data, self.exec_ = str(self.root / "data"), str(self.root / "exec")
        self.sock, self.pidfile = str(self.root / "docker.sock"), str(self.root / "docker.pid")
        self.log = str(self.root / "dockerd.log")
        self.dockerd = dockerd
        self.extra_flags = list(extra_flags)  # more dockerd flags, e.g. --live-restore
        # an external containerd, like /run/containerd on 18.09+ hosts, but inside the sandbox
        self.ctrd_sock = str(self.root / "containerd.sock") if external_containerd else None
        self.host = connect(self.config())

    def argv(self) -> list[str]:
        """dockerd under a tiny subreaper (see lab/reaper.py): this machine's PID 1 does not reap."""
        return [sys.executable, "-m", "remediator.lab.reaper", f"--tmpdir={self.root}/tmp",
                self.dockerd, "--data-root", self.data, "--exec-root", self.exec_, "-H", f"unix://{self.sock}",
                "--pidfile", self.pidfile, "--bridge=none", "--iptables=false", "--ip-masq=false",
                "--storage-driver=overlay2"] + (["--containerd", self.ctrd_sock] if self.ctrd_sock else []) + self.extra_flags

    def containerd_argv(self) -> list[str]:
        return [sys.executable, "-m", "remediator.lab.reaper", f"--tmpdir={self.root}/tmp", "containerd",
                "--config", str(self.root / "containerd.toml"), "--root", str(self.root / "containerd-root"),
                "--state", str(self.root / "containerd-state"), "--address", str(self.ctrd_sock)]

    def config(self, argv: list[str] | None = None) -> HostConfig:
        return HostConfig(name=self.name, docker_host=f"unix://{self.sock}", data_root=self.data, exec_root=self.exec_,
                          daemon_json=str(self.root / "daemon.json"),
                          service=ProcessService(kind="process", argv=argv or self.argv(), pidfile=self.pidfile, log=self.log))

    def config_yaml(self, state_dir: str, argv: list[str] | None = None) -> str:
        return (f"state_dir: {state_dir}\nevidence_budget: 10\nprobe: {{timeout: 1.0, interval: 0.2}}\n"
                f"hosts:\n{self.host_yaml(argv)}")

    def host_yaml(self, argv: list[str] | None = None, **extra: str) -> str:
        """This sandbox as one item of a config's hosts list (extra keys, e.g. policy="auto", appended)."""
        c = self.config(argv)
        assert isinstance(c.service, ProcessService)
        args = ", ".join(f'"{a}"' for a in c.service.argv)
        return (f"  - name: {c.name}\n"
                f"    docker_host: {c.docker_host}\n    data_root: {c.data_root}\n    exec_root: {c.exec_root}\n"
                f"    daemon_json: {c.daemon_json}\n"
                f"    service: {{kind: process, argv: [{args}], pidfile: {c.service.pidfile}, log: {c.service.log}}}\n"
                + "".join(f"    {k}: {v}\n" for k, v in extra.items()))

    # ---- life -------------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        if self.ctrd_sock and not self.host.grpc_ping(self.ctrd_sock, 1.0).ok:
            (self.root / "containerd.toml").write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
            self.host.spawn_detached(self.containerd_argv(), log=str(self.root / "containerd.log"))
            sock = self.ctrd_sock
            wait_for(lambda: self.host.grpc_ping(sock, 1.0).ok, 30, f"the external containerd at {sock}")
        controller(self.host).start(timeout)

    def populate(self, n: int) -> list[str]:
        """Import the image and run n containers: a mix of restart policies (always, unless-stopped, no)."""
        if not self.host.docker_call("images", name=IMAGE):
            self.host.docker_call("import_image_from_data", busybox_tar(), repository="lab/busybox", tag="1")
        ids = []
        policies = ["always", "unless-stopped", "no"]
        for i in range(n):
            policy = policies[i % len(policies)]
            hc = self.host.docker_call("create_host_config", restart_policy={"Name": policy} if policy != "no" else None)
            c = self.host.docker_call("create_container", IMAGE, LOOP, name=f"c{i}-{policy}", host_config=hc,
                                      environment=["API_TOKEN=s3cret-token"], stop_signal="SIGTERM")
            self.host.docker_call("start", c["Id"])
            ids.append(c["Id"])
        return ids

    def running(self) -> set[str]:
        return {c["Id"] for c in self.host.docker_call("containers", timeout=10)}

    def dockerd_proc(self) -> Proc | None:
        return controller(self.host).find()

    # ---- faults -----------------------------------------------------------------------------
    def wedge(self) -> int:
        """SIGSTOP dockerd: the API accepts connections and never answers, like the incident."""
        p = self.dockerd_proc()
        assert p is not None, "dockerd is not running"
        os.kill(p.pid, signal.SIGSTOP)
        # kill() returns before the stop is delivered to every thread: the wedge is in place once every thread of
        # dockerd reads stopped (T)
        if poll_until(lambda: self._all_threads_stopped(p.pid) or None, timeout=10, every=0.01):
            return p.pid
        raise RuntimeError(f"dockerd {p.pid} did not stop within 10 s of SIGSTOP")

    @staticmethod
    def _all_threads_stopped(pid: int) -> bool:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
            states = []
            for tid in tids:
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as fh:
                    states.append(fh.read(4096).rsplit(b")", 1)[1].split()[0])
        except OSError:
            return False
        return bool(states) and all(st in (b"T", b"t") for st in states)

    def crash(self) -> None:
        """SIGKILL dockerd, as a crash would: shims and containers survive, the managed containerd dies."""
        p = self.dockerd_proc()
        assert p is not None, "dockerd is not running"
        os.kill(p.pid, signal.SIGKILL)
        self.host.wait_gone([p], 10)
        ctrd = self.host.family(data_root=self.data, exec_root=self.exec_).containerd
        if not self.ctrd_sock:
            self.host.wait_gone(ctrd, 10)  # managed containerd dies with dockerd (Pdeathsig)

    @property
    def metadb(self) -> Path:
        return Path(self.data) / "containerd/daemon/io.containerd.metadata.v1.bolt/meta.db"

    @property
    def localkv(self) -> Path:
        return Path(self.data) / "network/files/local-kv.db"

    def corrupt_metadb(self, how: str = "random", try_start: bool = True) -> None:
        """Crash dockerd, damage containerd's meta.db, and (try_start) try to start: dockerd now refuses.
        how: random = the whole file overwritten with random bytes; zero-meta = bbolt's two meta pages
        (the first 2 pages) zeroed, the rest intact."""
        self.crash()
        damage(self.metadb, how)
        if try_start:
            self._start_must_fail("a corrupt meta.db")

    def corrupt_localkv(self, how: str = "random", try_start: bool = False) -> None:
        """Crash dockerd and damage libnetwork's local-kv.db (dockerd's own database, not containerd's)."""
        self.crash()
        damage(self.localkv, how)
        if try_start:
            self._start_must_fail("a corrupt local-kv.db")

    def stale_containerd_pidfile(self) -> int:
        """Crash dockerd and leave its managed containerd's pidfile naming a live, unrelated process
        (as after a reboot that reused the pid). Returns that process's pid."""
        self.crash()
        pid = self.host.spawn_detached([sys.executable, "-c", "import signal; signal.pause()", str(self.root)],
                                       log=str(self.root / "bystander.log"))
        (Path(self.exec_) / "containerd" / "containerd.pid").write_text(str(pid))
        return pid

    def _start_must_fail(self, what: str) -> None:
        try:
            controller(self.host).start(20)
        except Exception:  # noqa: BLE001 - the start is expected to fail; that is the fault
            return
        raise AssertionError(f"dockerd started despite {what}")

    # ---- cleanup ----------------------------------------------------------------------------
    def processes(self) -> list[Proc]:
        """Every live process that names this sandbox, and all their descendants."""
        procs = self.host.procs()
        mine = {p.pid for p in procs if p.alive and str(self.root) in " ".join(p.cmdline)}
        grew = True
        while grew:
            kids = {p.pid for p in procs if p.alive and p.ppid in mine} - mine
            grew = bool(kids)
            mine |= kids
        return [p for p in procs if p.pid in mine and p.pid != os.getpid()]

    def kill_processes(self) -> None:
        """SIGKILL every process of this sandbox (SIGCONT first, in case one is stopped)."""
        for _ in range(3):
            victims = self.processes()
            for p in victims:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.host.wait_gone(victims, 10)

    def cleanup(self) -> None:
        self.kill_processes()
        self.unmount()
        shutil.rmtree(self.root, ignore_errors=True)

    def unmount(self) -> None:
        """Lazily unmount everything mounted at or below the sandbox directory (overlays, shm, netns)."""
        for _ in range(3):
            mounts = [m for m in _mounts() if m == str(self.root) or m.startswith(str(self.root) + "/")]
            for m in sorted(mounts, key=len, reverse=True):
                os.system(f"umount -l '{m}' 2>/dev/null")  # noqa: S605 - fixed path under our own root
            if not mounts:
                break

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def damage(db: Path, how: str) -> None:
    """Damage a bbolt file in place: random bytes all over, or its two meta pages zeroed."""
    size = db.stat().st_size or 65536
    if how == "random":
        db.write_bytes(os.urandom(size))
        return
    if how != "zero-meta":
        raise ValueError(f"unknown damage {how!r}")
    page = os.sysconf("SC_PAGE_SIZE")  # bbolt's page size is the OS page size when the file is created
    with open(db, "r+b") as fh:
        fh.write(bytes(min(size, 2 * page)))


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4].replace("\\040", " ") for line in fh]


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll cond() until true; raise TimeoutError naming what was awaited."""
    if poll_until(lambda: cond() or None, timeout=timeout, every=0.05) is None:
        raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")

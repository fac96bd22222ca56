"""LocalHost: the Host port for the machine remediator runs on.

Role: every byte of I/O the upper layers do goes through here: commands (via `sh`, in a new
session, process group killed on timeout), /proc, signals (only to a re-proven process), the
Docker API (hard deadlines), files (reads here, the state surgery as `fs`: fsops and quarantine). Foreign exceptions are translated here.
Must not: decide anything. It does what it is told, safely, or raises a HostError.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

import docker
import docker.constants
import docker.errors
import requests.exceptions
import sh

from remediator import access, modes
from remediator.clock import poll_until
from remediator.errors import CommandFailed, CommandTimeout, DockerAPIError, HostError, UnsafeOperation
from remediator.hosts import kmsg, procfs, trust
from remediator.hosts import procs as procmod
from remediator.hosts.dockerapi import VERSION_REFUSED, VersionRefused, choose_api_version, daemon_api_version, http_get, unix_connect
from remediator.hosts.port import DiskUsage, LocalFiles, Ping
from remediator.hosts.statefiles import LocalStateFiles
from remediator.safeio import open_regular
from remediator.settings import HostConfig
from remediator.structs import CommandResult, Proc
from remediator.vocab import PingOutcome as O

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
NEGOTIATE_TIMEOUT = 5.0  # the most one negotiation may take, whatever the call's own timeout


def _timed(exchange: Callable[[], tuple[O, str]], sock_path: str, timeout_detail: str) -> Ping:
    """Run one socket exchange and map how it ended to a Ping (never raises for socket trouble)."""
    started = time.monotonic()
    try:
        outcome, detail = exchange()
    except FileNotFoundError:
        outcome, detail = O.MISSING, f"no socket {sock_path}"
    except ConnectionRefusedError:
        outcome, detail = O.REFUSED, "nothing listening"
    except TimeoutError:
        outcome, detail = O.TIMEOUT, timeout_detail
    except PermissionError as exc:  # the operator's own access, not the daemon's health (remediator.access)
        outcome, detail = O.DENIED, f"{errno.errorcode.get(exc.errno or 0, 'EACCES')}: " + \
            (access.blocker(sock_path, os.W_OK) or f"permission denied on {sock_path}")
    except OSError as exc:
        outcome, detail = O.ERROR, str(exc)
    return Ping(outcome, time.monotonic() - started, detail)


class LocalHost(LocalFiles):
    """The local machine, seen through one HostConfig."""

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.name = config.name
        self.fs = LocalStateFiles()
        self._children: list[subprocess.Popen[bytes]] = []  # daemons we spawned; reap() polls them
        self._api_versions: dict[str, str] = {}  # docker_host -> negotiated API version (see api_version)

    # ---- commands -------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float, ok_codes: Sequence[int] = (0,)) -> CommandResult:
        """Run argv (never a shell string) with a deadline; kill its whole group on timeout."""
        argv = tuple(argv)
        started = time.monotonic()
        try:
            cmd = sh.Command(argv[0])
            proc = cmd(*argv[1:], _bg=True, _bg_exc=False, _new_session=True, _tty_out=False,
                       _ok_code=list(range(256)), _return_cmd=True, _in="")
        except sh.CommandNotFound as exc:
            raise CommandFailed(argv, 127, f"command not found: {argv[0]}") from exc
        try:
            proc.wait(timeout=timeout)
        except sh.TimeoutException as exc:
            try:
                proc.process.kill_group()
            except ProcessLookupError:
                pass
            raise CommandTimeout(argv, timeout) from exc
        # sh's wait(timeout=) only polls until the child exits; its output threads may still be copying the
        # pipes. OProc.wait() joins them (without it: 40 of 300 concurrent `--version` runs came back empty).
        proc.process.wait()
        result = CommandResult(argv=argv, rc=proc.exit_code,
                               stdout=proc.stdout.decode(errors="replace") if isinstance(proc.stdout, bytes) else str(proc.stdout),
                               stderr=proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else str(proc.stderr),
                               duration=time.monotonic() - started)
        if result.rc not in ok_codes:
            raise CommandFailed(argv, result.rc, result.stderr)
        return result

    def spawn_detached(self, argv: Sequence[str], *, log: str) -> int:
        """Start a long-lived daemon in its own session, output appended to log; return its pid."""
        modes.makedirs(os.path.dirname(log), 0o755, modes.PARENT_DIR)
        # 0640, whatever the umask: this log feeds the diagnosis, and a log others can write lets them forge a verdict
        with os.fdopen(modes.create_file(log, 0o640, append=True), "ab") as out:
            try:
                child = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, close_fds=True)
            except OSError as exc:
                raise CommandFailed(tuple(argv), 127, str(exc)) from exc
        self._children.append(child)  # polled by reap(), so a dead daemon leaves no zombie behind
        return child.pid

    def reap(self) -> None:
        for child in self._children:
            child.poll()

    # ---- processes ------------------------------------------------------------------------
    def procs(self) -> list[Proc]:
        self.reap()
        return procfs.list_procs()

    def proc(self, pid: int) -> Proc | None:
        self.reap()
        return procfs.read_proc(pid)

    def family(self, *, data_root: str, exec_root: str, containerd_sock: str = "") -> procmod.Family:
        """This daemon's processes. containerd_sock (the facts') matters only for an external containerd."""
        external = containerd_sock if containerd_sock and not containerd_sock.startswith(f"{exec_root}/") else None
        ids = frozenset(self.listdir(f"{data_root}/containers")) if external else frozenset()
        return trust.proven_family(self, self.procs(), data_root=data_root, exec_root=exec_root, external_sock=external,
                                   container_ids=ids)

    def health(self, p: Proc) -> procmod.Health | None:
        return procfs.health(p)

    def identity(self, p: Proc) -> trust.Identity | None:
        """None unless the pid is still the listed process before and after the reads (not gone, not reused)."""
        if procfs.start_time(p.pid) != p.start:
            return None
        ident = procfs.identity(p.pid)
        return ident if procfs.start_time(p.pid) == p.start else None

    def spawned(self) -> frozenset[int]:
        return frozenset(child.pid for child in self._children if child.returncode is None)

    def signal(self, target: Proc, sig: signal.Signals, *, same_program: bool = True) -> bool:
        """Send sig to target only if the pid still is that very process (same start time; and, with
        same_program, the same exe and cmdline). Return False if it is gone. A container process may
        exec between listing and signalling, so reaping passes same_program=False."""
        now = procfs.read_proc(target.pid)
        if now is None or not now.alive:
            return False
        if now.start != target.start or (same_program and (now.exe, now.cmdline) != (target.exe, target.cmdline)):
            raise UnsafeOperation(f"pid {target.pid} is no longer the {target.comm} that was proven "
                                  f"(now {now.comm} {' '.join(now.cmdline)[:60]}); not signalled")
        try:
            os.kill(target.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait_gone(self, targets: Sequence[Proc], timeout: float) -> list[Proc]:
        """Poll until every target is dead (gone or zombie); return those still alive."""
        alive = list(targets)

        def gone() -> bool | None:
            nonlocal alive
            self.reap()
            alive = [t for t in alive if (p := procfs.read_proc(t.pid)) and p.alive and p.start == t.start]
            return True if not alive else None

        poll_until(gone, timeout=timeout, every=0.05)
        return alive

    # ---- Docker API -----------------------------------------------------------------------
    def ping(self, timeout: float = 2.0, path: str = "/_ping") -> Ping:
        def exchange() -> tuple[O, str]:
            status, body = http_get(self.config.socket_path, path, timeout)
            return (O.OK, "") if status == 200 else (O.ERROR, f"HTTP {status}: {body[:120]!r}")
        return _timed(exchange, self.config.socket_path, f"no answer within {timeout:g}s")

    def connect(self, sock_path: str, timeout: float) -> Ping:
        """Only connect to a unix socket: tells "nothing listening" from "listening"."""
        def exchange() -> tuple[O, str]:
            with unix_connect(sock_path, timeout):
                return O.OK, ""
        return _timed(exchange, sock_path, f"connect took over {timeout:g}s (backlog full)")

    def grpc_ping(self, sock_path: str, timeout: float) -> Ping:
        """Does a gRPC server (containerd) serve on this socket? Send the HTTP/2 preface and an empty
        SETTINGS frame; a serving Go gRPC server answers with its own SETTINGS frame at once. A
        stopped or wedged containerd accepts the connection (kernel backlog) but never answers."""
        def exchange() -> tuple[O, str]:
            end = time.monotonic() + timeout
            with unix_connect(sock_path, timeout) as s:
                s.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
                head = b""
                while len(head) < 9:
                    s.settimeout(max(0.001, end - time.monotonic()))
                    chunk = s.recv(9 - len(head))
                    if not chunk:
                        return O.ERROR, "closed without an HTTP/2 frame"
                    head += chunk
            return (O.OK, "") if head[3] == 0x4 else (O.ERROR, f"first frame is type {head[3]}, not SETTINGS")
        return _timed(exchange, sock_path, f"no HTTP/2 SETTINGS within {timeout:g}s")

    def kmsg_since(self, seq: int | None, *, window: float = 600.0) -> tuple[list[str], int | None]:
        """Kernel log records after sequence number seq (first call: those of the last `window`
        seconds), and the last sequence number seen. ([], seq) when there is no /dev/kmsg; Denied when this
        user may not read it (that is not "no hung task")."""
        return kmsg.read_since(seq, window)

    def api_version(self, timeout: float = NEGOTIATE_TIMEOUT) -> str:
        """The API version docker_call speaks to this host's daemon: learned in one bounded exchange
        (two for Docker 1.12), then kept until a call fails for its version or its connection."""
        key = self.config.docker_host
        if cached := self._api_versions.get(key):
            return cached
        try:
            daemon = daemon_api_version(self.config.socket_path, timeout)
        except (OSError, ValueError) as exc:
            raise DockerAPIError(f"cannot learn the daemon's API version within {timeout:g}s: "
                                 f"{exc or type(exc).__name__}") from exc
        version = self._api_versions[key] = choose_api_version(daemon)
        return version

    def docker_call(self, fn_name: str, *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
        """Call one docker.APIClient method at the negotiated API version; translate every failure to
        DockerAPIError. Refused for its version (dockerd was replaced meanwhile): negotiate and retry once."""
        try:
            return self._docker_call(fn_name, args, kwargs, timeout)
        except VersionRefused:
            return self._docker_call(fn_name, args, kwargs, timeout)

    def _docker_call(self, fn_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float) -> Any:
        version = self.api_version(min(timeout, NEGOTIATE_TIMEOUT))
        try:
            client = docker.APIClient(base_url=self.config.docker_host, version=version, timeout=timeout)
            try:
                return getattr(client, fn_name)(*args, **kwargs)
            finally:
                client.close()
        except docker.errors.APIError as exc:
            if not VERSION_REFUSED.search(str(exc)):
                raise DockerAPIError(f"docker API {fn_name} failed: {exc}") from exc
            self._api_versions.pop(self.config.docker_host, None)
            raise VersionRefused(f"docker API {fn_name} failed at API {version}: {exc}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            self._api_versions.pop(self.config.docker_host, None)  # dockerd may be restarting: maybe another version
            raise DockerAPIError(f"docker API {fn_name} failed: {exc}") from exc

    # ---- files ----------------------------------------------------------------------------
    def read_text(self, path: str, *, limit: int = 4 << 20) -> str:
        try:
            with open_regular(path) as fh:  # a FIFO, socket or device is refused, never waited on
                size = os.fstat(fh.fileno()).st_size
                if size > limit:
                    fh.seek(size - limit)
                return fh.read(limit).decode(errors="replace")
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror}") from exc

    def read_new(self, path: str, cursor: str | None, *, first: int = 256 << 10) -> tuple[str, str | None]:
        """Text appended to path since cursor ("inode:offset"); the last `first` bytes when cursor is
        None; from the start when the file was rotated or truncated. Returns (text, new cursor)."""
        try:
            with open_regular(path) as fh:
                st = os.fstat(fh.fileno())
                ino, off = (cursor or ":").split(":")
                if cursor is None:
                    pos = max(0, st.st_size - first)
                elif str(st.st_ino) != ino or int(off) > st.st_size:
                    pos = 0
                else:
                    pos = int(off)
                fh.seek(pos)
                data = fh.read(max(0, min(st.st_size - pos, 4 << 20)))
                return data.decode(errors="replace"), f"{st.st_ino}:{pos + len(data)}"
        except (OSError, ValueError):
            return "", cursor

    def disk_usage(self, path: str) -> DiskUsage:
        """Space and inodes of the filesystem holding path (or its nearest existing parent)."""
        if not os.path.isabs(path):  # dirname('x') is '' forever: a relative path would loop here
            raise HostError(f"disk usage of {path!r}: not an absolute path")
        while not os.path.exists(path):
            path = os.path.dirname(path)
        st = os.statvfs(path)
        return DiskUsage(free=st.f_bavail * st.f_frsize, total=st.f_blocks * st.f_frsize,
                         free_inodes=st.f_favail, total_inodes=st.f_files)

    def free_bytes(self, path: str) -> int:
        return self.disk_usage(path).free


def _conforms(h: LocalHost) -> None:
    """mypy checks here that LocalHost implements the whole Host port."""
    from remediator.hosts.port import Host

    _: Host = h

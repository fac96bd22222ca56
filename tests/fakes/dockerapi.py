"""A stand-in Docker Engine API on a unix socket, answering as Docker 1.12 (API 1.24) or 18.09 (API 1.39) did.

Answer shapes are copied from moby (github.com/moby/moby): docs/reference/api/docker_remote_api_v1.24.md and
vendor/src/github.com/docker/engine-api/types/types.go at v1.12.6; api/swagger.yaml and api/types/types.go at
v18.09.0. Only /_ping, /version, /info (a subset), /containers/json, /containers/{id}/json and
/containers/{id}/start are served; anything else is a 404 like the daemon's router gives.

The /vX.Y prefix is checked as moby's api/server/middleware/version.go does:
  v1.12.6:   above the daemon's version -> 400 "client is newer than server (client API version: X, server API
             version: Y)"  (there is no "too new" wording before 17.11)
  v1.13.0 - v17.10.0-ce: no upper check at all; a newer client is answered as the daemon's own version
  v17.11.0-ce on (so v18.09.0): 400 "client version X is too new. Maximum supported API version is Y"
Errors are JSON {"message": ...} (api/server/httputils/errors.go MakeErrorHandler; plain text only for
requests at API <= 1.23). Go canonicalises header names, so "API-Version" goes on the wire as "Api-Version".
"""

from __future__ import annotations

import json
import os
import re
import socketserver
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSIONED = re.compile(r"^/v(\d+\.\d+)(/.*)$")
NOT_FOUND_PAGE = "404 page not found\n"  # Go's http.NotFound, the router's answer to an unknown route


def _vt(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


@dataclass(frozen=True)
class Engine:
    """What a daemon release reports about itself."""

    api: str
    version: str
    go: str
    git_commit: str
    build_time: str

    def too_new(self, client: str) -> str | None:
        """The daemon's answer to a request for API `client`, or None when it serves it (api/server/middleware/version.go)."""
        if _vt(client) <= _vt(self.api):
            return None
        if _vt(self.api) <= (1, 24):  # v1.12.6 and before
            return f"client is newer than server (client API version: {client}, server API version: {self.api})"
        if _vt(self.api) < (1, 34):  # v1.13.0 - v17.10.0-ce: unchecked
            return None
        return f"client version {client} is too new. Maximum supported API version is {self.api}"


DOCKER_1_12 = Engine(api="1.24", version="1.12.6", go="go1.6.4", git_commit="78d1802", build_time="Tue Jan 10 20:38:45 2017")
DOCKER_18_09 = Engine(api="1.39", version="18.09.0", go="go1.10.4", git_commit="4d60db4", build_time="2018-11-07T00:16:44.000000000+00:00")


def engine(api: str, version: str = "0.0.0-stand-in") -> Engine:
    """A daemon of any other API version (for bounds the recorded ones do not reach)."""
    return Engine(api=api, version=version, go="go1.22", git_commit="0000000", build_time="")


@dataclass
class Container:
    id: str
    name: str
    image: str = "busybox:latest"
    running: bool = False
    pid: int = 0
    exit_code: int = 0
    started: bool = True  # has it ever been started (exited vs created)
    restart: str = "no"


@dataclass
class Requests:
    """Every request the stand-in received, as "METHOD /path?query"."""

    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, line: str) -> None:
        with self.lock:
            self.seen.append(line)

    def paths(self) -> list[str]:
        with self.lock:
            return [s.split(" ", 1)[1].split("?", 1)[0] for s in self.seen]

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()


def _state_string(c: Container) -> str:
    """container/state.go StateString()."""
    return "running" if c.running else ("exited" if c.started else "created")


def _status(c: Container) -> str:
    """container/state.go String(), human-readable and time-relative."""
    if c.running:
        return "Up 2 minutes"
    return f"Exited ({c.exit_code}) 3 minutes ago" if c.started else "Created"


def list_entry(c: Container, eng: Engine) -> dict[str, Any]:
    """One /containers/json entry: types.Container, identical at v1.12.6 and v18.09.0."""
    return {
        "Id": c.id, "Names": [f"/{c.name}"], "Image": c.image,
        "ImageID": "sha256:" + "d7" * 32, "Command": "sh -c 'while :; do sleep 1; done'", "Created": 1546300800,
        "Ports": [], "Labels": {}, "State": _state_string(c), "Status": _status(c),
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {"bridge": {
            "IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "7e" * 32,
            "EndpointID": ("8b" * 32) if c.running else "", "Gateway": "172.17.0.1" if c.running else "",
            "IPAddress": "172.17.0.2" if c.running else "", "IPPrefixLen": 16 if c.running else 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:ac:11:00:02" if c.running else ""}}},
        "Mounts": [],
    }


def inspect(c: Container, eng: Engine) -> dict[str, Any]:
    """/containers/{id}/json: the recorded example's fields (no Health: only present with a healthcheck)."""
    base = f"/var/lib/docker/containers/{c.id}"
    doc: dict[str, Any] = {
        "Id": c.id, "Created": "2019-01-01T00:00:00.000000000Z", "Path": "sh", "Args": ["-c", "while :; do sleep 1; done"],
        "State": {"Status": _state_string(c), "Running": c.running, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": c.pid, "ExitCode": c.exit_code, "Error": "",
                  "StartedAt": "2019-01-01T00:00:01.000000000Z" if c.started else "0001-01-01T00:00:00Z",
                  "FinishedAt": "0001-01-01T00:00:00Z"},
        "Image": "sha256:" + "d7" * 32, "ResolvConfPath": f"{base}/resolv.conf", "HostnamePath": f"{base}/hostname",
        "HostsPath": f"{base}/hosts", "LogPath": f"{base}/{c.id}-json.log", "Name": f"/{c.name}", "RestartCount": 0,
        "Driver": "overlay2", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": {"Binds": None, "NetworkMode": "default", "PortBindings": {},
                       "RestartPolicy": {"Name": c.restart, "MaximumRetryCount": 0},
                       "LogConfig": {"Type": "json-file", "Config": {}}, "Privileged": False, "ShmSize": 67108864},
        "Mounts": [],
        "Config": {"Hostname": c.id[:12], "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
                   "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False,
                   "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh", "-c", "while :; do sleep 1; done"], "Image": c.image, "Volumes": None,
                   "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {}},
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
                            "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": "", "SecondaryIPAddresses": None,
                            "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
                            "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                            "MacAddress": "", "Networks": list_entry(c, eng)["NetworkSettings"]["Networks"]},
    }
    if _vt(eng.api) >= (1, 25):  # later fields (api/types/types.go at v18.09.0): AutoRemove, GraphDriver, Platform
        doc["HostConfig"]["AutoRemove"] = False
        doc["GraphDriver"] = {"Name": "overlay2", "Data": {"MergedDir": f"/var/lib/docker/overlay2/{c.id}/merged"}}
        doc["Platform"] = "linux"
    return doc


def version_doc(eng: Engine) -> dict[str, Any]:
    """/version: types.Version (v1.12.6 vendored engine-api; MinAPIVersion since 1.25; Platform and Components since
    1.35, filled as daemon/info.go SystemVersion() at v18.09.0, which asks nothing of containerd yet)."""
    doc: dict[str, Any] = {"Version": eng.version, "ApiVersion": eng.api, "GitCommit": eng.git_commit,
                           "GoVersion": eng.go, "Os": "linux", "Arch": "amd64", "KernelVersion": "4.19.0-stand-in",
                           "BuildTime": eng.build_time}
    if _vt(eng.api) >= (1, 25):
        doc["MinAPIVersion"] = "1.12"
    if _vt(eng.api) >= (1, 35):
        doc = {"Platform": {"Name": ""}, "Components": [{"Name": "Engine", "Version": eng.version, "Details": {
            "ApiVersion": eng.api, "MinAPIVersion": "1.12", "GitCommit": eng.git_commit, "GoVersion": eng.go,
            "Os": "linux", "Arch": "amd64", "KernelVersion": "4.19.0-stand-in", "BuildTime": eng.build_time,
            "Experimental": "false"}}], **doc}
    return doc


def info_doc(eng: Engine, containers: list[Container]) -> dict[str, Any]:
    """/info: a subset of types.Info."""
    running = sum(c.running for c in containers)
    return {"ID": "7TRN:IPZB:QYBB:VPBQ:UMPP:KARE:6ZNR:XE6T:7EWV:PKF4:ZOJD:TPYS", "Containers": len(containers),
            "ContainersRunning": running, "ContainersPaused": 0, "ContainersStopped": len(containers) - running,
            "Images": 1, "Driver": "overlay2", "DockerRootDir": "/var/lib/docker", "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs", "KernelVersion": "4.19.0-stand-in", "OperatingSystem": "Debian GNU/Linux",
            "OSType": "linux", "Architecture": "x86_64", "NCPU": 2, "MemTotal": 2099236864, "Name": "stand-in",
            "ServerVersion": eng.version, "LiveRestoreEnabled": False, "SecurityOptions": ["seccomp"]}


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    api: FakeDockerAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a stalled answer is expected; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # dockerd answers 1.1 and keeps the connection open
    server: _Server

    def address_string(self) -> str:  # a unix peer has no address
        return "unix"

    def version_string(self) -> str:  # the Server header send_response() writes
        return f"Docker/{self.server.api.engine.version} (linux)"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.api.handle(self, "GET")

    def do_POST(self) -> None:
        self.server.api.handle(self, "POST")

    def do_HEAD(self) -> None:
        self.server.api.handle(self, "HEAD")


class FakeDockerAPI:
    """Serve on sock_path until stop(). `engine` may be swapped to play a replaced daemon; a request for a
    path in `stall` waits for `release` (set by stop()) before it is answered."""

    def __init__(self, sock_path: str, eng: Engine, containers: list[Container] | None = None) -> None:
        self.sock_path, self.engine = sock_path, eng
        self.containers = {c.id: c for c in containers or []}
        self.requests = Requests()
        self.stall: set[str] = set()
        self.stalled = threading.Event()  # set when a request starts waiting in a stall
        self.release = threading.Event()
        self._server = _Server(sock_path, _Handler)
        self._server.api = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> FakeDockerAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)

    # ---- the daemon ---------------------------------------------------------------------
    def handle(self, h: _Handler, method: str) -> None:
        self.requests.add(f"{method} {h.path}")
        if h.headers.get("Content-Length"):
            h.rfile.read(int(h.headers["Content-Length"]))
        url = urlsplit(h.path)
        path, asked = url.path, self.engine.api
        if m := VERSIONED.match(path):
            asked, path = m.group(1), m.group(2)
        if path in self.stall:
            self.stalled.set()
            self.release.wait(30)
        eng = self.engine
        handler = self._route(method, path, parse_qs(url.query))
        if handler is None:  # no route: the router's 404, no middleware runs
            return self._send(h, 404, NOT_FOUND_PAGE.encode(), "text/plain; charset=utf-8", {})
        # v18.09.0 middlewares set these on every routed answer, refused ones included (version.go, experimental.go)
        headers = {"Api-Version": eng.api, "Ostype": "linux", "Docker-Experimental": "false"} if _vt(eng.api) >= (1, 25) else {}
        refusal = eng.too_new(asked)  # checked before the handler runs: a refused request changes nothing
        status, doc = (400, {"message": refusal}) if refusal else handler()
        if isinstance(doc, bytes):
            return self._send(h, status, doc, "text/plain; charset=utf-8" if doc else "", headers)
        return self._send(h, status, (json.dumps(doc) + "\n").encode(), "application/json", headers)

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> Callable[[], tuple[int, Any]] | None:
        """The handler of a known route, answering (status, JSON document or raw bytes); None for no route."""
        eng, containers = self.engine, list(self.containers.values())
        if method in ("GET", "HEAD") and path == "/_ping":
            return lambda: (200, b"OK")
        if method == "GET" and path == "/version":
            return lambda: (200, version_doc(eng))
        if method == "GET" and path == "/info":
            return lambda: (200, info_doc(eng, containers))
        if method == "GET" and path == "/containers/json":
            everything = query.get("all", ["0"])[0] in ("1", "true", "True")
            return lambda: (200, [list_entry(c, eng) for c in containers if everything or c.running])
        m = re.fullmatch(r"/containers/([^/]+)/(json|start)", path)
        if m is None or (method, m.group(2)) not in (("GET", "json"), ("POST", "start")):
            return None
        return lambda: self._container(m.group(1), m.group(2))

    def _container(self, ref: str, op: str) -> tuple[int, Any]:
        c = self._find(ref)
        if c is None:
            return 404, {"message": f"No such container: {ref}"}
        if op == "json":
            return 200, inspect(c, self.engine)
        if c.running:
            return 304, b""
        c.running, c.started, c.pid = True, True, 4242
        return 204, b""

    def _find(self, ref: str) -> Container | None:
        hits = [c for c in self.containers.values() if c.id.startswith(ref) or c.name == ref.lstrip("/")]
        return hits[0] if len(hits) == 1 else None

    def _send(self, h: _Handler, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if ctype:
            h.send_header("Content-Type", ctype)
        if status not in (204, 304):
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD" and status not in (204, 304):
            h.wfile.write(body)

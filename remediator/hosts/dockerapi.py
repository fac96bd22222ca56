"""The Docker Engine API over a unix socket, below the SDK: one bounded HTTP exchange, and which API version to speak.

Role: what LocalHost needs before the docker SDK can be used at all: a GET with one hard deadline for the whole
exchange (the SDK's timeouts are per read), the daemon's newest API version (/_ping's header, else /version),
and the version to speak (capped at the newest the installed SDK knows).
Must not: decide anything beyond the version; callers map errors (remediator.hosts.local).
"""

from __future__ import annotations

import json
import re
import socket
import time

import docker
import docker.constants

from remediator.errors import DockerAPIError

SDK_MIN_API: str = docker.constants.MINIMUM_DOCKER_API_VERSION  # docker 7.x: "1.24" (Docker 1.12)
SDK_MAX_API: str = docker.constants.DEFAULT_DOCKER_API_VERSION  # docker 7.x: "1.45", the newest it was written against
# How daemons refuse a request's /vX.Y prefix: Docker <= 1.12 "client is newer than server (...)"; 17.11+
# "client version X is too new. Maximum supported API version is Y" (and "... is too old. Minimum ...").
# Docker 1.13 - 17.10 do not refuse a too-new version: they answer as their own. (moby api/server/middleware/version.go)
VERSION_REFUSED = re.compile(r"client is newer than server|client version \S+ is too (?:new|old)")


def http_exchange(sock_path: str, path: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """GET over a unix socket with one hard deadline for the whole exchange: status, headers (names
    lower-cased), body."""
    deadline = time.monotonic() + timeout
    with unix_connect(sock_path, timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete answer within {timeout:g}s")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {raw[:60]!r}")
    headers = {name.strip().lower(): value.strip() for name, sep, value in (h.partition(":") for h in lines[1:]) if sep}
    return int(status_line[1]), headers, body


def http_get(sock_path: str, path: str, timeout: float) -> tuple[int, bytes]:
    """GET over a unix socket with one hard deadline for the whole exchange."""
    status, _, body = http_exchange(sock_path, path, timeout)
    return status, body


def unix_connect(sock_path: str, timeout: float) -> socket.socket:
    """A connected AF_UNIX stream socket whose operations time out after `timeout` (the caller closes it)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(sock_path)
    except BaseException:
        s.close()
        raise
    return s


def _api_tuple(version: str) -> tuple[int, int]:
    major, minor = version.strip().split(".")
    return int(major), int(minor)


def daemon_api_version(sock_path: str, timeout: float) -> str:
    """The newest API version the daemon speaks, all within one deadline: /_ping's Api-Version header
    (Docker >= 1.13; /_ping touches nothing behind dockerd), else /version's ApiVersion (Docker 1.12
    sends no header). /version is not asked first: from 19.03 on it also asks containerd for its
    version, with no deadline (daemon/info_unix.go fillPlatformVersion), so it can hang with containerd."""
    deadline = time.monotonic() + timeout
    status, headers, _ = http_exchange(sock_path, "/_ping", timeout)
    if status == 200 and headers.get("api-version"):
        return headers["api-version"]
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"no API version within {timeout:g}s")
    status, _, body = http_exchange(sock_path, "/version", left)
    if status != 200:
        raise ConnectionError(f"/version answered HTTP {status}: {body[:120]!r}")
    doc = json.loads(body)
    version = doc.get("ApiVersion") if isinstance(doc, dict) else None
    if not isinstance(version, str):
        raise ValueError(f"/version has no ApiVersion: {body[:120]!r}")
    return version


def choose_api_version(daemon: str) -> str:
    """The version to speak to a daemon whose newest is `daemon`: that one, capped at the newest the
    docker SDK knows; DockerAPIError when the daemon is older than the oldest the SDK supports."""
    try:
        have = _api_tuple(daemon)
    except ValueError as exc:
        raise DockerAPIError(f"the daemon reports API version {daemon!r}, not MAJOR.MINOR") from exc
    if have < _api_tuple(SDK_MIN_API):
        raise DockerAPIError(f"the daemon speaks Docker API {daemon} at most, older than {SDK_MIN_API}, the oldest the "
                             f"installed docker SDK {docker.__version__} supports; its API cannot be used")
    return daemon if have <= _api_tuple(SDK_MAX_API) else SDK_MAX_API


class _VersionRefused(DockerAPIError):
    """The daemon refused the request's API version; the request did nothing (checked before any handler)."""


class VersionRefused(DockerAPIError):
    """The daemon refused the request's API version; the request did nothing (checked before any handler)."""

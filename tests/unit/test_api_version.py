"""docker_call speaks the daemon's own API version (capped at the SDK's), learned in one bounded exchange.

Run against tests/fakes/dockerapi.py, which answers as Docker 1.12 (API 1.24) and 18.09 (API 1.39) did.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remediator.actions import StepContext
from remediator.actions.docker import VerifyParams, container_states, list_state, verify
from remediator.detect.facts import Facts
from remediator.errors import DockerAPIError
from remediator.hosts import local
from remediator.hosts.dockerapi import SDK_MAX_API, SDK_MIN_API, http_get
from remediator.hosts.fake import FakeService
from remediator.hosts.local import LocalHost
from remediator.hosts.procs import Family
from remediator.settings import HostConfig
from remediator.structs import Proc
from tests.fakes.dockerapi import DOCKER_1_12, DOCKER_18_09, VERSIONED, Container, Engine, FakeDockerAPI, engine

RECORDED = [pytest.param(DOCKER_1_12, id="docker-1.12-api-1.24"), pytest.param(DOCKER_18_09, id="docker-18.09-api-1.39")]
WEB, DB, NEW = "a" * 64, "b" * 64, "c" * 64

Serve = Callable[..., FakeDockerAPI]


def fleet() -> list[Container]:
    return [Container(WEB, "web", running=True, pid=101, restart="always"), Container(DB, "db"),
            Container(NEW, "new", started=False)]


@pytest.fixture
def sock() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dapi-") as d:  # short: a unix socket path has 107 bytes at most
        yield os.path.join(d, "docker.sock")


@pytest.fixture
def serve(sock: str) -> Iterator[Serve]:
    running: list[FakeDockerAPI] = []

    def start(eng: Engine, containers: list[Container] | None = None) -> FakeDockerAPI:
        fake = FakeDockerAPI(sock, eng, fleet() if containers is None else containers).start()
        running.append(fake)
        return fake

    yield start
    for fake in running:
        fake.stop()


@pytest.fixture
def host(sock: str) -> LocalHost:
    return LocalHost(HostConfig(name="t", docker_host=f"unix://{sock}"))


def api_calls(fake: FakeDockerAPI) -> list[str]:
    """The requests made at an API version (/vX.Y/...), in order."""
    return [p for p in fake.requests.paths() if VERSIONED.match(p)]


@pytest.mark.parametrize("eng", RECORDED)
def test_the_stand_in_refuses_the_old_pinned_version_in_moby_words(serve: Serve, sock: str, eng: Engine) -> None:
    serve(eng)
    status, body = http_get(sock, "/v1.41/containers/json", 2)
    assert status == 400
    assert body.decode().strip() == {
        "1.24": '{"message": "client is newer than server (client API version: 1.41, server API version: 1.24)"}',
        "1.39": '{"message": "client version 1.41 is too new. Maximum supported API version is 1.39"}'}[eng.api]


@pytest.mark.parametrize("eng", RECORDED)
def test_a_recorded_daemon_is_spoken_to_at_its_own_version(serve: Serve, host: LocalHost, eng: Engine) -> None:
    fake = serve(eng)
    listed = host.docker_call("containers", all=True)
    assert {c["Id"]: c["State"] for c in listed} == {WEB: "running", DB: "exited", NEW: "created"}
    inspected = host.docker_call("inspect_container", "web")
    assert inspected["State"]["Running"] is True and "Health" not in inspected["State"]
    assert host.api_version() == eng.api
    negotiation = [p for p in fake.requests.paths() if not VERSIONED.match(p)]
    assert negotiation == (["/_ping", "/version"] if eng is DOCKER_1_12 else ["/_ping"])  # 1.12's ping has no Api-Version
    assert api_calls(fake) == [f"/v{eng.api}/containers/json", f"/v{eng.api}/containers/web/json"]


@pytest.mark.parametrize("eng", RECORDED)
def test_start_works_at_a_recorded_version(serve: Serve, host: LocalHost, eng: Engine) -> None:
    fake = serve(eng)
    host.docker_call("start", DB)
    assert fake.containers[DB].running
    assert host.docker_call("inspect_container", DB)["State"]["Status"] == "running"


def test_a_daemon_newer_than_the_sdk_is_spoken_to_at_the_sdk_maximum(serve: Serve, host: LocalHost) -> None:
    fake = serve(engine("1.51", "28.5.0"))
    host.docker_call("containers", all=True)
    assert host.api_version() == SDK_MAX_API
    assert api_calls(fake) == [f"/v{SDK_MAX_API}/containers/json"]


def test_a_daemon_older_than_the_sdk_minimum_is_a_clear_error(serve: Serve, host: LocalHost) -> None:
    fake = serve(engine("1.23", "1.11.2"))
    with pytest.raises(DockerAPIError, match=rf"speaks Docker API 1\.23 at most, older than {SDK_MIN_API}, the oldest .* docker SDK"):
        host.docker_call("containers", all=True)
    assert api_calls(fake) == []  # nothing was sent at a version the daemon would refuse


def test_the_version_is_negotiated_once_per_host(serve: Serve, host: LocalHost) -> None:
    fake = serve(DOCKER_18_09)
    for _ in range(3):
        host.docker_call("containers", all=True)
    assert fake.requests.paths().count("/_ping") == 1


def test_a_daemon_replaced_by_an_older_one_is_renegotiated_and_the_call_retried_once(serve: Serve, host: LocalHost) -> None:
    fake = serve(DOCKER_18_09)
    host.docker_call("containers", all=True)
    fake.engine = DOCKER_1_12  # dockerd downgraded behind our back, with no failed call in between
    fake.requests.clear()
    host.docker_call("start", DB)
    assert fake.requests.paths() == [f"/v1.39/containers/{DB}/start", "/_ping", "/version", f"/v1.24/containers/{DB}/start"]
    assert fake.containers[DB].running and host.api_version() == "1.24"


# docker-py's UnixHTTPConnection.connect() leaves the socket of a failed connect to the garbage collector;
# collected here, so its ResourceWarning is this test's and not a later one's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_connection_failure_forgets_the_version(serve: Serve, host: LocalHost) -> None:
    first = serve(DOCKER_18_09)
    host.docker_call("containers", all=True)
    first.stop()
    with pytest.raises(DockerAPIError):
        host.docker_call("containers", all=True)
    gc.collect()
    second = serve(DOCKER_1_12)  # the daemon came back as another release
    host.docker_call("containers", all=True)
    assert api_calls(second) == ["/v1.24/containers/json"]


@pytest.mark.parametrize(("eng", "hangs"), [pytest.param(DOCKER_1_12, "/version", id="1.12-version"),
                                            pytest.param(DOCKER_18_09, "/_ping", id="18.09-ping")])
def test_a_hanging_negotiation_is_bounded_by_the_call_timeout(serve: Serve, host: LocalHost, eng: Engine, hangs: str) -> None:
    fake = serve(eng)
    fake.stall.add(hangs)
    started = time.monotonic()
    with pytest.raises(DockerAPIError, match="cannot learn the daemon's API version"):
        host.docker_call("containers", all=True, timeout=0.4)
    took = time.monotonic() - started
    assert fake.stalled.is_set()
    assert took < 0.4 + 0.3, f"negotiation took {took:.3f}s"
    assert api_calls(fake) == []


def test_negotiation_is_bounded_even_under_a_long_call_timeout(serve: Serve, host: LocalHost,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "NEGOTIATE_TIMEOUT", 0.3)
    fake = serve(DOCKER_1_12)
    fake.stall.add("/version")
    started = time.monotonic()
    with pytest.raises(DockerAPIError):
        host.docker_call("containers", all=True, timeout=30)
    assert time.monotonic() - started < 0.3 + 0.3


def test_list_state_reads_any_api_version() -> None:
    assert list_state({"State": "running", "Status": "Up 2 minutes"}) == "running"
    assert list_state({"State": "Exited", "Status": "Exited (0) 3 minutes ago"}) == "exited"  # as the 1.24 docs print it
    assert list_state({"Status": "Up 2 minutes"}) == "running"  # no State (API < 1.23)
    assert list_state({"Status": "Up 2 minutes (Paused)"}) == "paused"
    assert list_state({"Status": "Restarting (1) 2 seconds ago"}) == "restarting"
    assert list_state({"Status": "Created"}) == "created"
    assert list_state({}) == "unknown"


def test_the_verify_read_path_against_docker_1_12(serve: Serve, host: LocalHost) -> None:
    serve(DOCKER_1_12)
    assert container_states(host) == {WEB: "running", DB: "exited", NEW: "created"}


def test_docker_verify_against_docker_1_12_starts_what_has_no_policy(serve: Serve, host: LocalHost, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = serve(DOCKER_1_12)

    def family(**_kw: object) -> Family:  # one shim per container the stand-in runs
        return Family(shims=[Proc(pid=200 + i, ppid=1, state="S", comm="docker-containerd-shim", exe="/x",
                                  cmdline=("containerd-shim-runc-v2", "-namespace", "moby", "-id", c.id))
                             for i, c in enumerate(fake.containers.values()) if c.running])

    monkeypatch.setattr(host, "family", family)
    snap = [{"id": WEB, "name": "web", "restart": "always", "auto_remove": False},
            {"id": DB, "name": "db", "restart": "no", "auto_remove": False}]
    facts = Facts(host="t", docker_host=host.config.docker_host, data_root="/d", exec_root="/e", version="1.12.6",
                  layout="managed", state_dirs=[], dockerd_pid=None)
    ctx = StepContext(host=host, service=FakeService(), facts=facts, incident_id="i", incident_dir=tmp_path,
                      evidence_budget=1, outputs={"snapshot": {"running": snap}})
    res = verify(ctx, VerifyParams(snapshot_step="snapshot", timeout=5, policy_grace=0))
    assert res.data == {"started": ["db"], "lost": []}
    assert res.summary.endswith("2/2 containers of the snapshot run again")
    assert f"/v1.24/containers/{DB}/start" in fake.requests.paths()

"""Access is not health: a probe the operator's own environment stopped is no evidence that the host is sick.

Unit level (fakes): probes.blame classifies each failure in one place, the verdict reads only Obs.cause,
`no-access` wins over every sick verdict the denied probes would make and selects no runbook, and the
facts tell a socket that is not where the running dockerd listens. The real thing, as an unprivileged user
against a real dockerd, is tests/e2e/test_access.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.actions import StepContext
from remediator.actions.probe import ConfirmParams, confirm
from remediator.detect.facts import Facts, listen_addrs, resolve
from remediator.detect.probes import ACCESS, MISSING_BINARY, WRONG_SOCKET, Obs, Prober, ProbeSettings, blame
from remediator.detect.signatures import DIAGNOSES, runbook_for
from remediator.detect.verdict import Monitor, denials
from remediator.hosts import connect
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.port import Ping
from remediator.hosts.procs import Family, Health
from remediator.settings import HostConfig, ProbeConfig, SystemdService
from remediator.structs import Outcome, Proc
from tests.conftest import cli

FACTS = Facts(host="h", docker_host="unix:///s", data_root="/d", exec_root="/e", version="x", layout="managed",
              state_dirs=[], dockerd_pid=10, containerd_sock="/e/containerd/containerd.sock",
              listen=("unix:///s",))
HUNG = {p: Ping("timeout", 5.0, "no answer") for p in ("/_ping", "/version", "/info", "/containers/json?all=1")}


def host(**kw: object) -> FakeHost:
    """One dockerd, up for 10 minutes (past the start-up grace), every probe answering unless told."""
    return FakeHost(config=HostConfig(name="h", docker_host="unix:///s"),
                    healths={10: Health(pid=10, state="S", threads=9, dstate=(), wchan="", uptime=600.0)},
                    processes=[Proc(10, 1, "S", "dockerd", "/usr/bin/dockerd", ("dockerd",), start=1)],
                    family_of=lambda procs: Family(dockerd=[p for p in procs if p.comm == "dockerd"]), **kw)  # type: ignore[arg-type]


def verdicts(h: FakeHost, facts: Facts = FACTS, n: int = 5) -> list[str]:
    p, m = Prober(h, FakeService(log=""), facts, ProbeSettings(timeout=0.2)), Monitor("managed")
    return [m.feed(p.round()).diagnosis for _ in range(n)]


def test_no_access_is_in_the_vocabulary_and_selects_nothing() -> None:
    d = DIAGNOSES["no-access"]
    assert d.runbook is None and not d.sick and runbook_for("no-access", "managed") is None


@pytest.mark.parametrize(("obs", "cause"), [
    (Obs("socket", "denied", detail="EACCES"), ACCESS),
    (Obs("dockerd-proc", "denied", detail="/proc/10/exe"), ACCESS),
    (Obs("facts-1", "missing-binary", detail="systemctl"), MISSING_BINARY),
    (Obs("_ping", "timeout"), ""),  # a timeout is the host's
    (Obs("_ping", "missing", detail="no socket /s"), ""),  # missing, and dockerd listens right there: the host's
    (Obs("_ping", "ok"), ""),
])
def test_blame_tells_the_operators_environment_from_the_host(obs: Obs, cause: str) -> None:
    assert blame(obs, FACTS).cause == cause


def test_a_missing_socket_while_dockerd_listens_elsewhere_is_wrong_socket() -> None:
    facts = Facts(**{**FACTS.__dict__, "listen": ("unix:///run/other.sock",)})
    o = blame(Obs("_ping", "missing", detail="no socket /s"), facts)
    assert o.cause == WRONG_SOCKET and "unix:///run/other.sock" in o.detail and "unix:///s" in o.detail
    # nothing runs (listen empty), or it listens on fd:// or tcp: not comparable, so not blamed on the config
    for listen in ((), ("fd://",), ("unix:///run/other.sock", "tcp://0.0.0.0:2375")):
        assert blame(Obs("_ping", "missing"), Facts(**{**FACTS.__dict__, "listen": listen})).cause == ""


def test_listen_addrs_reads_every_spelling_then_daemon_json_then_the_default() -> None:
    assert listen_addrs(("dockerd", "-H", "unix:///a", "--host=unix:///b", "-Hunix:///c", "--host", "fd://"), {}) \
        == ("unix:///a", "unix:///b", "unix:///c", "fd://")
    assert listen_addrs(("dockerd",), {"hosts": ["unix:///j"]}) == ("unix:///j",)
    assert listen_addrs(("dockerd",), {}) == ("unix:///var/run/docker.sock",)


def test_a_denied_socket_is_no_access_at_once_never_dockerd_wedged() -> None:
    denied = Ping("denied", 0.0001, "EACCES: /run/docker.sock (root:docker, mode 0660) may not be written")
    h = host(pings=dict.fromkeys(HUNG, denied), sockets={"/s": denied})
    out = verdicts(h)
    assert out == ["no-access"] * 5  # settled in one round: nothing there can flap; never suspect, never wedged
    p, m = Prober(h, FakeService(log=""), FACTS, ProbeSettings(timeout=0.2)), Monitor("managed")
    v = m.feed(p.round())
    assert v.runbook is None and v.confidence == "high"
    lines = denials(v)
    assert any("root:docker, mode 0660" in line for line in lines)
    assert any(line.startswith("to do: run as root, or as a member of the group") for line in lines)


def test_no_access_wins_over_the_sick_verdict_the_other_probes_make() -> None:
    """The API hangs (a real wedge would look so) but dockerd's identity could not be read: the hang is not
    acted on by a user who cannot prove what it would stop."""
    h = host(pings=HUNG, denials={"/proc/10/exe": "/proc/10/exe may not be read (EACCES)"})
    h.processes = [Proc(10, 1, "S", "dockerd", "", ("dockerd",), start=1)]  # exe unreadable: ""
    assert verdicts(h) == ["no-access"] * 5
    assert verdicts(host(pings=HUNG))[-1] == "dockerd-wedged"  # the same hang, proven: the host's


def test_an_unproven_dockerd_is_not_absent_either() -> None:
    """No dockerd of this host proven, but a process named dockerd whose exe this user may not read: not
    dockerd-down (which would start a second dockerd), no-access."""
    h = host(denials={"/proc/10/exe": "/proc/10/exe may not be read (EACCES)"})
    h.processes = [Proc(10, 1, "S", "dockerd", "", ("dockerd",), start=1)]
    h.family_of = lambda procs: Family()
    assert verdicts(h, n=1) == ["no-access"]


def test_a_closed_log_or_root_is_no_access_and_an_open_one_is_not() -> None:
    h = host(denials={"/d": "/d (root:root, mode 0700) may not be searched"})
    assert verdicts(h, n=1) == ["no-access"]
    assert verdicts(host(), n=1) == ["healthy"]


def test_facts_that_met_a_missing_program_make_no_access() -> None:
    facts = Facts(**{**FACTS.__dict__, "blocked": (("missing-binary", "systemctl is not installed"),)})
    p, m = Prober(host(), FakeService(log=""), facts, ProbeSettings(timeout=0.2)), Monitor("managed")
    v = m.feed(p.round())
    assert v.diagnosis == "no-access" and v.observations["facts-1"]["cause"] == MISSING_BINARY
    assert "to do: install the program, or point the config at it" in denials(v)


def test_a_runbook_given_by_name_stops_at_its_confirm_on_no_access(tmp_path: Path) -> None:
    """`run --runbook NAME` skips the verdict's choice, but its probe.confirm step reads no-access: refused, never
    `healthy` (which would close the incident as if nothing were wrong), and nothing after it runs."""
    denied = Ping("denied", 0.0001, "EACCES: /s may not be written")
    h = host(pings=dict.fromkeys(HUNG, denied), sockets={"/s": denied})
    facts = Facts(**{**FACTS.__dict__, "data_root": str(tmp_path / "d"), "exec_root": str(tmp_path / "e")})
    ctx = StepContext(host=h, service=FakeService(log=""), facts=facts, incident_id="i", incident_dir=tmp_path,
                      evidence_budget=1, probe=ProbeConfig(timeout=0.5, interval=0))
    res = confirm(ctx, ConfirmParams(expect=["dockerd-wedged"]))
    assert res.stop is Outcome.REFUSED and res.data["diagnosis"] == "no-access"
    assert "may not look" in res.summary


def test_signatures_lists_no_access_as_a_verdict_with_no_runbook() -> None:
    res = cli("signatures", "--json")
    rows = {r["id"]: r for r in json.loads(res.stdout) if r["role"] == "verdict"}
    assert res.returncode == 0 and rows["no-access"]["runbook"] is None and "Not evidence" in rows["no-access"]["title"]


def test_a_missing_systemctl_is_recorded_by_the_facts_as_the_operators_not_raised(tmp_path: Path) -> None:
    """On this machine, for real: a systemd host whose systemctl is not installed cannot be asked who runs; the
    facts say so (missing-binary) instead of failing the probe or pretending nothing runs."""
    cfg = HostConfig(name="h", docker_host=f"unix://{tmp_path}/none.sock", data_root=str(tmp_path / "d"),
                     exec_root=str(tmp_path / "e"), daemon_json=str(tmp_path / "daemon.json"),
                     service=SystemdService(systemctl=str(tmp_path / "no-such-systemctl"), pidfile=str(tmp_path / "p")))
    facts = resolve(connect(cfg))
    assert facts.blocked and facts.blocked[0][0] == "missing-binary" and "no-such-systemctl" in facts.blocked[0][1]
    assert blame(Obs("facts-1", facts.blocked[0][0], detail=facts.blocked[0][1]), facts).cause == MISSING_BINARY


def test_an_unreadable_kernel_log_is_not_no_hung_task() -> None:
    """dmesg_restrict: /dev/kmsg closed to this user. With the API hanging, a kernel hang cannot be ruled out,
    so it is no-access, not dockerd-wedged (whose restart would not help a hung kernel)."""
    h = host(pings=HUNG, kmsg_denied="/dev/kmsg: Operation not permitted for uid 65534")
    assert verdicts(h) == ["no-access"] * 5
    p = Prober(h, FakeService(log=""), FACTS, ProbeSettings(timeout=0.2))
    k = p.round()["kernel"]
    assert k.outcome == "denied" and k.cause == ACCESS and "Operation not permitted" in k.detail


def test_a_journal_this_user_may_not_read_is_no_access_on_a_systemd_host() -> None:
    hidden = "journald shows the system's entries only to root and the groups systemd-journal, adm, wheel"
    h = host(journal_hidden=hidden)
    h.config = HostConfig(name="h", docker_host="unix:///s", service=SystemdService())
    assert verdicts(h, n=1) == ["no-access"]
    h.journal_hidden = ""
    assert verdicts(h, n=1) == ["healthy"]


def test_a_listen_socket_that_does_not_exist_is_not_where_dockerd_listens(tmp_path: Path) -> None:
    """dockerd still starting, or its socket deleted: the configured socket missing is then the host's trouble
    (starting, wedged), never blamed on the config as wrong-socket."""
    from remediator.detect.facts import _listening

    (tmp_path / "there.sock").touch()
    got = _listening(host(), (f"unix://{tmp_path}/there.sock", f"unix://{tmp_path}/gone.sock", "fd://"))
    assert got == (f"unix://{tmp_path}/there.sock", "fd://")
    gone = Facts(**{**FACTS.__dict__, "listen": _listening(host(), (f"unix://{tmp_path}/gone.sock",))})
    assert blame(Obs("_ping", "missing"), gone).cause == ""

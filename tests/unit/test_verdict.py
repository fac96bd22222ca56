"""Verdicts from synthetic probe rounds: debounce, degraded-vs-hung, and which cause wins."""

from __future__ import annotations

from typing import Any

from remediator.detect.probes import Obs, Round
from remediator.detect.verdict import Monitor, settle
from tests.fakes.clock import FakeClock

OK = {"_ping": 0.001, "version": 0.003, "info": 0.01, "containers": 0.002, "containerd": 0.001, "socket": 0.0001}


def rnd(n: int = 1, *, api: dict[str, str] | None = None, latency: float | None = None, dockerd: str = "ok",
        dstate: int = 0, disk: str = "ok", kernel: str = "ok", log: list[str] | None = None) -> Round:
    obs: dict[str, Obs] = {}
    for name, lat in OK.items():
        outcome = (api or {}).get(name, "slow" if latency and latency > 1.0 else "ok")  # as Prober labels it
        obs[name] = Obs(name, outcome, 5.0 if outcome == "timeout" else (latency or lat))
    data: dict[str, Any] = {"pid": 10, "state": "S", "dstate": dstate}
    obs["dockerd-proc"] = Obs("dockerd-proc", dockerd, detail="pid 10", data=data if dockerd == "ok" else {})
    obs["containerd-proc"] = Obs("containerd-proc", "ok", detail="pid 11", data={"pid": 11, "dstate": 0})
    obs["disk"] = Obs("disk", disk, detail="data 0.0% free" if disk == "full" else "data 50% free")
    obs["kernel"] = Obs("kernel", kernel, detail="INFO: task dockerd:10 blocked for more than 120 seconds.")
    return Round(n, 0.0, obs, log or [], [])


HUNG = {"_ping": "timeout", "version": "timeout", "info": "timeout", "containers": "timeout"}


def feed(m: Monitor, rounds: list[Round]) -> list[str]:
    return [m.feed(r).diagnosis for r in rounds]


def test_one_timeout_is_never_a_verdict() -> None:
    assert feed(Monitor("managed"), [rnd(api=HUNG)]) == ["suspect"]


def test_three_hung_rounds_make_dockerd_wedged_with_a_trace() -> None:
    m = Monitor("managed")
    assert feed(m, [rnd(api=HUNG) for _ in range(3)]) == ["suspect", "suspect", "dockerd-wedged"]
    v = m.feed(rnd(api=HUNG))
    assert v.runbook == "dockerd-restart" and v.confidence == "high"
    text = "\n".join(v.trace)
    assert "/_ping: timeout ×4" in text and "containerd answers" in text and "no failure signature" in text


def test_a_good_round_resets_the_streak() -> None:
    m = Monitor("managed")
    seq = [rnd(api=HUNG), rnd(api=HUNG), rnd(), rnd(api=HUNG), rnd(api=HUNG)]
    assert "dockerd-wedged" not in feed(m, seq)
    assert m.feed(rnd(api=HUNG)).diagnosis == "dockerd-wedged"


def test_slow_but_answering_is_degraded_never_hung() -> None:
    m = Monitor("managed")
    out = feed(m, [rnd(latency=0.9 if i % 2 else 1.5) for i in range(60)])
    assert set(out) == {"degraded"}
    assert feed(Monitor("managed"), [rnd(latency=0.9)]) == ["healthy"]


def test_flapping_failures_stay_short_of_a_verdict() -> None:
    out = feed(Monitor("managed"), [rnd(api=HUNG) if i % 2 else rnd(latency=1.2) for i in range(60)])
    assert "dockerd-wedged" not in out and "degraded" in out


def test_a_changing_picture_stays_suspect() -> None:
    m = Monitor("managed")
    ctrd = {"version": "timeout", "info": "timeout", "containerd": "timeout"}
    assert feed(m, [rnd(api=HUNG), rnd(api=HUNG), rnd(api=ctrd)]) == ["suspect"] * 3
    assert feed(m, [rnd(api=ctrd), rnd(api=ctrd)])[-1] == "containerd-wedged"


def test_containerd_wedged_not_dockerd() -> None:
    m = Monitor("managed")
    v = [m.feed(rnd(api={"version": "timeout", "info": "timeout", "containerd": "timeout"})) for _ in range(3)][-1]
    assert v.diagnosis == "containerd-wedged" and v.runbook == "dockerd-restart"
    m = Monitor("external")
    v = [m.feed(rnd(api={"version": "timeout", "info": "timeout", "containerd": "timeout"})) for _ in range(3)][-1]
    assert v.diagnosis == "containerd-wedged" and v.runbook == "escalate"


def test_disk_full_wins_even_when_the_api_answers() -> None:
    m = Monitor("managed")
    v = [m.feed(rnd(disk="full")) for _ in range(3)][-1]
    assert v.diagnosis == "disk-full" and v.runbook == "escalate"


def test_kernel_hang_from_hung_task_or_d_state() -> None:
    assert feed(Monitor("managed"), [rnd(api=HUNG, kernel="hung-task")] * 3)[-1] == "kernel-hang"
    assert feed(Monitor("managed"), [rnd(api=HUNG, dstate=2)] * 3)[-1] == "kernel-hang"


def test_dockerd_down_with_and_without_a_cause_in_the_log() -> None:
    down = {k: "missing" for k in HUNG}
    assert feed(Monitor("managed"), [rnd(api=down, dockerd="absent")] * 3)[-1] == "dockerd-down"
    log = ['level=info msg="Starting up"',
           'level=warning msg="failed to load plugin io.containerd.grpc.v1.namespaces" error="invalid database"',
           'failed to start daemon: failed to dial "/r/exec/containerd/containerd.sock": unknown service '
           'containerd.services.namespaces.v1.Namespaces: not implemented']
    m = Monitor("managed")
    out = feed(m, [rnd(api=down, dockerd="absent", log=log), rnd(api=down, dockerd="absent"), rnd(api=down, dockerd="absent")])
    v = m.feed(rnd(api=down, dockerd="absent"))
    assert out[-1] == "containerd-state" and v.runbook == "docker-libcontainerd"
    assert "S09-dial-managed" in v.signatures and v.confidence == "high"


class Script:
    def __init__(self, rounds: list[Round]) -> None:
        self.rounds = rounds

    def round(self) -> Round:
        return self.rounds.pop(0)


def test_settle_stops_at_once_when_healthy_and_after_debounce_when_sick() -> None:
    src = Script([rnd(), rnd()])
    assert settle(src, Monitor("managed"), interval=0).diagnosis == "healthy" and len(src.rounds) == 1
    src = Script([rnd(api=HUNG)] * 5)
    clock = FakeClock()
    assert settle(src, Monitor("managed"), interval=15, clock=clock).diagnosis == "dockerd-wedged"
    assert len(src.rounds) == 2 and clock.slept == [15, 15], "three rounds, 15 s apart (on a fake clock)"


def test_live_log_lines_are_parsed_like_offline_ones() -> None:
    """logrus escapes quotes inside msg="…"; the live path must undo that as `diagnose` does."""
    down = {k: "missing" for k in HUNG}
    log = ['time="2018-03-01T10:00:00Z" level=info msg="Starting up"',
           'time="2018-03-01T10:00:15Z" level=error msg="failed to start daemon: failed to dial '
           '\\"/var/run/docker/containerd/containerd.sock\\": unknown service '
           'containerd.services.namespaces.v1.Namespaces: not implemented"']
    m = Monitor("managed")
    v = m.feed(rnd(api=down, dockerd="absent", log=log))
    assert v.diagnosis == "containerd-state" and "S09-dial-managed" in v.signatures
    assert v.rounds == 1, "down, and the last start failed for a named cause: nothing flaps, one round settles it"


def test_an_old_hung_task_report_with_a_healthy_api_is_not_a_kernel_hang() -> None:
    assert feed(Monitor("managed"), [rnd(kernel="hung-task")] * 3)[-1] == "healthy"


def _young(uptime: float, state: str = "S", log: list[str] | None = None) -> Round:
    r = rnd(api={k: "missing" for k in HUNG}, log=log)
    r.obs["dockerd-proc"] = Obs("dockerd-proc", "ok", detail="pid 10", data={"pid": 10, "state": state, "uptime": uptime})
    return r


def test_a_young_dockerd_still_starting_is_not_wedged_until_the_grace_ends() -> None:
    m = Monitor("managed", startup_grace=120)
    start = ['level=info msg="Starting up"']
    assert feed(m, [_young(5, log=start), _young(6), _young(7), _young(8)]) == ["starting"] * 4
    assert feed(m, [_young(121), _young(122), _young(123)])[-1] == "dockerd-wedged"


def test_a_young_dockerd_that_finished_its_start_or_is_stopped_is_wedged() -> None:
    m = Monitor("managed")
    ready = rnd(log=['level=info msg="Starting up"', 'level=info msg="API listen on /s"'])
    assert feed(m, [ready, _young(3), _young(4), _young(5)])[-1] == "dockerd-wedged"
    assert feed(Monitor("managed"), [_young(3, "T")] * 3)[-1] == "dockerd-wedged"


def test_a_crash_looping_young_dockerd_is_not_forever_starting() -> None:
    m = Monitor("managed")
    rounds = []
    for i in range(4):
        r = _young(2, log=['level=info msg="Starting up"'])
        r.obs["dockerd-proc"].data["restarts"] = i  # a new pid every round
        rounds.append(r)
    v = [m.feed(r) for r in rounds][-1]
    assert v.diagnosis == "crash-loop" and v.runbook == "escalate"


def test_containerd_silent_while_dockerd_answers_is_still_a_containerd_diagnosis() -> None:
    assert feed(Monitor("managed"), [rnd(api={"containerd": "timeout"})] * 3)[-1] == "containerd-wedged"
    m = Monitor("external")
    v = [m.feed(rnd(api={"containerd": "refused"})) for _ in range(3)][-1]
    assert v.diagnosis == "containerd-down" and v.runbook == "escalate"


def test_a_missing_managed_containerd_socket_with_a_healthy_api_is_no_wedge() -> None:
    """Issue 14.10: the API answers every call, so dockerd's containerd serves it; the socket the facts expect is
    not there (a layout read wrong). Never containerd-wedged, never a runbook that stops a working dockerd."""
    for layout in ("managed", "libcontainerd"):
        m = Monitor(layout)
        vs = [m.feed(rnd(api={"containerd": "missing"})) for _ in range(5)]
        assert {v.diagnosis for v in vs} == {"degraded"}, layout
        assert all(v.runbook is None for v in vs)
        assert any("not containerd-wedged" in line for line in vs[-1].trace)

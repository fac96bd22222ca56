"""One probe round's diagnosis as an ordered list of named rules: the first rule that decides, decides.

Role: pure. `classify` reads one round (plus what the daemon log says since the incident began) once into a
`Seen`, then asks each rule of `RULES` in turn; a rule returns a RoundView (the diagnosis, `because` and
`against`, which become the trace) or None to pass — a rule that passes may say why not (`Seen.against`). The
order is README "Diagnosis" ("A round is classified, in this order"): no-access, disk-full, kernel-hang,
dockerd down, /_ping silent (the log's cause, a crash loop, a young start, a wedge), /version or /info silent,
/containers/json silent, the containerd socket, containers kept by shims that dockerd does not list, slow
answers, healthy.
Must not: do I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from remediator.detect import logdiag
from remediator.detect.probes import ACCESS, MISSING_BINARY, OPERATOR_CAUSES, WRONG_SOCKET, Round
from remediator.vocab import Diagnosis
from remediator.vocab import PingOutcome as O

MANAGED = ("managed", "libcontainerd")
HOW = {ACCESS: "run as root, or as a member of the group that owns the Docker socket (usually docker)",
       MISSING_BINARY: "install the program, or point the config at it",
       WRONG_SOCKET: "set the host's docker_host to the socket the running dockerd listens on"}


@dataclass
class RoundView:
    diagnosis: Diagnosis
    because: list[str]
    against: list[str]
    settled: bool = False  # nothing here can flap: act on this one round (no debounce)
    rule: str = ""  # the rule of RULES that decided


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


@dataclass
class Seen:
    """One round read once: the probes, the log's verdict, and what the rules that passed ruled out."""

    r: Round
    log: logdiag.LogVerdict
    layout: str
    grace: float
    against: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        r, dockerd = self.r, self.r["dockerd-proc"]
        self.dockerd, self.ping, self.ctrd = dockerd, r["_ping"], r["containerd"]
        self.api = (self.ping, r["version"], r["info"], r["containers"])
        self.log_cause = self.log.verdict if self.log.decisive and self.log.confidence != "low" else None
        self.api_line = ", ".join(f"{o.name} {o.outcome} {ms(o.latency)}" for o in self.api)
        self.ctrd_ok = self.ctrd.answered or self.ctrd.outcome == O.NA
        self.ctrd_line = (f"containerd socket: {self.ctrd.outcome} {ms(self.ctrd.latency)}"
                          + (f" ({self.ctrd.detail})" if self.ctrd.detail else ""))
        self.uptime = dockerd.data.get("uptime", self.grace)
        self.young = self.log.started_ok is not True and dockerd.data.get("state") != "T" and self.uptime < self.grace

    def because(self, *more: str) -> list[str]:
        """The round's reasons once dockerd is known to run: its process, then `more`."""
        return [f"dockerd {self.dockerd.detail}", *more]

    def view(self, diagnosis: Diagnosis, because: list[str], settled: bool = False) -> RoundView:
        return RoundView(diagnosis, because, self.against, settled)


Rule = Callable[[Seen], RoundView | None]


def no_access(s: Seen) -> RoundView | None:
    """Access is not health: a probe that failed because of the operator's own environment (Obs.cause, set by
    probes.blame) is no evidence, so the round is `no-access` — whatever a sick verdict the other failures
    would make — naming what was denied and what to do."""
    blocked = [o for o in s.r.obs.values() if o.cause in OPERATOR_CAUSES]
    if not blocked:
        return None
    because = [f"{o.name}: {o.cause}: {o.detail}" for o in blocked]
    because += [f"to do: {HOW[c]}" for c in dict.fromkeys(o.cause for o in blocked)]
    return RoundView(Diagnosis.NO_ACCESS, because, ["not any sick verdict: a probe this user may not run is no "
                                                    "evidence that the host is sick; nothing is planned"], settled=True)


def disk_full(s: Seen) -> RoundView | None:
    """Either root below probe.min_free_percent: disk-full (a restart makes it worse)."""
    disk = s.r["disk"]
    if disk.outcome == O.FULL:
        return RoundView(Diagnosis.DISK_FULL, [f"disk: {disk.detail}"], [])
    s.against.append(f"not disk-full: {disk.detail}")
    return None


def kernel_hang(s: Seen) -> RoundView | None:
    """A hung-task report, or D-state runtime threads, while the API fails and dockerd runs: kernel-hang."""
    kernel = s.r["kernel"]
    d_threads = s.dockerd.data.get("dstate", 0) + s.r["containerd-proc"].data.get("dstate", 0)
    if (kernel.outcome == O.HUNG_TASK or d_threads) and not all(o.answered for o in s.api) and s.dockerd.outcome != O.ABSENT:
        return s.view(Diagnosis.KERNEL_HANG, [f"kernel: {kernel.detail}" if kernel.outcome == O.HUNG_TASK else
                                              f"{d_threads} runtime thread(s) in D state while the API does not answer"])
    if kernel.outcome == O.HUNG_TASK:
        s.against.append(f"not kernel-hang: the kernel reported a hung task ({kernel.detail[:80]}) but the API answers")
    else:
        s.against.append("not kernel-hang: no hung-task message" + (", no D-state threads" if not d_threads else ""))
    return None


def dockerd_down(s: Seen) -> RoundView | None:
    """No dockerd process: the log's cause if it names one (settled when its last start failed), else dockerd-down."""
    if s.dockerd.outcome != O.ABSENT:
        return None
    because = [s.dockerd.detail or "no dockerd process of this host"]  # names any look-alike it ignored
    if not s.log_cause:
        return s.view(Diagnosis.DOCKERD_DOWN, because + ["the log names no cause"])
    because.append(f"log: {'; '.join(s.log.trace[-2:])}")
    if s.log.started_ok is False:  # down, and its last start failed for a named cause: that will not flap
        because.append("dockerd is down and its last start attempt failed for this cause: one round is enough")
        return s.view(s.log_cause, because, settled=True)
    return s.view(s.log_cause, because)


def starting_despite_log_cause(s: Seen) -> RoundView | None:
    """/_ping silent, the log names a cause, but dockerd is young and its start has not failed: starting."""
    if s.ping.answered or not s.log_cause or not s.young or s.log.failed_start:
        return None
    return s.view(Diagnosis.STARTING, s.because(
        f"API: {s.api_line}", f"dockerd is {s.uptime:.0f}s old and its start has not failed yet: the log's "
        f"{s.log_cause} is not acted on while it starts (a containerd that survived is 'still running' on every restart)"))


def log_cause_while_silent(s: Seen) -> RoundView | None:
    """/_ping silent and the log names a cause: that cause."""
    if s.ping.answered or not s.log_cause:
        return None
    return s.view(s.log_cause, s.because(f"API: {s.api_line}", f"log: {s.log.trace[-1]}"))


def restarted_while_watched(s: Seen) -> RoundView | None:
    """/_ping silent, dockerd restarted while watched, the log names no cause: crash-loop."""
    restarts = s.dockerd.data.get("restarts", 0)
    if s.ping.answered or not restarts:
        return None
    return s.view(Diagnosis.CRASH_LOOP, s.because(
        f"API: {s.api_line}", f"dockerd restarted {restarts} time(s) while watched and never answered, and the log "
        "names no cause: restarting it again will not help"))


def starting(s: Seen) -> RoundView | None:
    """/_ping silent, dockerd younger than probe.startup_grace, not stopped, no completed start logged: starting."""
    if s.ping.answered or not s.young:
        return None
    return s.view(Diagnosis.STARTING, s.because(
        f"API: {s.api_line}", f"dockerd is {s.uptime:.0f}s old and its log shows no completed start yet "
        f"(grace {s.grace:g}s: loading containers and containerd can take that long)"))


def ping_silent(s: Seen) -> RoundView | None:
    """/_ping silent and nothing above explains it: dockerd-wedged."""
    if s.ping.answered:
        return None
    s.against.append("not containerd-*: " + ("containerd answers" if s.ctrd_ok else "containerd does not answer "
                                             "either, but no containerd signature in the log"))
    return s.view(Diagnosis.DOCKERD_WEDGED, s.because(f"API: {s.api_line}", s.ctrd_line))


def containerd_trouble(s: Seen, because: list[str]) -> RoundView:
    """containerd-down for an external containerd that refuses or is missing, else containerd-wedged."""
    if s.layout not in MANAGED and s.ctrd.outcome in (O.REFUSED, O.MISSING):
        return s.view(Diagnosis.CONTAINERD_DOWN, because + ["nothing serves on the external containerd's socket"])
    return s.view(Diagnosis.CONTAINERD_WEDGED, because)


def containerd_calls_silent(s: Seen) -> RoundView | None:
    """/version or /info silent while /_ping answers: containerd's fault if its socket is silent too, else
    dockerd-wedged."""
    _, version, info, _ = s.api
    if version.answered and info.answered:
        return None
    if not s.ctrd_ok:
        s.against.append("not dockerd-wedged: /_ping answers; the calls that need containerd hang")
        return containerd_trouble(s, s.because(f"API: {s.api_line}", s.ctrd_line))
    s.against.append("not containerd-wedged: containerd answers")
    return s.view(Diagnosis.DOCKERD_WEDGED, s.because(f"API: {s.api_line}", s.ctrd_line))


def container_lock_held(s: Seen) -> RoundView | None:
    """/containers/json silent while the rest answers: a container lock is held, dockerd-wedged."""
    if s.api[3].answered:
        return None
    return s.view(Diagnosis.DOCKERD_WEDGED, s.because(
        f"API: {s.api_line} (a container lock is held, S18 in docs/signatures.md)", s.ctrd_line))


def containerd_socket_elsewhere(s: Seen) -> RoundView | None:
    """Every API call answers and dockerd's own containerd socket is missing: a layout the facts read wrong,
    degraded — never a wedge (a wedged containerd holds its socket and does not answer)."""
    if s.ctrd.outcome != O.MISSING or s.layout not in MANAGED:
        return None
    return s.view(Diagnosis.DEGRADED, s.because(
        f"API: {s.api_line}", s.ctrd_line, "the API answers every call, so dockerd's containerd serves it; the "
        "expected containerd socket is not there (a layout the facts may have read wrong): not containerd-wedged, "
        "nothing to restart"))


def containerd_silent(s: Seen) -> RoundView | None:
    """dockerd answers from its own state, but containerd's socket does not: no container can start or stop."""
    if s.ctrd_ok:
        return None
    return containerd_trouble(s, s.because(f"API: {s.api_line}", s.ctrd_line))


def _lost(s: Seen, key: str, why: str) -> RoundView | None:
    """containerd-state when the shims probe found containers under `key` (invisible, stale_runc); `why` takes the
    count and the first ids."""
    ids = s.r["shims"].data.get(key) or []
    if not ids:
        return None
    return s.view(Diagnosis.CONTAINERD_STATE, s.because(f"API: {s.api_line}", s.ctrd_line,
                                                        why.format(n=len(ids), ids=", ".join(ids[:5]))))


def invisible_containers(s: Seen) -> RoundView | None:
    """dockerd answers, yet settled shims of its generation keep container processes it does not list as running:
    containerd has lost their tasks (its meta.db emptied, deleted or reset), so dockerd cannot start them again
    ('task ... already exists') and they run unseen. containerd-state: a proof from the processes, not a symptom."""
    return _lost(s, "invisible", "{n} container(s) run under a shim of this dockerd that dockerd does not list as "
                 "running ({ids}): containerd lost their tasks, so they cannot be started again while it runs")


def stale_runtime_state(s: Seen) -> RoundView | None:
    """dockerd answers, yet containers it does not list as running, served by no shim, have runc state under the
    exec-root that runc cannot read: every start of them fails 'container with id exists' — containerd-state."""
    return _lost(s, "stale_runc", "{n} container(s) dockerd does not list as running, with no shim, have runc state "
                 "runc cannot read ({ids}): their start fails 'container with id exists' until that state is moved "
                 "aside")


def slow_answers(s: Seen) -> RoundView | None:
    """Every probe answers, some later than probe.slow: degraded, never hung."""
    slow = [o for o in (*s.api, s.ctrd) if o.outcome == O.SLOW]
    if not slow:
        return None
    return s.view(Diagnosis.DEGRADED, s.because(f"API: {s.api_line}", f"slow: {', '.join(o.name for o in slow)}"))


def healthy(s: Seen) -> RoundView:
    """Every probe answers in time: healthy."""
    return s.view(Diagnosis.HEALTHY, s.because(f"API: {s.api_line}", s.ctrd_line))


RULES: tuple[Rule, ...] = (  # in this order; healthy decides when none of them does
    no_access, disk_full, kernel_hang, dockerd_down, starting_despite_log_cause, log_cause_while_silent,
    restarted_while_watched, starting, ping_silent, containerd_calls_silent, container_lock_held,
    containerd_socket_elsewhere, containerd_silent, invisible_containers, stale_runtime_state,
    slow_answers,
)
NAMES = tuple(r.__name__ for r in RULES) + (healthy.__name__,)


def classify(r: Round, log: logdiag.LogVerdict, layout: str, startup_grace: float = 120.0) -> RoundView:
    """The diagnosis of one round: the first rule that decides, named; `because` and `against` become the trace."""
    seen = Seen(r, log, layout, startup_grace)
    for rule in RULES:
        if (view := rule(seen)) is not None:
            return replace(view, rule=rule.__name__)
    return replace(healthy(seen), rule=healthy.__name__)

"""`remediator demo --daemon [--yes]`: the sandbox dockerd under a real `remediator daemon`, broken, approved, healed.

Role: start a lab sandbox (remediator.lab) and a real `remediator daemon` process (policy `approve`) whose config,
state_dir, API socket and log live in the sandbox directory and whose /metrics listens on a free loopback port;
break the sandbox (the demo's faults), show each approval the daemon asks with the exact `remediator approve …`
line to type in another terminal — or, with --yes, approve it through the API as that command would — poll the
API until the host is healed and its containers run again (progress lines, one overall deadline), and tear
everything down even on Ctrl-C, SIGTERM or failure.
Must not: signal a process it did not start (the daemon by the process group it was started in, the sandbox by
Sandbox.cleanup, which only kills what names the sandbox directory); touch anything outside the sandbox
directory; import click or rich (the CLI prints what `say` is given).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from remediator.journal import Journal
from remediator.lab import Sandbox

Say = Callable[[str, str], None]  # (kind, text): kind is rule, info, fault, progress, ask, ok, fail, hint
HOST = "demo"
READY_DEADLINE = 60.0  # daemon start -> API up and the host seen healthy
HEAL_DEADLINE = 240.0  # fault -> healed, while nobody is being waited for
APPROVAL_TTL = 900.0  # how long an approval waits for a human (and the demo with it)
POLL = 0.25
EXIT_INTERRUPTED, EXIT_FAILED, EXIT_ENVIRONMENT = 7, 1, 2
OUTCOME_EXIT = {"recovered": 0, "healthy": 0, "failed": 1, "rolled_back": 3, "refused": 4, "escalated": 6}
SHOWN_STEPS = ("ok", "fail", "refused", "rollback", "undone", "rung", "escalate", "resume", "warn")


class DemoFailed(Exception):
    """The demo could not show a heal: the message says what was awaited and what was seen instead."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Stopped(BaseException):
    """SIGTERM/SIGHUP to the demo: unwinds like Ctrl-C so the teardown runs."""


def missing_tools() -> str | None:
    """Why this machine cannot run the sandbox (None when it can)."""
    if os.geteuid() != 0:
        return "the demo runs a real dockerd: run it as root"
    for tool in ("dockerd", "containerd", "runc", "busybox"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install docker.io busybox-static)"
    return None


def remediator_command() -> list[str]:
    """How this very remediator was started, so a printed command line works as printed."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and not argv0.endswith(".py") and os.path.basename(argv0).startswith("remediator"):
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found and os.access(found, os.X_OK):
            return [os.path.abspath(found)]
    return [sys.executable, "-m", "remediator"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """A small client of the daemon's unix-socket API; every call under the caller's deadline."""

    def __init__(self, path: str) -> None:
        self.path = path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        """The decoded JSON answer; DemoFailed on a 4xx/5xx; OSError/ValueError when nobody answers."""
        conn = http.client.HTTPConnection("localhost", timeout=timeout)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.path)
            conn.sock = s
            conn.request(method, path, body=json.dumps(body or {}) if method == "POST" else None,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read(8 << 20) or b"{}")
        finally:
            conn.close()
            s.close()
        if resp.status >= 400:
            raise DemoFailed(f"the daemon's API answered {method} {path} with {resp.status}: {data.get('error')}")
        return data


class DaemonDemo:
    def __init__(self, say: Say, *, containers: int, fault: str, yes: bool, keep: bool) -> None:
        self.say, self.containers, self.fault, self.yes, self.keep = say, containers, fault, yes, keep
        self.sandbox: Sandbox | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_offset = 0
        self.seen_outcome: dict[str, Any] | None = None
        self.asked: set[str] = set()
        self.exe = remediator_command()

    # ---- paths ------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        assert self.sandbox is not None
        return self.sandbox.root

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def api(self) -> Api:
        return Api(str(self.root / "api.sock"))

    def command(self, *args: str) -> str:
        return shlex.join([*self.exe, *args])

    # ---- the run ----------------------------------------------------------------------------
    def run(self) -> int:
        why = missing_tools()
        if why:
            self.say("fail", why)
            return EXIT_ENVIRONMENT
        t0 = time.monotonic()
        with _signals_unwind():
            try:
                self._sandbox()
                self._daemon()
                self._break()
                t_fault = time.monotonic()
                self._until_healed()
                self._show_result(time.monotonic() - t_fault, time.monotonic() - t0)
                return 0
            except DemoFailed as exc:
                self.say("fail", f"demo failed: {exc}")
                self._log_tail()
                return exc.code
            except (KeyboardInterrupt, Stopped):
                self.say("fail", "interrupted: tearing down")
                return EXIT_INTERRUPTED
            finally:
                with _signals_ignored():
                    self._teardown()

    def _sandbox(self) -> None:
        self.say("rule", "sandbox")
        self.sandbox = Sandbox(name=HOST)
        self.sandbox.start()
        self.sandbox.populate(self.containers)
        self.say("info", f"dockerd up in {self.root} with {len(self.sandbox.running())} running containers")

    def _daemon(self) -> None:
        assert self.sandbox is not None
        self.say("rule", "remediator daemon (policy approve)")
        self.port = free_port()
        self.config.write_text(
            f"state_dir: {self.root / 'state'}\nevidence_budget: 10\nprobe: {{timeout: 1.0, interval: 0.2}}\n"
            f"daemon: {{interval: 1, api_socket: {self.root / 'api.sock'}, metrics_listen: '127.0.0.1:{self.port}', "
            f"approval_ttl: {APPROVAL_TTL:g}, limits: {{cooldown: 0}}}}\n"
            f"hosts:\n{self.sandbox.host_yaml(policy='approve')}")
        with open(self.root / "daemon.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "remediator", "daemon", "--config", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # its own group: the demo's Ctrl-C is the demo's
        self.say("info", f"{self.command('daemon', '--config', str(self.config))}  (pid {self.proc.pid})")
        self._wait(lambda: self._status()["state"] == "healthy", READY_DEADLINE, "the daemon to see the host healthy")
        self.say("info", "while it runs, from another terminal:")
        for line in self.curl_lines():
            self.say("hint", line)

    def curl_lines(self) -> list[str]:
        sock = shlex.quote(str(self.root / "api.sock"))
        return [f"curl -s http://127.0.0.1:{self.port}/healthz",
                f"curl -s http://127.0.0.1:{self.port}/metrics | grep ^remediator_",
                f"curl -s --unix-socket {sock} http://localhost/v1/status",
                self.command("status", "--config", str(self.config))]

    def _break(self) -> None:
        """The fault goes in while the daemon holds off the host (paused through the API), so the daemon never
        races the lab's own failed start; resumed at once after."""
        assert self.sandbox is not None
        self.say("rule", "fault")
        self.api.call("POST", f"/v1/hosts/{HOST}/pause", {"reason": "the demo is breaking it"})
        if self.fault == "metadb":
            self.sandbox.corrupt_metadb()
            self.say("fault", "dockerd crashed and containerd's meta.db is garbage; dockerd refuses to start")
        else:
            self.sandbox.wedge()
            self.say("fault", "dockerd is SIGSTOPped: the API accepts connections and never answers")
        self.api.call("POST", f"/v1/hosts/{HOST}/resume")
        self.say("info", "the daemon takes it from here")

    def _until_healed(self) -> None:
        assert self.sandbox is not None
        deadline = time.monotonic() + HEAL_DEADLINE
        last_state, last_note = "", time.monotonic()
        while True:
            self._relay_log()
            self._check_alive()
            st = self._status()
            state = f"{st['state']} ({st['verdict'] or '?'})"
            if state != last_state:
                self.say("progress", f"status: {state}" + (f" — {st['reason']}" if st["reason"] else ""))
                last_state = state
            for a in self.api.call("GET", "/v1/approvals")["approvals"]:
                if a["id"] not in self.asked:
                    self.asked.add(a["id"])
                    deadline = max(deadline, time.monotonic() + (HEAL_DEADLINE if self.yes else APPROVAL_TTL))
                    self._ask(a)
            if self.seen_outcome is not None:
                outcome = str(self.seen_outcome.get("outcome"))
                if outcome != "recovered":
                    raise DemoFailed(f"the incident ended {outcome}: {self.seen_outcome.get('summary')}",
                                     OUTCOME_EXIT.get(outcome, EXIT_FAILED))
                if st["state"] == "healthy" and not st["open_incident"] and self._containers_back():
                    return
            now = time.monotonic()
            if now > deadline:
                raise DemoFailed(f"not healed within the deadline; status {state}"
                                 + (f" — {st['reason']}" if st["reason"] else ""))
            if not self.yes and st["pending_approvals"] and now - last_note > 30:
                last_note = now
                self.say("progress", f"still waiting for your approval ({', '.join(st['pending_approvals'])})")
            time.sleep(POLL)  # polling the daemon's API: the next look is the condition

    def _ask(self, a: dict[str, Any]) -> None:
        self.say("ask", f"the daemon asks to run risky step {a['step']!r} of incident {a['incident']}: {a['summary']}")
        for c in list(a.get("changes") or [])[:6]:
            self.say("hint", f"  · {c}")
        line = self.command("approve", str(a["id"]), "--config", str(self.config))
        if not self.yes:
            self.say("ask", "approve it from another terminal (or deny it: the same line with `deny`):")
            self.say("hint", line)
            return
        self.say("hint", f"--yes: approving as `{line}` would")
        data = self.api.call("POST", f"/v1/approvals/{a['id']}/approve", {"by": "remediator demo --yes"})
        got = data.get("approval") or {}
        self.say("progress", f"approval {got.get('id')}: {got.get('decision')} by {got.get('by')}")

    def _containers_back(self) -> bool:
        assert self.sandbox is not None
        try:
            return self.sandbox.host.ping().ok and len(self.sandbox.running()) == self.containers
        except Exception:  # noqa: BLE001 - a dockerd still starting: not back yet, looked at again next poll
            return False

    def _show_result(self, heal_s: float, total_s: float) -> None:
        assert self.sandbox is not None and self.seen_outcome is not None
        self.say("rule", "result")
        iid = str(self.seen_outcome.get("incident"))
        self.say("ok", f"healed {heal_s:.1f} s after the fault ({total_s:.1f} s in all): "
                       f"{len(self.sandbox.running())} of {self.containers} containers running")
        with Journal(self.root / "state") as journal:
            row = journal.incident(iid)
            if row is not None:
                self.say("info", f"journal: incident {row.id} host {row.host} runbook {row.runbook} "
                                 f"outcome {row.outcome} — {row.summary}")
                for _ts, kind, step, d in journal.events(row.id):
                    if kind == "approval":
                        self.say("hint", f"  {step}: {'approved' if d.get('approved') else 'DENIED'}: {d.get('by')}")
                    elif kind == "result" and not d.get("rollback"):
                        self.say("hint", f"  {step}: {'ok' if d.get('ok') else 'FAILED'} {d.get('summary') or d.get('error') or ''}")
        self.say("info", "the daemon's answers (the curl lines above, while it still runs):")
        self.say("hint", f"/healthz  {self._http('/healthz').strip()}")
        metrics = [ln for ln in self._http("/metrics").splitlines()
                   if ln.startswith(("remediator_incidents_total", "remediator_approvals_pending"))]
        for ln in metrics:
            self.say("hint", f"/metrics  {ln}")

    def _http(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:  # noqa: S310 - loopback
            return str(resp.read(1 << 20).decode(errors="replace"))

    # ---- polling ------------------------------------------------------------------------------
    def _status(self) -> dict[str, Any]:
        for h in self.api.call("GET", "/v1/status")["hosts"]:
            if h["name"] == HOST:
                return dict(h)
        raise DemoFailed(f"the daemon's status has no host {HOST!r}")

    def _wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                if cond():
                    return
            except (OSError, ValueError):
                pass  # the API is not up yet
            if time.monotonic() > end:
                raise DemoFailed(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(POLL)

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise DemoFailed(f"the daemon exited with code {self.proc.returncode}")

    def _relay_log(self) -> None:
        """The daemon's JSON log lines that tell the story (verdict, acting, approvals, steps, outcome)."""
        path = self.root / "daemon.log"
        try:
            with open(path, "rb") as fh:
                fh.seek(self.log_offset)
                chunk = fh.read(1 << 20)
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1
        self.log_offset += end
        for raw in chunk[:end].splitlines():
            try:
                ev = json.loads(raw)
            except ValueError:
                self.say("progress", f"daemon: {raw.decode(errors='replace')[:200]}")
                continue
            if not isinstance(ev, dict):
                continue
            text = describe(ev)
            if text:
                self.say("progress", f"daemon: {text}")
            if ev.get("event") == "outcome" and ev.get("host") == HOST:
                self.seen_outcome = ev

    def _log_tail(self) -> None:
        if self.sandbox is None:
            return
        with contextlib.suppress(OSError):
            tail = (self.root / "daemon.log").read_bytes()[-3000:].decode(errors="replace")
            self.say("hint", "daemon log (tail):\n" + tail)

    # ---- teardown ------------------------------------------------------------------------------
    def _teardown(self) -> None:
        self.say("rule", "teardown")
        if self.proc is not None:
            code = stop_group(self.proc, 30)
            self.say("info", f"daemon stopped (exit {code})")
        if self.sandbox is None:
            return
        if self.keep:
            self.sandbox.kill_processes()
            self.sandbox.unmount()
            removed = remove_sockets(self.root)
            self.say("info", f"kept {self.root} (daemons stopped, mounts and {removed} socket(s) removed)")
        else:
            self.sandbox.cleanup()
            self.say("info", "sandbox removed: daemon, dockerd, shims, mounts, sockets, state")


def describe(ev: dict[str, Any]) -> str:
    """One daemon log event as a progress line ('' for the ones not worth a line)."""
    kind = ev.get("event")
    if kind == "step":
        if ev.get("kind") not in SHOWN_STEPS:
            return ""
        return f"{ev.get('step') or '':<9} {ev.get('kind')}: {str(ev.get('text'))[:160]}"
    if kind == "verdict":
        return f"verdict {ev.get('verdict')} ({ev.get('confidence')}) → runbook {ev.get('runbook')}"
    if kind == "acting":
        return f"acting: runbook {ev.get('runbook')} under policy {ev.get('policy')}"
    if kind == "approval-needed":
        return f"approval {ev.get('approval')} needed for step {ev.get('step')}"
    if kind == "approval-decided":
        return f"approval {ev.get('approval')} {ev.get('decision')} by {ev.get('by')}"
    if kind == "outcome":
        return f"outcome {ev.get('outcome')}: {ev.get('summary')}"
    if kind in ("refused", "host-error", "worker-crashed", "round-failed", "interrupted"):
        return f"{kind}: {ev.get('reason') or ev.get('error') or ev.get('detail')}"
    return ""


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> int | None:
    """SIGTERM the process group the demo started the daemon in (start_new_session: its pid is the group id),
    wait `grace` seconds, then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def remove_sockets(root: Path) -> int:
    """Unlink every unix socket file below root (never following a symlink); the count removed."""
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    os.unlink(p)
                    n += 1
    return n


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Stopped in the main thread (as SIGINT raises KeyboardInterrupt)."""
    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise Stopped()

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """The teardown is not cut by a second Ctrl-C (or SIGTERM): it is what makes the first one safe."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_demo(say: Say, *, containers: int, fault: str, yes: bool, keep: bool) -> int:
    """The whole `demo --daemon`; the exit code (0 healed, 7 interrupted, 2 cannot run here, else the outcome's)."""
    return DaemonDemo(say, containers=containers, fault=fault, yes=yes, keep=keep).run()

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
import json
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remediator.clock import poll_until
from remediator.journal import Journal
from remediator.lab.client import (
    EXIT_FAILED,
    Api,
    ApiUnreachable,
    DemoFailed,
    Stopped,
    describe,
    free_port,
    missing_tools,
    remediator_command,
    remove_sockets,
    signals_ignored,
    signals_unwind,
    stop_group,
)
from remediator.lab.sandbox import Sandbox
from remediator.structs import EXIT_CODES, EXIT_INTERRUPTED, Outcome
from remediator.vocab import HostState

Say = Callable[[str, str], None]  # (kind, text): kind is rule, info, fault, progress, ask, ok, fail, hint
HOST = "demo"
READY_DEADLINE = 60.0  # daemon start -> API up and the host seen healthy
HEAL_DEADLINE = 240.0  # fault -> healed, while nobody is being waited for
APPROVAL_TTL = 900.0  # how long an approval waits for a human (and the demo with it)
POLL = 0.25
EXIT_ENVIRONMENT = 2  # not root, or dockerd, containerd, runc or busybox missing


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
        with signals_unwind():
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
            except Exception as exc:  # noqa: BLE001 - the sandbox or docker failed: said in one line, then torn down
                self.say("fail", f"demo failed: {type(exc).__name__}: {exc}")
                self._log_tail()
                return EXIT_FAILED
            finally:
                with signals_ignored():
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
        self._wait(lambda: self._status()["state"] == HostState.HEALTHY, READY_DEADLINE, "the daemon to see the host healthy")
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
                                     outcome_exit(outcome))
                if st["state"] == HostState.HEALTHY and not st["open_incident"] and self._containers_back():
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
        data = self.api.call("POST", f"/v1/approvals/{a['id']}/approve", {"note": "remediator demo --yes"})
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
        def met() -> bool | None:
            self._check_alive()
            try:
                return cond() or None
            except ApiUnreachable:
                return None  # the API is not up yet

        if poll_until(met, timeout=timeout, every=POLL) is None:
            raise DemoFailed(f"timed out after {timeout:g} s waiting for {what}")

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


def outcome_exit(outcome: str) -> int:
    """The exit code `run` gives an incident that ended this way (1 for a name the journal does not know)."""
    try:
        return EXIT_CODES[Outcome(outcome)]
    except ValueError:
        return EXIT_FAILED


def run_demo(say: Say, *, containers: int, fault: str, yes: bool, keep: bool) -> int:
    """The whole `demo --daemon`; the exit code (0 healed, 7 interrupted, 2 cannot run here, else the outcome's)."""
    return DaemonDemo(say, containers=containers, fault=fault, yes=yes, keep=keep).run()

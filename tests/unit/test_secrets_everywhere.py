"""Planted secrets reach no output channel (issue 14, point 7).

A config whose drain hook carries a token in its argv and prints a password to stderr, whose daemon.json and
dockerd argv carry credentials, whose webhooks carry tokens in their URLs, and a dockerd log with a credential
in every form the redactor knows. Then every channel is read back and searched for the planted strings: the
stdout/stderr of `run --dry-run`, `run --yes` (the hook runs for real and fails, the ladder climbs, an evidence
bundle is taken), `incidents` (table and --json), `diagnose --log` (table and --json); the journal's and the
store's raw SQLite files; every evidence file and the evidence tarball; the daemon's JSON log over a round
(a real diagnosis and incident of the same host under policy auto), and the bodies a loopback webhook receiver
got. The host has no dockerd (a process-service host whose pidfile is absent): nothing on the machine is touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from remediator import exitcodes
from remediator.daemon.core import Daemon
from remediator.settings import load_settings

HOOK = "HookS3cret1x"  # in the drain hook's argv and in its stderr
DJ = "DjS3cretMirr0r"  # in daemon.json and in the dockerd argv
URLTOK = "WebT0kenPath9q"  # in webhook URLs: a path token, a query token, a userinfo password
LOG = "LogS3cret7z"  # in the dockerd log, in every form
GHP = "ghp_" + "Zq9Xw8" * 6
PLANTED = (HOOK, DJ, URLTOK, LOG, GHP)
LOG_LINES = [
    f'time="2026-11-27T10:39:16Z" level=error msg="{{\\"password\\":\\"{LOG}\\"}}"',
    f'time="2026-11-27T10:39:17Z" level=info msg="pull from redis://:p@{LOG}@cache:6379/0 failed"',
    f'time="2026-11-27T10:39:18Z" level=debug msg="request" Cookie="sid={LOG}; theme=dark"',
    f'time="2026-11-27T10:39:19Z" level=debug msg="push with {GHP}"',
    f"time=\"2026-11-27T10:39:20Z\" level=info msg=\"hook ran: docker login -u bob -p {LOG} registry.example\"",
    f'time="2026-11-27T10:39:21Z" level=info msg="login with password {LOG}1 token {LOG}2"',
    "-----BEGIN RSA PRIVATE KEY-----", f"MIIEowIBAAKCAQEA{LOG}", "-----END RSA PRIVATE KEY-----",
    f'time="2026-11-27T10:39:22Z" level=info msg="https://user:p@ss{LOG}@registry.example/v2/"',
    'time="2026-11-27T10:39:23Z" level=fatal msg="Error starting daemon: error while opening volume store metadata '
    'database: timeout"',
]


def _find(text: str | bytes) -> list[str]:
    data = text.decode(errors="replace") if isinstance(text, bytes) else text
    return [s for s in PLANTED if s in data]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    got: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            return

    srv = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    for d in ("d", "e"):
        (tmp_path / d).mkdir()
    (tmp_path / "daemon.json").write_text(json.dumps({
        "registry-mirrors": [f"https://mirror:{DJ}@mirror.example"],
        "proxies": {"http-proxy": f"http://proxy:{DJ}@proxy:3128"}}))
    (tmp_path / "dockerd.log").write_text("\n".join(LOG_LINES) + "\n")
    hook = ["/bin/sh", "-c", f'echo "auth failed for https://bob:{HOOK}@db password={HOOK}" >&2; exit 3',
            "--token", HOOK]
    argv = ["/bin/false", "--data-root", f"{tmp_path}/d", "--exec-root", f"{tmp_path}/e", "--pidfile",
            f"{tmp_path}/e/docker.pid", "-H", f"unix://{tmp_path}/docker.sock", "--password", DJ]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({  # YAML is a superset of JSON
        "state_dir": str(tmp_path / "state"), "probe": {"interval": 0.1},
        "daemon": {"api_socket": str(tmp_path / "api.sock"), "webhooks": [
            {"url": f"http://127.0.0.1:{port}/hooks/{URLTOK}0123?token={URLTOK}"},
            {"url": f"http://127.0.0.1:{port}/slack?key={URLTOK}", "format": "slack"},
            {"url": f"http://bob:{URLTOK}@127.0.0.1:1/x", "timeout": 1},  # cannot be sent: its error is logged
            {"url": f"http://127.0.0.1:1/hooks/{URLTOK}4567?sig={URLTOK}", "timeout": 1}]},
        "hosts": [{"name": "h", "docker_host": f"unix://{tmp_path}/docker.sock", "daemon_json": str(tmp_path / "daemon.json"),
                   "data_root": str(tmp_path / "d"), "exec_root": str(tmp_path / "e"), "policy": "auto",
                   "drain": hook, "service": {"kind": "process", "argv": argv, "pidfile": f"{tmp_path}/e/docker.pid",
                                              "log": str(tmp_path / "dockerd.log")}}]}))
    rb = tmp_path / "drain.yaml"
    rb.write_text("schema: 1\nname: drain\nsteps:\n  - {id: drain, action: hooks.drain, risk: risky, "
                  "rollback: [{action: hooks.undrain}]}\n")
    try:
        yield {"cfg": cfg, "runbook": rb, "tmp": tmp_path, "got": got, "secrets_in_config": _find(cfg.read_text())}
    finally:
        srv.shutdown()
        srv.server_close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "remediator", *args], capture_output=True, text=True, timeout=300,
                          check=False)


def test_planted_secrets_reach_no_channel(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, tmp = str(world["cfg"]), world["tmp"]
    assert world["secrets_in_config"] == [HOOK, DJ, URLTOK], "the secrets are really planted"
    leaks: dict[str, list[str]] = {}
    seen: dict[str, str] = {}

    def check(channel: str, text: str | bytes) -> None:
        seen[channel] = text.decode(errors="replace") if isinstance(text, bytes) else text
        if found := _find(text):
            leaks[channel] = found

    capsys.readouterr()  # the daemon first: the CLI's incidents below would count against its limits
    settings = load_settings(world["cfg"])
    d = Daemon(world["cfg"], settings)  # the default log: JSON lines on stdout
    try:
        d.workers.handle(settings.hosts[0])  # one round's work for a sick host: diagnosis, gate, incident, webhooks
        d.notifier.send("outcome", host="h", incident="x", outcome="failed",
                        summary=f"drain: /bin/sh exited 3: auth failed for https://bob:{HOOK}@db password={HOOK}")
        d.notifier.close()
    finally:
        d.pool.shutdown()
        d.journal.disconnect()
    daemon_log = capsys.readouterr().out
    check("daemon log", daemon_log)
    events = [json.loads(line)["event"] for line in daemon_log.splitlines()]
    assert "acting" in events and "outcome" in events and events.count("webhook-failed") >= 2, events
    assert "<redacted>" in daemon_log
    got = world["got"]
    assert {p.split("?")[0] for p, _ in got} == {f"/hooks/{URLTOK}0123", "/slack"}, "the receiver got the payloads"
    for path, body in got:
        check(f"webhook {path[:6]}", body)
    assert any(b"<redacted>" in body for _, body in got)

    plan = cli("run", "--config", cfg, "--host", "h", "--runbook", str(world["runbook"]), "--dry-run")
    check("run --dry-run", plan.stdout + plan.stderr)
    assert plan.returncode == 0 and "--token <redacted>" in plan.stdout.replace("\n", " "), plan.stdout + plan.stderr
    ran = cli("run", "--config", cfg, "--host", "h", "--runbook", str(world["runbook"]), "--yes")
    check("run --yes", ran.stdout + ran.stderr)
    assert "/bin/sh exited 3" in ran.stdout, "the hook really ran and failed"
    for args in (["incidents"], ["incidents", "--json"]):
        res = cli(*args, "--config", cfg)
        check(" ".join(args), res.stdout + res.stderr)
    ids = [r["id"] for r in json.loads(cli("incidents", "--config", cfg, "--json").stdout)]
    assert len(ids) == 3, "the daemon's, the dry run's and the run's"
    for iid in ids:
        for extra in ([], ["--json"]):
            res = cli("incidents", iid, "--config", cfg, *extra)
            check(f"incidents {iid} {extra}", res.stdout + res.stderr)
    for extra in ([], ["--json"]):
        res = cli("diagnose", "--log", str(tmp / "dockerd.log"), *extra)
        check(f"diagnose {extra}", res.stdout + res.stderr)
        assert res.returncode == exitcodes.SICK, res.stdout + res.stderr  # the fatal line is diagnosed: the log was read

    for f in sorted((tmp / "state").rglob("*")):
        if f.is_file():
            if f.name.endswith(".tar.gz"):
                with tarfile.open(f) as tf:
                    for m in tf.getmembers():
                        fh = tf.extractfile(m)
                        if fh is not None:
                            check(f"{f.name}:{m.name}", fh.read())
            else:
                check(str(f.relative_to(tmp)), f.read_bytes())
    assert any("journal.sqlite3" in c for c in seen) and any("daemon.log" in c for c in seen), sorted(seen)
    evidence_log = next(t for c, t in seen.items() if c.endswith("daemon.log") and "tar" not in c)
    assert "Error starting daemon" in evidence_log and "<redacted>" in evidence_log, "the log was kept, redacted"
    assert not leaks, leaks

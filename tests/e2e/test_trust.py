"""End-to-end, real processes: a local user's process *named* dockerd is never the daemon (issue 14, point 1).

The real dockerd is down (the case the tool exists for). As `nobody`, a compiled program named `dockerd`, in a
directory nobody owns, runs with a command line naming the host's roots and a --config-file nobody wrote; the
host's (root-owned) pidfile even holds its pid, as after a pid reuse. `probe`, `run --dry-run`,
`evidence collect` and the daemon's rounds must never execute it (executed with --version it writes a marker
file), never signal it (it records every catchable signal it gets; it must still be alive, not stopped, not
traced) and never take facts from its config file (which names an external containerd and other roots).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from remediator.lab import Sandbox, wait_for
from tests.conftest import REPO, cli, require_docker, stop_group

NOBODY = 65534
FAKE_C = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void note(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0666);
    if (fd >= 0) { write(fd, text, strlen(text)); close(fd); }
}
static void got(int sig) { char b[16]; snprintf(b, sizeof b, "%d\n", sig); note(SIGNALS, b); }
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v")) {
            char b[64]; snprintf(b, sizeof b, "executed by uid %d\n", (int)getuid()); note(MARKER, b);
            puts("Docker version 99.1.0, build fake"); return 0;
        }
    for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, got);
    note(READY, "ready\n");
    for (;;) pause();
}
"""


@dataclass
class Impostor:
    dir: Path
    proc: subprocess.Popen[bytes]
    marker: Path
    signals: Path
    config_file: Path

    def assert_untouched(self, after: str) -> None:
        assert not self.marker.exists(), f"{after}: root executed the impostor: {self.marker.read_text()}"
        got = self.signals.read_text() if self.signals.exists() else ""
        assert got == "", f"{after}: the impostor was sent signal(s) {got.split()}"
        assert self.proc.poll() is None, f"{after}: the impostor is gone"
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert fields["State"].split()[0] == "S", f"{after}: impostor state {fields['State'].strip()}"
        assert fields["TracerPid"].strip() == "0", f"{after}: the impostor is being traced"


@pytest.fixture
def impostor() -> Iterator[tuple[Sandbox, Impostor, Path]]:
    if os.geteuid() != 0:
        pytest.skip("needs root (the point is what root does)")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the impostor")
    sb = Sandbox(name="t")  # configured, never started: the real dockerd is down
    user_dir = Path(tempfile.mkdtemp(prefix="rmd-nobody-", dir="/tmp"))
    state = Path(tempfile.mkdtemp(prefix="rmd-trust-", dir="/tmp"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        os.chown(user_dir, NOBODY, NOBODY)
        marker, signals, ready = user_dir / "executed", user_dir / "signals", user_dir / "ready"
        src = state / "fake.c"
        src.write_text(FAKE_C)
        exe = user_dir / "dockerd"
        subprocess.run([cc, "-O1", "-o", str(exe), str(src), f'-DMARKER="{marker}"', f'-DSIGNALS="{signals}"',
                        f'-DREADY="{ready}"'], check=True, capture_output=True)
        os.chown(exe, NOBODY, NOBODY)
        conf = user_dir / "daemon.json"  # written by nobody: roots elsewhere, an external containerd of theirs
        conf.write_text(json.dumps({"data-root": str(user_dir / "data"), "exec-root": str(user_dir / "exec"),
                                    "containerd": str(user_dir / "evil.sock")}))
        os.chown(conf, NOBODY, NOBODY)
        Path(sb.exec_).mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([str(exe), "--data-root", sb.data, "--exec-root", sb.exec_, "-H", f"unix://{sb.sock}",
                                 "--pidfile", sb.pidfile, "--config-file", str(conf)],
                                user=NOBODY, group=NOBODY, extra_groups=[], start_new_session=True, cwd=user_dir,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(ready.exists, 10, "the impostor's signal handlers")
        Path(sb.pidfile).write_text(f"{proc.pid}\n")  # a root-owned pidfile naming it: a reused pid
        cfg = state / "config.yaml"
        cfg.write_text(textwrap.dedent(f"""\
            state_dir: {state / 'state'}
            evidence_budget: 8
            probe: {{timeout: 0.5, interval: 0.1, debounce: 2}}
            daemon: {{interval: 0.2, api_socket: {state / 'api.sock'}}}
            hosts:
            """) + sb.host_yaml(policy="observe"))
        yield sb, Impostor(user_dir, proc, marker, signals, conf), cfg
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(user_dir, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
        sb.cleanup()


def test_a_users_process_named_dockerd_is_never_executed_signalled_or_believed(
        impostor: tuple[Sandbox, Impostor, Path]) -> None:
    sb, imp, cfg = impostor
    pid = imp.proc.pid
    imp.assert_untouched("set-up")

    res = cli("probe", "--config", str(cfg), "--json", "--rounds", "3")
    out = res.stdout + res.stderr
    imp.assert_untouched("probe")
    assert f"pid {pid}, uid {NOBODY}" in out and "not proven" in out, out[-3000:]
    verdicts = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert verdicts and all(v.get("verdict") != "dockerd-wedged" for v in verdicts), out[-3000:]

    res = cli("run", "--config", str(cfg), "--host", "t", "--dry-run")
    out = res.stdout + res.stderr
    imp.assert_untouched("run --dry-run")
    assert "dockerd-wedged" not in out and str(imp.config_file) not in out, out[-3000:]

    res = cli("evidence", "collect", "--config", str(cfg), "--host", "t")
    out = res.stdout + res.stderr
    imp.assert_untouched("evidence collect")
    bundles = list((cfg.parent / "state").rglob("evidence/system.txt"))
    assert bundles, out[-3000:]
    system = bundles[0].read_text()
    assert "roots from the configured dockerd argv" in system and "evil.sock" not in system, system
    proc_txt = (bundles[0].parent / "proc.txt").read_text()
    assert "0 dockerd" in proc_txt and f"pid {pid}, uid {NOBODY}" in proc_txt, proc_txt
    strace_txt = (bundles[0].parent / "strace.txt").read_text()
    assert "dockerd not running" in strace_txt, strace_txt

    log = cfg.parent / "daemon.log"
    with open(log, "ab") as fh:
        daemon = subprocess.Popen([sys.executable, "-m", "remediator", "daemon", "--config", str(cfg)], stdout=fh,
                                  stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    try:
        def verdicts_logged() -> list[str]:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            return [ln for ln in lines if '"verdict"' in ln]
        wait_for(lambda: len(verdicts_logged()) >= 2 or daemon.poll() is not None, 120, "two daemon verdicts")
        text = log.read_text(errors="replace")
        assert len(verdicts_logged()) >= 2, text[-3000:]
        imp.assert_untouched("daemon rounds")
        assert "dockerd-wedged" not in text, text[-3000:]
    finally:
        stop_group(daemon)
    imp.assert_untouched("the end")
    assert Path(sb.pidfile).read_text().strip() == str(pid), "the pidfile naming a live process was removed"


def test_a_pidfile_naming_another_live_process_survives_a_run() -> None:
    """Point 4: the configured pidfile is another service's (root-owned, naming a live `sleep`). The real
    dockerd is down; `run --yes` stops and starts it: the file is not dockerd's to delete, so it survives (and
    dockerd, seeing a live pid in it, refuses to start: the run fails, the other service keeps its pidfile)."""
    require_docker()
    sb = Sandbox(name="t")
    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        Path(sb.pidfile).write_text(f"{other.pid}\n")
        cfg = sb.root / "config.yaml"
        cfg.write_text(sb.config_yaml(str(sb.root / "state")))
        res = cli("run", "--config", str(cfg), "--host", "t", "--yes", timeout=400)
        out = res.stdout + res.stderr
        assert Path(sb.pidfile).read_text() == f"{other.pid}\n", out[-4000:]
        assert other.poll() is None, "the other service's process was touched"
        assert f"left {sb.pidfile} alone: pid {other.pid} is alive (sleep)" in out.replace("\n", " "), out[-4000:]
    finally:
        other.kill()
        other.wait(10)
        sb.cleanup()

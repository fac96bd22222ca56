"""The evidence capture with fake collectors: deadlines, failures, redaction, size cap, modes, hashes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
import threading
import time
from pathlib import Path

import pytest

from remediator.actions import StepContext
from remediator.actions import collectors as col
from remediator.actions.evidence import EvidenceParams, capture
from remediator.detect.facts import Facts
from remediator.hosts.fake import FakeHost, FakeService
from remediator.hosts.service import journal_argv, split_journal_cursor

RELEASE = threading.Event()


def _secret(ctx: StepContext, deadline: float) -> bytes:
    return b'password=hunter2 API_KEY: abc123 {"auth_token":"t0k"} ok=1\n' + b"x" * 900


def _broken(ctx: StepContext, deadline: float) -> bytes:
    raise RuntimeError("cannot read /proc/1/stack")


def _hang(ctx: StepContext, deadline: float) -> bytes:
    RELEASE.wait(30)
    return b"late"


def _big(ctx: StepContext, deadline: float) -> bytes:
    return b"y" * 4096


@pytest.fixture
def fake_collectors(monkeypatch: pytest.MonkeyPatch) -> None:
    RELEASE.clear()
    monkeypatch.setattr(col, "COLLECTORS", {c.name: c for c in (
        col.Collector("secret", "secret.txt", _secret, order=0), col.Collector("broken", "broken.txt", _broken, order=1),
        col.Collector("hang", "hang.txt", _hang, limit=0.5, order=2), col.Collector("big", "big.txt", _big, order=3),
        col.Collector("daemon-log", "daemon.log", _big, order=4))})
    import remediator.actions.evidence as ev
    monkeypatch.setattr(ev, "COLLECTORS", col.COLLECTORS)
    yield
    RELEASE.set()


def test_capture_cuts_redacts_caps_and_hashes(tmp_path: Path, fake_collectors: None) -> None:
    facts = Facts(host="h", docker_host="unix:///x", data_root="/d", exec_root="/e", version="x", layout="managed",
                  state_dirs=[], dockerd_pid=None)
    ctx = StepContext(host=FakeHost(), service=FakeService(), facts=facts, incident_id="i", incident_dir=tmp_path,
                      evidence_budget=2.0, evidence_max_mb=2000 / (1 << 20))
    t0 = time.monotonic()
    res = capture(ctx, EvidenceParams())
    assert time.monotonic() - t0 < 2.0, "the hanging collector must not hold the capture past its own deadline"
    ev = tmp_path / "evidence"
    man = json.loads((ev / "manifest.json").read_text())["collectors"]
    assert "cut at its deadline of 0.5s" in man["hang"]["error"] and not (ev / "hang.txt").exists()
    assert man["broken"]["error"] == "RuntimeError: cannot read /proc/1/stack"
    text = (ev / "secret.txt").read_text()
    assert "hunter2" not in text and "abc123" not in text and "t0k" not in text and "ok=1" in text
    assert "password=<redacted>" in text
    assert "truncated" in man["big"] and man["secret"]["size"] + man["big"]["size"] == 2000
    assert man["daemon-log"]["size"] == 0 and "truncated" in man["daemon-log"], "the cap is spent: nothing more"
    for e in man.values():
        if e["file"]:
            data = (ev / e["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == e["sha256"]
            assert stat.S_IMODE(os.stat(ev / e["file"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ev).st_mode) == 0o700
    with tarfile.open(res.data["tar"]) as tf:
        assert "evidence/manifest.json" in tf.getnames()
    assert res.changes and any("hang" in c for c in res.changes)


def test_journald_cursor_round_trip() -> None:
    assert journal_argv("journalctl", "docker.service", "--after-cursor", "s=1")[-2:] == ("--after-cursor", "s=1")
    assert split_journal_cursor("a\nb\n-- cursor: s=abc;i=2\n", None) == ("a\nb\n", "s=abc;i=2")
    assert split_journal_cursor("", "s=old") == ("", "s=old")  # no new entries: keep the old cursor

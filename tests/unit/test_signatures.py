"""The signature catalogue against real log lines and their near-misses, and offline log diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from remediator.detect import logdiag
from remediator.detect import signatures as sigs
from remediator.detect.signatures import DIAGNOSES, SIGNATURES, by_id, runbook_for, scan_message

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = YAML(typ="safe").load((DATA / "signature_lines.yaml").read_text())
RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


def ids(text: str) -> set[str]:
    return {s.id for ln in logdiag.parse(text) for s in scan_message(ln.text)}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['sig']}-{i}" for i, c in enumerate(CASES)])
def test_real_line_matches_and_near_miss_does_not(case: dict[str, str]) -> None:
    assert case["sig"] in ids(case["line"]), case["line"]
    assert case["sig"] not in ids(case["near"]), case["near"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['sig']}-{i}" for i, c in enumerate(CASES)])
def test_same_line_as_journalctl_json(case: dict[str, str]) -> None:
    record = json.dumps({"__REALTIME_TIMESTAMP": "1496403216171937", "_PID": "1234", "MESSAGE": case["line"]})
    assert case["sig"] in ids(record)
    as_bytes = json.dumps({"MESSAGE": list(case["line"].encode())})  # journald's form for non-UTF-8 text
    assert case["sig"] in ids(as_bytes)


@pytest.mark.parametrize("case", [c for c in CASES if by_id(c["sig"]).role == "cause"], ids=lambda c: c["sig"])
def test_a_cause_line_alone_decides_its_diagnosis(case: dict[str, str]) -> None:
    if by_id(case["sig"]).requires is not None:  # a cause only in its context: see the test below
        verdict = logdiag.diagnose_text(case["line"])
        assert verdict.verdict != by_id(case["sig"]).diagnosis, "without its context it must not decide"
        return
    verdict = logdiag.diagnose_text(case["line"])
    assert verdict.verdict == by_id(case["sig"]).diagnosis
    assert verdict.runbook == runbook_for(verdict.verdict, verdict.layout)  # a system containerd's line: layout external
    if verdict.layout is None:
        assert verdict.runbook == DIAGNOSES[verdict.verdict].runbook


def test_every_signature_has_a_real_line() -> None:
    covered = {c["sig"] for c in CASES}
    assert {s.id for s in SIGNATURES} - covered == {"fatal-other"}


def test_every_selected_runbook_ships() -> None:
    for d in DIAGNOSES.values():
        if d.runbook:
            assert (RUNBOOKS / f"{d.runbook}.yaml").is_file(), d.runbook


def test_seed_incident_log_the_respawn_loop() -> None:
    log = "\n".join([
        'time="2017-06-02T19:33:30+08:00" level=info msg="libcontainerd: new containerd process, pid: 1021"',
        'time="2017-06-02T19:33:30+08:00" level=debug msg="containerd: read past events" count=12',
        'time="2017-06-02T19:33:30+08:00" level=fatal msg=EOF',
        'time="2017-06-02T19:33:36+08:00" level=info msg="libcontainerd: new containerd process, pid: 1040"',
        'time="2017-06-02T19:33:36+08:00" level=debug msg="containerd: read past events" count=12',
        'time="2017-06-02T19:33:36+08:00" level=fatal msg=EOF',
    ])
    v = logdiag.diagnose_text(log)
    assert v.verdict == "containerd-state" and v.confidence == "high" and v.runbook == "docker-libcontainerd"
    assert [m.line_no for m in v.decisive] == [6]  # the last attempt decides
    assert logdiag.version_range_text(v.versions) == "1.12–17.10"
    assert v.as_json()["versions"] == "1.12–17.10"


def test_a_cause_outside_containerd_state_wins() -> None:
    log = "\n".join(['level=info msg="Starting up"', by_line("S10-ctrd-plugin-db"), by_line("disk-full")])
    assert logdiag.diagnose_text(log).verdict == "disk-full"
    log = "\n".join(['level=info msg="Starting up"', by_line("S10-ctrd-plugin-db"), by_line("S20-stale-pidfile")])
    assert logdiag.diagnose_text(log).verdict == "stale-pidfile"


def test_an_earlier_failed_start_then_a_good_one_is_healthy() -> None:
    log = "\n".join(['level=info msg="Starting up"', by_line("S09-dial-managed"), 'level=info msg="Starting up"',
                     'level=info msg="Loading containers: done."', 'level=info msg="Daemon has completed initialization"'])
    v = logdiag.diagnose_text(log)
    assert v.verdict == "healthy" and v.runbook is None
    assert any("S09-dial-managed (line 2)" in t for t in v.trace)


def test_healthy_real_startup_log() -> None:
    """Captured from dockerd 20.10.24 + containerd 1.6.20 on this kind of machine (tests/e2e re-checks it live)."""
    v = logdiag.diagnose_text((DATA / "dockerd-20.10-start.log").read_text())
    assert v.verdict == "healthy", v.trace
    assert logdiag.version_range_text(v.versions) == "18.09–27.x"


def test_unknown_names_the_closest_near_misses() -> None:
    log = "\n".join(['level=info msg="Starting up"', 'level=error msg="containerd: read events failed"',
                     'level=info msg="nothing to see"'])
    v = logdiag.diagnose_text(log)
    assert v.verdict == "unknown" and v.runbook == "escalate"
    assert v.near_misses and v.near_misses[0][0] == 2


def test_containerd_wedged_selects_a_restart_only_where_dockerd_owns_containerd() -> None:
    assert runbook_for("containerd-wedged", "managed") == "dockerd-restart"
    assert runbook_for("containerd-wedged", "external") == "escalate"
    assert runbook_for("healthy") is None


def by_line(sig: str) -> str:
    return next(c["line"] for c in CASES if c["sig"] == sig)


def test_a_hostile_giant_line_is_cut_and_still_classified() -> None:
    giant = "XFS " * 2_000_000 + "level=fatal msg=EOF"
    lines = logdiag.parse(giant + "\n" + by_line("disk-full"))
    assert len(lines[0].text) == logdiag.MAX_LINE
    assert logdiag.diagnose_lines(lines).verdict == "disk-full"


def _brute(message: str) -> list[str]:
    """The catalogue without the needle gate: every regex on every line."""
    from remediator.detect.signatures import CATCH_ALL, SPECIFIC

    hits = [s for s in SPECIFIC if s.matches(message)]
    if not any(s.role in ("cause", "panic") for s in hits):
        generic = next((s for s in CATCH_ALL if s.matches(message)), None)
        if generic is not None:
            hits.append(generic)
    return sorted(s.id for s in hits)


def test_the_needle_gate_never_hides_a_match() -> None:
    """The literal pre-pass may only skip lines no regex could match: compared with the brute-force scan
    over every catalogue line, near-miss and real-world corpus line."""
    texts = [c["line"] for c in CASES] + [c["near"] for c in CASES]
    texts += [ln for f in sorted((DATA / "corpus").glob("*.log")) for ln in f.read_text(errors="replace").splitlines()]
    lines = logdiag.parse("\n".join(texts))
    scanned = logdiag.scan_lines(lines)
    assert len(scanned) > 1000
    for sc in scanned:
        assert sorted(m.signature.id for m in sc.matches) == _brute(sc.line.text), sc.line.text
        assert list(sc.marks) == [n for n, p in sigs.MARKERS.items() if p.search(sc.line.text)], sc.line.text


def test_every_signature_cites_its_source_and_has_needles() -> None:
    for s in sigs.SIGNATURES:
        assert s.source and s.needles, s.id


# --- the review's adversarial cases: none of them may select the state-clearing runbook ---------------
ADVERSARIAL = {
    "a container's own Go panic in dockerd's journal": (
        'level=info msg="loading plugin \\"io.containerd.event.v1.publisher\\"..." runtime=io.containerd.runc.v2\n'
        'panic: assertion failed: expected 3 got 4\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d'),
    "BuildKit's own bbolt panic with containerd's metadata package vendored": (
        'panic: page 12 already freed\n\ngoroutine 7 [running]:\ngo.etcd.io/bbolt.(*freelist).free(0x1)\n'
        '\t/src/vendor/go.etcd.io/bbolt/freelist.go:175 +0x2c\n'
        'github.com/containerd/containerd/metadata.(*DB).GarbageCollect(0x2)\n'
        '\t/src/vendor/github.com/containerd/containerd/metadata/db.go:300 +0x1\n'
        'github.com/moby/buildkit/cache.(*cacheManager).prune(0x3)\n\t/src/cache/manager.go:900 +0x1'),
    "a self-healed containerd 0.2 state, then an unrelated start limit": (
        'level=warning msg="containerd: failed to load container,removing state directory" '
        'error="open /var/run/docker/libcontainerd/containerd/' + "a" * 64 + '/state.json: no such file or directory"\n'
        'level=info msg="Daemon has completed initialization"\n'
        'systemd[1]: docker.service: Start request repeated too quickly.'),
    "the k3s containerd's socket": 'failed to start daemon: failed to dial "/run/k3s/containerd/containerd.sock": '
                                   'unknown service containerd.services.namespaces.v1.Namespaces: not implemented',
    "a git fatal in a build container's output": 'fatal: not a git repository (or any of the parent directories): .git',
    "containerd 0.2 debug start, cut short": (
        'INFO[0000] libcontainerd: new containerd process, pid: 15360\n'
        'DEBU[0000] containerd: read past events                  count=0'),
}


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_no_adversarial_excerpt_selects_the_state_clear(text: str) -> None:
    v = logdiag.diagnose_text(text)
    assert v.runbook != "docker-libcontainerd", (v.verdict, v.trace)


def test_still_running_alone_is_never_acted_on_live() -> None:
    v = logdiag.diagnose_text('level=info msg="Starting up"\nlevel=info msg="libcontainerd: containerd is still running" pid=4')
    assert v.verdict == "containerd-pidfile" and v.confidence == "low" and not v.failed_start


def test_a_json_fatal_is_containerd_state_only_where_containerd_0_2_is_in_the_picture() -> None:
    line = "FATA[0000] json: cannot unmarshal number -1 into Go value of type uint32"
    assert logdiag.diagnose_text("% containerd\n" + line).verdict == "containerd-state"
    assert logdiag.diagnose_text("% dockerd --debug\n" + line).runbook != "docker-libcontainerd"

"""`remediator diagnose` and `probe` at the command line: the corpus, the forms, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from remediator import exitcodes
from remediator.detect.signatures import by_id
from tests.conftest import REPO, cli

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = YAML(typ="safe").load((DATA / "signature_lines.yaml").read_text())


def test_every_domain_line_is_classified_to_its_signature_with_its_line_number(tmp_path: Path) -> None:
    log = tmp_path / "corpus.log"
    log.write_text("\n".join(c["line"] for c in CASES) + "\n")
    res = cli("diagnose", "--log", str(log), "--json")
    assert res.returncode == exitcodes.SICK, res.stderr  # a corpus of failures is not healthy
    found = {(s["line"], s["id"]) for s in json.loads(res.stdout)["signatures"]}
    for n, c in enumerate(CASES, 1):
        assert (n, c["sig"]) in found, (n, c["sig"], c["line"])


def test_stdin_tty_form_and_the_answer_shape() -> None:
    text = "INFO[0000] libcontainerd: new containerd process, pid: 1021\nFATA[0000] EOF\n"
    res = subprocess.run([sys.executable, "-m", "remediator", "diagnose", "--log", "-", "--json"], input=text,
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    out = json.loads(res.stdout)
    assert res.returncode == exitcodes.SICK
    assert out["verdict"] == "containerd-state" and out["runbook"] == "docker-libcontainerd"
    assert out["signatures"][0]["id"] == "S02-fatal-eof" and out["signatures"][0]["line"] == 2
    assert out["versions"] == "1.12–17.10"


def test_journalctl_json_excerpt_in_the_table_view(tmp_path: Path) -> None:
    line = next(c["line"] for c in CASES if c["sig"] == "S09-dial-external")
    log = tmp_path / "j.json"
    log.write_text(json.dumps({"MESSAGE": 'level=info msg="Starting up"'}) + "\n" + json.dumps({"MESSAGE": line}) + "\n")
    res = cli("diagnose", "--log", str(log))
    assert res.returncode == exitcodes.SICK
    assert "containerd-down" in res.stdout and "S09-dial-external" in res.stdout and "escalate" in res.stdout
    assert by_id("S09-dial-external").diagnosis == "containerd-down"


def test_unknown_log_shows_near_misses(tmp_path: Path) -> None:
    log = tmp_path / "u.log"
    log.write_text('level=info msg="Starting up"\nlevel=error msg="containerd: read events failed"\n')
    res = cli("diagnose", "--log", str(log))
    assert res.returncode == exitcodes.SICK and "unknown" in res.stdout and "near miss" in res.stdout


def test_bad_input_is_exit_2_without_a_traceback(tmp_path: Path) -> None:
    res = cli("diagnose", "--log", str(tmp_path / "missing.log"))
    assert res.returncode == 2 and "missing.log: cannot read" in res.stderr and "Traceback" not in res.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("state_dir: /tmp/x\nprobe:\n  timeout: -1\nhosts:\n  - name: a\n")
    res = cli("probe", "--config", str(cfg))
    assert res.returncode == 2 and "c.yaml:3" in res.stderr and "probe.timeout" in res.stderr, res.stderr
    cfg.write_text("state_dir: /tmp/x\nhosts:\n  - name: a\n")
    res = cli("probe", "--config", str(cfg), "--host", "nope")
    assert res.returncode == 2 and "no host named 'nope'" in res.stderr and "Traceback" not in res.stderr


def test_signatures_lists_the_catalogue_with_runbooks() -> None:
    res = cli("signatures", "--json")
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    assert res.returncode == 0 and len(rows) >= 28
    assert rows["S02-fatal-eof"]["runbook"] == "docker-libcontainerd" and rows["S02-fatal-eof"]["versions"] == "1.11–17.10"
    assert rows["disk-full"]["runbook"] == "escalate" and rows["S12-shim-reload"]["role"] == "info"


def test_a_bad_runbook_is_rejected_before_anything_is_created(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nhosts:\n  - name: a\n")
    res = cli("run", "--config", str(cfg), "--host", "a", "--runbook", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "missing.yaml: cannot read" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "state").exists(), "no journal, lock or incident for input that was never valid"

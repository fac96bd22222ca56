"""The vocabularies in remediator/vocab.py are the words the rest of the code uses, not a second copy of them."""

from __future__ import annotations

from pathlib import Path

from remediator import vocab
from remediator.daemon import core, metrics
from remediator.detect import signatures


def test_every_diagnosis_of_the_catalogue_is_a_member_and_no_member_is_unused() -> None:
    assert set(signatures.DIAGNOSES) == {d.value for d in vocab.Diagnosis}


def test_the_daemon_counts_and_holds_host_states_from_the_one_vocabulary() -> None:
    assert tuple(metrics.STATES) == tuple(vocab.HostState)
    assert set(core.HELD) == set(vocab.HELD_STATES)
    assert vocab.HELD_STATES < set(vocab.HostState)


def test_a_member_is_its_word_so_stored_records_read_the_same() -> None:
    assert vocab.Diagnosis.CONTAINERD_STATE == "containerd-state"
    assert f"{vocab.HostState.AWAITING_APPROVAL}" == "awaiting-approval"
    assert vocab.StepStatus("refused") is vocab.StepStatus.REFUSED


def test_a_host_not_diagnosed_yet_is_counted_apart_from_the_sick_verdict_unknown(tmp_path: Path) -> None:
    """/metrics' remediator_hosts_by_verdict: an alert on verdict="unknown" must not fire for hosts only waiting for
    their first diagnosis (the store holds no verdict for them yet)."""
    from remediator.daemon.core import Daemon
    from remediator.settings import load_settings
    from remediator.vocab import HostState

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'api.sock'}}}\n"
                   "hosts:\n  - name: h1\n  - name: h2\n")
    d = Daemon(cfg, load_settings(cfg), log=lambda e, **f: None)
    d.store.set_status("h1", HostState.SUSPECT)  # seen failing, not diagnosed yet
    d.store.set_status("h2", HostState.SUSPECT, verdict="unknown")
    d.shared.update_gauges()
    text = d.metrics.render().decode()
    assert 'remediator_hosts_by_verdict{verdict="none"} 1.0' in text
    assert 'remediator_hosts_by_verdict{verdict="unknown"} 1.0' in text

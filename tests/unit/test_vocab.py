"""The vocabularies in remediator/vocab.py are the words the rest of the code uses, not a second copy of them."""

from __future__ import annotations

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

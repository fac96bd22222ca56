"""Every real-world excerpt is classified as labelled, and no fault outside containerd's state ever
selects the state-clearing runbook (the worst misfire an operator can have)."""

from __future__ import annotations

import pytest

from remediator.detect.signatures import DIAGNOSES
from tests import corpus

EXCERPTS = corpus.load()


def test_the_corpus_is_big_varied_and_cited() -> None:
    assert len(EXCERPTS) >= 60
    labels = {e.label for e in EXCERPTS}
    assert labels <= set(DIAGNOSES), labels - set(DIAGNOSES)
    assert sum(e.label in ("healthy", "no-fault") for e in EXCERPTS) >= 10
    assert sum(e.mentions and e.label != "containerd-state" for e in EXCERPTS) >= 5
    assert all(e.source.startswith(("https://", "http://")) for e in EXCERPTS)  # a thread, a forum or a blog post
    assert sum(e.source.startswith("https://github.com/") for e in EXCERPTS) >= len(EXCERPTS) - 10
    assert all(e.path.is_file() for e in EXCERPTS)


@pytest.mark.parametrize("ex", EXCERPTS, ids=lambda e: e.file.removesuffix(".log"))
def test_excerpt_is_classified_as_labelled(ex: corpus.Excerpt) -> None:
    got = corpus.classify(ex)
    assert got["verdict"] == ex.label, (ex.source, got["trace"])
    if ex.label != "containerd-state":
        assert got["runbook"] != "docker-libcontainerd", "a fault outside containerd's state must never clear it"

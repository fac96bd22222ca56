"""The real-world corpus: verbatim log excerpts from public issue threads, each with its label and source.

tests/data/corpus/index-*.yaml list them (file, label, source, why, mentions_containerd_or_bolt).
Shared by tests/unit/test_corpus.py and bench/corpus_score.py (which prints the confusion table).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from ruamel.yaml import YAML

from remediator import exitcodes
from remediator.cli import main

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


@dataclass(frozen=True)
class Excerpt:
    file: str
    label: str
    source: str
    mentions: bool
    index: str = ""  # the set: a, b, c, d, e (from index-<set>.yaml)

    @property
    def path(self) -> Path:
        return CORPUS / self.file


def load() -> list[Excerpt]:
    out = []
    for index in sorted(CORPUS.glob("index-*.yaml")):
        for e in YAML(typ="safe").load(index.read_text()):
            out.append(Excerpt(e["file"], e["label"], e["source"], bool(e.get("mentions_containerd_or_bolt")),
                               index.stem.removeprefix("index-")))
    return out


def classify(ex: Excerpt) -> dict[str, object]:
    """`remediator diagnose --log FILE --json`, through the real click command (in-process: 100+ files)."""
    res = CliRunner().invoke(main, ["diagnose", "--log", str(ex.path), "--json"])
    assert res.exit_code in (exitcodes.OK, exitcodes.SICK), res.output
    return dict(json.loads(res.output))


def confusion(results: list[tuple[Excerpt, dict[str, object]]]) -> Counter[tuple[str, str]]:
    return Counter((ex.label, str(got["verdict"])) for ex, got in results)

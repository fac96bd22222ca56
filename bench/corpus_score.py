"""Score the real-world corpus through `remediator diagnose --json`: accuracy, destructive misfires, and
the confusion table (rows: label, columns: verdict). Usage: python bench/corpus_score.py"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import corpus  # noqa: E402


def main() -> None:
    excerpts = corpus.load()
    results = [(ex, corpus.classify(ex)) for ex in excerpts]
    right = sum(ex.label == got["verdict"] for ex, got in results)
    misfires = [ex.file for ex, got in results if ex.label != "containerd-state" and got["runbook"] == "docker-libcontainerd"]
    print(f"{right}/{len(results)} classified as labelled ({100 * right / len(results):.0f} %); "
          f"state-clearing runbook chosen for a non-state fault: {len(misfires)} {misfires or ''}")
    for name in sorted({ex.index for ex in excerpts}):
        mine = [(ex, got) for ex, got in results if ex.index == name]
        ok = sum(ex.label == got["verdict"] for ex, got in mine)
        print(f"  set {name.upper()}: {ok}/{len(mine)} ({100 * ok / len(mine):.0f} %)")
    table = corpus.confusion(results)
    labels = sorted({ex.label for ex in excerpts})
    verdicts = sorted({v for _, v in table})
    print("| label \\ verdict | " + " | ".join(verdicts) + " |")
    print("|---|" + "---|" * len(verdicts))
    for lab in labels:
        print(f"| {lab} | " + " | ".join(str(table.get((lab, v), "")) for v in verdicts) + " |")
    for ex, got in results:
        if ex.label != got["verdict"]:
            print(f"MISS {ex.file}: {ex.label} -> {got['verdict']} ({ex.source})")


if __name__ == "__main__":
    main()

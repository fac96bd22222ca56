"""Score one held-out set of the corpus, excerpt by excerpt: label, verdict, runbook, and whether the
state-clearing runbook was chosen for a fault outside containerd's state (the destructive misfire).
Usage: python bench/heldout_score.py g"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import corpus  # noqa: E402

STATE_CLEAR = "docker-libcontainerd"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/heldout_score.py SET   (e.g. g)")
    name = sys.argv[1].lower()
    excerpts = [ex for ex in corpus.load() if ex.index == name]
    if not excerpts:
        sys.exit(f"no excerpts in tests/data/corpus/index-{name}.yaml")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    right = 0
    destructive = []
    print(f"set {name.upper()} at commit {commit}: file | label | verdict | runbook | ok")
    for ex in excerpts:
        got = corpus.classify(ex)
        ok = got["verdict"] == ex.label
        right += ok
        if ex.label != "containerd-state" and got["runbook"] == STATE_CLEAR:
            destructive.append(ex.file)
        print(f"{ex.file} | {ex.label} | {got['verdict']} | {got['runbook']} | {'ok' if ok else 'MISS'}")
    print(f"\nset {name.upper()}: {right}/{len(excerpts)} classified as labelled "
          f"({100 * right / len(excerpts):.0f} %); state clear chosen for a non-state fault: "
          f"{len(destructive)} {destructive or ''}")


if __name__ == "__main__":
    main()

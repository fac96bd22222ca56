"""Docs travel with the code: every relative link in README.md, docs/ and runbooks/ resolves inside the repository.

Checked: markdown links `[text](path#anchor)` (the file exists inside the repository; an anchor names a heading
of the target, GitHub-style), bare relative paths (`../x`, `x.md`) in markdown text and in runbook YAML
(comments and descriptions), and `docs/….md` citations in the package's and the tests' Python sources. The
checker itself is tried on a small tree with each kind of breakage, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MD_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
BARE = re.compile(r"(?<![\w/.<>:~-])((?:\.\./)+[\w.-][\w./-]*|[\w-][\w./-]*\.md)(#[\w-]+)?")
CITED = re.compile(r"(?<![\w/.-])(docs/[\w.-]+\.md)(#[\w-]+)?")  # ours are flat: docs/x/y.md is another project's
FENCE = re.compile(r"^\s*(```|~~~)")
FOREIGN = re.compile(r"`?\s+@")  # "`path` @tag": a file of another repository at a release tag, not a link


def bare_paths(text: str) -> list[tuple[str, str | None]]:
    """Relative paths written as text, minus a sentence's final dot and minus other repositories' files."""
    found = []
    for m in BARE.finditer(text):
        if FOREIGN.match(text, m.end()):
            continue
        found.append((m.group(1).rstrip("."), (m.group(2) or "")[1:] or None))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if m and not fenced:
            s = slug(m.group(2))
            n = counts.get(s, 0)
            counts[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
    return found


def check_target(repo: Path, src: Path, target: str, fragment: str | None, base: Path | None = None) -> str | None:
    """None when target (relative to base, default the citing file's directory) is a file or directory inside
    repo and the fragment, if any, names a heading of it; else what is wrong."""
    where = (base or src.parent) / target if target else src
    try:
        resolved = where.resolve()
        resolved.relative_to(repo.resolve())
    except ValueError:
        return f"{target}: outside the repository"
    if not resolved.exists():
        return f"{target}: no such file"
    if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
        return f"{target}#{fragment}: no such heading in {resolved.relative_to(repo.resolve())}"
    return None


def markdown_problems(repo: Path, path: Path) -> list[str]:
    problems = []
    fenced = False
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue  # commands and config in code blocks are not links
        targets = []
        for m in MD_LINK.finditer(line):
            link = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", link):
                continue  # https:, mailto:
            t, _, frag = link.partition("#")
            targets.append((t, frag or None))
        rest = MD_LINK.sub(" ", line)
        targets += bare_paths(rest)
        for t, frag in targets:
            why = check_target(repo, path, t, frag)
            if why:
                problems.append(f"{path.relative_to(repo)}:{no}: {why}")
    return problems


def yaml_problems(repo: Path, path: Path) -> list[str]:
    problems = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for target, frag in bare_paths(line):
            why = check_target(repo, path, target, frag)
            if why:
                problems.append(f"{path.relative_to(repo)}:{no}: {why}")
    return problems


def source_problems(repo: Path, path: Path) -> list[str]:
    """`docs/….md` cited in Python source: relative to the repository's top."""
    problems = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for m in CITED.finditer(line):
            why = check_target(repo, path, m.group(1), (m.group(2) or "")[1:] or None, base=repo)
            if why:
                problems.append(f"{path.relative_to(repo)}:{no}: {why}")
    return problems


def all_problems(repo: Path) -> list[str]:
    problems: list[str] = []
    for md in [repo / "README.md", *sorted((repo / "docs").rglob("*.md")), *sorted((repo / "runbooks").rglob("*.md"))]:
        if md.is_file():
            problems += markdown_problems(repo, md)
    for y in sorted((repo / "runbooks").rglob("*.yaml")):
        problems += yaml_problems(repo, y)
    for py in sorted([*(repo / "remediator").rglob("*.py"), *(repo / "tests").rglob("*.py")]):
        if py.resolve() != Path(__file__).resolve():  # this file's own examples are broken on purpose
            problems += source_problems(repo, py)
    return problems


def test_every_relative_link_in_the_readme_docs_and_runbooks_resolves_inside_the_repository() -> None:
    assert all_problems(REPO) == []


def test_the_docs_exist_and_the_readme_and_runbooks_link_to_them() -> None:
    docs = {p.name for p in (REPO / "docs").glob("*.md")}
    assert {"state-layout.md", "signatures.md", "evidence.md", "stop-start-verify.md"} <= docs
    assert "(docs/state-layout.md)" in (REPO / "README.md").read_text()
    assert "../docs/state-layout.md" in (REPO / "runbooks" / "docker-libcontainerd.yaml").read_text()


def test_nothing_cites_the_shared_notes_outside_the_repository() -> None:
    """The research notes the docs were written from are not in a clone: nothing may point at them."""
    me = Path(__file__).resolve()
    cites = []
    for top in ("README.md", "docs", "runbooks", "remediator", "tests", "contrib", "bench"):
        root = REPO / top
        for f in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            if f.resolve() == me or f.suffix not in (".md", ".py", ".yaml", ".yml", ".toml", ".service", ""):
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
            if re.search(r"shared/DOMAIN\.md|\bDOMAIN(?:\.md)? ?(?:§|S\d)", text):
                cites.append(str(f.relative_to(REPO)))
    assert cites == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "remediator").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Safe to delete?\n\n```sh\n# not a heading\n```\n")
    return tmp_path


def test_the_checker_accepts_good_links(tree: Path) -> None:
    (tree / "README.md").write_text("See [a](docs/a.md#safe-to-delete) and `docs/a.md`, [b](https://x.org/y.md).\n"
                                    "Read docs/a.md. From moby `docs/admin/live-restore.md` @66f697f.\n"
                                    "```sh\ncat ../outside.md\n```\n")
    (tree / "runbooks" / "r.yaml").write_text("# see ../docs/a.md#title\nname: r\n")
    (tree / "remediator" / "m.py").write_text('"""cf. docs/a.md#safe-to-delete"""\n')
    assert all_problems(tree) == []


@pytest.mark.parametrize(("where", "text", "expected"), [
    ("README.md", "See [a](docs/missing.md).\n", "docs/missing.md: no such file"),
    ("README.md", "See [a](docs/a.md#nope).\n", "no such heading"),
    ("README.md", "See [a](docs/a.md#not-a-heading).\n", "no such heading"),  # a '#' line inside a code block
    ("README.md", "See `../shared/DOMAIN.md` §4.\n", "outside the repository"),
    ("docs/b.md", "Back to [top](../../etc/passwd).\n", "outside the repository"),
    ("docs/b.md", "Also notes.md here.\n", "notes.md: no such file"),
    ("runbooks/r.yaml", "# See ../shared/DOMAIN.md\nname: r\n", "../shared/DOMAIN.md: no such file"),
    ("runbooks/r.yaml", "description: read ../docs/gone.md first\n", "../docs/gone.md: no such file"),
    ("remediator/m.py", "# docs/gone.md\n", "docs/gone.md: no such file"),
])
def test_the_checker_finds_each_kind_of_broken_link(tree: Path, where: str, text: str, expected: str) -> None:
    (tree / where).write_text(text)
    problems = all_problems(tree)
    assert len(problems) == 1 and expected in problems[0] and problems[0].startswith(f"{where}:"), problems

"""The one YAML loading path (remediator/loader.py): an event-stream builder that keeps positions.

It replaced ruamel's round-trip composer (20x slower), so these tests pin what must not change: plain scalars
resolve as YAML 1.2's core schema does (checked against ruamel's own round-trip loader), every key and item
keeps its line:col, and what a composer would accept silently or crash on is refused with a position.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from remediator.errors import InputError
from remediator.loader import load_yaml, locate, plain

SCALARS = ["1", "-7", "+3", "0", "1_000", "0x1F", "0o17", "0b101", "1.5", "-.5", "1e3", "1.2e-3", ".inf", "-.Inf",
           ".nan", "true", "False", "TRUE", "yes", "no", "on", "off", "~", "null", "Null", "", "x", "1.2.3", "0x",
           "'1'", '"true"', "'null'", "12:30", "abc def", "1e", "+.inf", ".5"]


@pytest.mark.parametrize("text", SCALARS)
def test_plain_scalars_resolve_like_ruamels_yaml_1_2_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"v: {text}\n")
    ours = plain(load_yaml(path))["v"]
    theirs = YAML(typ="rt").load(path.read_text())["v"]
    if isinstance(theirs, float) and math.isnan(theirs):
        assert isinstance(ours, float) and math.isnan(ours)
        return
    assert ours == theirs and isinstance(theirs, type(ours)), (ours, theirs)  # ruamel's are int/float/str subclasses


def test_every_key_and_item_keeps_its_position(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\nsteps:\n  - id: x\n    params: {paths: [p, q]}\n  - id: y\n")
    data = load_yaml(path)
    assert locate(data, ("steps", 1, "id"))[1] == (5, 5)
    assert locate(data, ("steps", 0, "params", "paths", 1))[1] == (4, 25)
    assert locate(data, ("a",))[1] == (1, 1)
    assert locate(data, ("steps", 0, "nope"))[0] == ("steps", 0)  # a missing field stops at its parent


@pytest.mark.parametrize(("text", "where", "what"), [
    ("a: 1\nb: 2\na: 3\n", ":3:1:", "duplicate key 'a'"),
    ("a: 1\n---\nb: 2\n", ":2:1:", "more than one document"),
    ("a: *nope\n", ":1:4:", "names no anchor"),
    ("? [a]\n: 1\n", ":1:3:", "as a mapping key"),
    ("a: !!str 1\n", ":1:4:", "explicit tags"),
    ("a: 'x\n", ":2:1:", "YAML syntax"),
])
def test_what_a_composer_would_take_or_crash_on_is_refused_with_a_position(
        tmp_path: Path, text: str, where: str, what: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_yaml(path)
    assert f"{path}{where}" in str(err.value) and what in str(err.value), str(err.value)


def test_a_scalar_alias_resolves_to_its_anchors_value(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: &x 5\nb: *x\nc: [*x, *x]\n")
    assert plain(load_yaml(path)) == {"a": 5, "b": 5, "c": [5, 5]}

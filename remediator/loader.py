"""YAML loading with positions, and pydantic errors rendered as 'file:line:col: field: message'.

Role: the one place that parses YAML (ruamel.yaml: YAML 1.2, duplicate keys rejected) and maps a
pydantic error location back to the line and column it came from.
Must not: know about runbooks or settings; it only loads and locates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from remediator.errors import InputError

Loc = tuple[str | int, ...]


MAX_BYTES = 1 << 20  # runbooks and configs are small; a bigger file is a mistake or an attack
MAX_DEPTH = 64  # nesting levels
MAX_EVENTS = 20_000  # a real config or runbook has a few hundred; ruamel's pure-Python parser takes ~50-80 us each
MAX_ALIASED = 1 << 20  # characters all aliases of scalars add up to: a file of kilobytes must not become gigabytes


def _screen(path: Path, text: str) -> None:
    """Walk the YAML event stream (iterative: no recursion, no construction) and refuse, with a position,
    what would crash or bomb the loader: nesting past MAX_DEPTH, more than MAX_EVENTS nodes, aliases of
    collections (the billion-laughs shape), aliases of scalars adding up to more than MAX_ALIASED characters
    (one long string aliased thousands of times), explicit tags, merge keys."""
    depth, events, aliased = 0, 0, 0
    collection_anchors: set[str] = set()
    scalar_sizes: dict[str, int] = {}
    expect_key: list[bool] = []  # per open mapping: is the next scalar a key?
    for ev in YAML(typ="rt").parse(text):
        events += 1
        mark = getattr(ev, "start_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        kind = type(ev).__name__
        if events > MAX_EVENTS:
            raise InputError(f"{path}:{where}: YAML: more than {MAX_EVENTS} nodes")
        tag = getattr(ev, "tag", None)
        if tag is not None and kind in ("ScalarEvent", "MappingStartEvent", "SequenceStartEvent"):
            raise InputError(f"{path}:{where}: YAML: explicit tags ({tag}) are not supported; write the plain value")
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            if expect_key and expect_key[-1] is False:
                expect_key[-1] = True
            elif expect_key and expect_key[-1] is True:
                raise InputError(f"{path}:{where}: YAML: a mapping or sequence as a mapping key is not supported")
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"{path}:{where}: YAML: nested deeper than {MAX_DEPTH} levels")
            if getattr(ev, "anchor", None):
                collection_anchors.add(ev.anchor)
            expect_key.append(True if kind == "MappingStartEvent" else None)  # type: ignore[arg-type]
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
            expect_key.pop()
        elif kind in ("ScalarEvent", "AliasEvent"):
            if kind == "AliasEvent" and ev.anchor in collection_anchors:
                raise InputError(f"{path}:{where}: YAML: an alias of a mapping or sequence (*{ev.anchor}) is not "
                                 "supported; repeat the values")
            if kind == "ScalarEvent" and ev.anchor:
                scalar_sizes[ev.anchor] = len(ev.value)
            elif kind == "AliasEvent":
                aliased += scalar_sizes.get(ev.anchor, 0)
                if aliased > MAX_ALIASED:
                    raise InputError(f"{path}:{where}: YAML: aliases expand to more than {MAX_ALIASED >> 10} KiB "
                                     "of text; repeat the values")
            if expect_key and expect_key[-1] is True:
                if kind == "ScalarEvent" and ev.value == "<<":
                    raise InputError(f"{path}:{where}: YAML: merge keys (<<) are not supported; write the keys out")
                expect_key[-1] = False
            elif expect_key and expect_key[-1] is False:
                expect_key[-1] = True


def load_yaml(path: Path) -> Any:
    """Given a file, return its YAML data with positions. Raise InputError naming file:line:col.
    Bounded: at most MAX_BYTES read, nesting, nodes, tags, aliases and merge keys screened first."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BYTES:
        raise InputError(f"{path}:1:1: larger than {MAX_BYTES >> 10} KiB: not a runbook or a config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        _screen(path, text)
        data = YAML(typ="rt").load(text)
    except InputError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        problem = " ".join(x for x in (exc.context, exc.problem) if x)
        raise InputError(f"{path}:{where}: YAML syntax: {problem}") from exc
    except YAMLError as exc:
        raise InputError(f"{path}:1:1: YAML syntax: {exc}") from exc
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:  # the loader's own edge cases
        raise InputError(f"{path}:1:1: YAML: cannot load ({type(exc).__name__}: {exc})") from exc
    if data is None:
        raise InputError(f"{path}:1:1: the file is empty")
    return data


def _position(node: Any, key: str | int) -> tuple[int, int]:
    if isinstance(node, CommentedMap):
        line, col = node.lc.key(key)
    else:
        line, col = node.lc.item(key)
    return line + 1, col + 1


def locate(data: Any, loc: Loc) -> tuple[Loc, tuple[int, int]]:
    """Follow a pydantic loc through loaded YAML; skip union tags. Return (data path, line:col)."""
    node, where = data, (1, 1)
    path: tuple[str | int, ...] = ()
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            where = _position(node, part)
            node, path = node[part], (*path, part)
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            where = _position(node, part)
            node, path = node[part], (*path, part)
    return path, where


def dotted(path: Sequence[str | int]) -> str:
    """Render ('steps', 1, 'timeout') as 'steps[1].timeout'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def problem(file: Path, data: Any, loc: Loc, message: str) -> str:
    """One problem line for a location inside loaded YAML."""
    path, (line, col) = locate(data, loc)
    field = dotted(path)
    missing = [p for p in loc[len(path):] if isinstance(p, str | int)]
    if missing and loc[-1] not in path:
        field = dotted((*path, loc[-1]))
    return f"{file}:{line}:{col}: {field}: {message}"


def validation_problems(file: Path, data: Any, exc: ValidationError, base: Loc = ()) -> list[str]:
    """Every error of a pydantic ValidationError, located in the YAML it came from."""
    out = []
    for err in exc.errors(include_url=False):
        loc = (*base, *err["loc"])
        msg = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            shown = repr(err["input"])
            if len(shown) <= 60:
                msg += f" (got {shown})"
        out.append(problem(file, data, loc, msg))
    return out


def plain(data: Any) -> Any:
    """Convert ruamel's commented containers to plain dicts and lists."""
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data

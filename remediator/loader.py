"""YAML loading with positions, and pydantic errors rendered as 'file:line:col: field: message'.

Role: the one place that parses YAML: libyaml's event stream (ruamel.yaml.clib; ruamel's pure parser when it is
missing) built into dicts and lists in one iterative pass that keeps every key's line:col, YAML 1.2 core schema,
duplicate keys, tags, merge keys and collection aliases refused; and maps a pydantic error location back to the
line and column it came from. (ruamel's round-trip composer was ~20x slower: 10,000 steps took 9-30 s.)
Must not: know about runbooks or settings; it only loads and locates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from remediator.errors import InputError
from remediator.safeio import read_regular

Loc = tuple[str | int, ...]


class PosMap(dict[Any, Any]):
    """A mapping loaded from YAML that remembers where each key was (0-based line, col)."""

    __slots__ = ("pos",)

    def __init__(self) -> None:
        super().__init__()
        self.pos: dict[Any, tuple[int, int]] = {}


class PosSeq(list[Any]):
    """A sequence loaded from YAML that remembers where each item was (0-based line, col)."""

    __slots__ = ("pos",)

    def __init__(self) -> None:
        super().__init__()
        self.pos: list[tuple[int, int]] = []


MAX_BYTES = 1 << 20  # runbooks and configs are small; a bigger file is a mistake or an attack
MAX_DEPTH = 64  # nesting levels
MAX_EVENTS = 400_000  # ~3 s of libyaml events at most; 10,000 steps are ~130,000
MAX_PROBLEMS = 50  # reported per file: the rest is summed up
MAX_ALIASED = 1 << 20  # characters all aliases of scalars add up to: a file of kilobytes must not become gigabytes

# YAML 1.2 core schema for plain scalars (the same forms ruamel's 1.2 resolver accepts; timestamps stay text)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)


def _scalar(value: str, plain_style: bool) -> Any:
    if not plain_style:
        return value
    if _NULL.match(value):
        return None
    if _BOOL.match(value):
        return value[0] in "tT"
    if _INT.match(value):
        digits = value.replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        body = digits.lstrip("+-")
        for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
            if body.startswith(prefix):
                return sign * int(body[2:], base)
        return sign * int(body, 10)
    if _FLOAT.match(value):
        low = value.lower().replace("_", "")
        if low.endswith(".inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        return float("nan") if low.endswith(".nan") else float(low)
    return value


def _parser() -> YAML:
    """The event parser: libyaml's (ruamel.yaml.clib) when installed, ~10x faster, else ruamel's own."""
    return YAML(typ="safe")


_KEY = object()  # marks "the next scalar of this mapping is a key"


def _where(ev: Any) -> str:
    mark = getattr(ev, "start_mark", None)
    return f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"


class _Builder:
    """The data of one YAML event stream, built in one iterative pass (no recursion, no ruamel composer) that keeps
    every key's and item's line:col. A refusal names the file, the event's line:col and what was refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stack: list[list[Any]] = []  # [container, pending key or _KEY, key line:col]
        self.anchors: dict[str, Any] = {}
        self.collection_anchors: set[str] = set()
        self.root: Any = None
        self.documents = self.events = self.aliased = 0
        self.on: dict[str, Callable[[Any], None]] = {
            "DocumentStartEvent": self.document, "ScalarEvent": self.scalar, "AliasEvent": self.alias,
            "MappingStartEvent": self.mapping, "SequenceStartEvent": self.sequence,
            "MappingEndEvent": self.close, "SequenceEndEvent": self.close}  # other events carry no data

    def refuse(self, ev: Any, what: str) -> NoReturn:
        raise InputError(f"{self.path}:{_where(ev)}: YAML: {what}")

    def feed(self, ev: Any) -> None:
        self.events += 1
        if self.events > MAX_EVENTS:
            self.refuse(ev, f"more than {MAX_EVENTS} nodes")
        on = self.on.get(type(ev).__name__)
        if on is not None:
            on(ev)

    def document(self, ev: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            self.refuse(ev, "more than one document (---); use one")

    def untagged(self, ev: Any) -> None:
        if ev.tag is not None:
            self.refuse(ev, f"explicit tags ({ev.tag}) are not supported; write the plain value")

    def scalar(self, ev: Any) -> None:
        if ev.tag is not None:
            self.untagged(ev)
        value = _scalar(ev.value, not ev.style and bool(ev.implicit and ev.implicit[0]))
        if ev.anchor:
            self.anchors[ev.anchor] = value
        self.add(value, ev)

    def mapping(self, ev: Any) -> None:
        self.untagged(ev)
        self.open(ev, PosMap())

    def sequence(self, ev: Any) -> None:
        self.untagged(ev)
        self.open(ev, PosSeq())

    def close(self, ev: Any) -> None:
        self.stack.pop()

    def alias(self, ev: Any) -> None:
        if ev.anchor in self.collection_anchors:
            self.refuse(ev, f"an alias of a mapping or sequence (*{ev.anchor}) is not supported; repeat the values")
        if ev.anchor not in self.anchors:
            self.refuse(ev, f"alias *{ev.anchor} names no anchor defined before it")
        self.aliased += len(str(self.anchors[ev.anchor]))
        if self.aliased > MAX_ALIASED:
            self.refuse(ev, f"aliases expand to more than {MAX_ALIASED >> 10} KiB of text; repeat the values")
        self.add(self.anchors[ev.anchor], ev)

    def open(self, ev: Any, node: PosMap | PosSeq) -> None:
        if len(self.stack) >= MAX_DEPTH:
            self.refuse(ev, f"nested deeper than {MAX_DEPTH} levels")
        if ev.anchor:
            self.collection_anchors.add(ev.anchor)
        self.add(node, ev)
        self.stack.append([node, _KEY, (0, 0)])

    def add(self, value: Any, ev: Any) -> None:
        mark = ev.start_mark
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        node = top[0]
        if type(node) is PosSeq:
            node.pos.append((mark.line, mark.column))
            node.append(value)
        elif top[1] is _KEY:
            self.key(top, value, ev)
        else:
            node.pos[top[1]] = top[2]
            node[top[1]] = value
            top[1] = _KEY

    def key(self, top: list[Any], value: Any, ev: Any) -> None:
        if isinstance(value, (PosMap, PosSeq)):
            self.refuse(ev, "a mapping or sequence as a mapping key is not supported")
        if value == "<<" and type(value) is str and not getattr(ev, "style", None):
            self.refuse(ev, "merge keys (<<) are not supported; write the keys out")
        try:
            duplicate = value in top[0]
        except TypeError:  # an unhashable key cannot come from a scalar; be safe anyway
            duplicate = False
        if duplicate:
            self.refuse(ev, f"duplicate key {value!r}")
        top[1], top[2] = value, (ev.start_mark.line, ev.start_mark.column)


def _build(path: Path, text: str) -> Any:
    """Build the data from the YAML event stream (_Builder), keeping every key's and item's line:col, and refuse
    with a position what would crash or bomb a loader: nesting past MAX_DEPTH, more than MAX_EVENTS nodes, aliases
    of collections (the billion-laughs shape), explicit tags, merge keys, complex or duplicate keys, undefined
    aliases, a second document."""
    builder = _Builder(path)
    for ev in _parser().parse(text):
        builder.feed(ev)
    return builder.root


def load_yaml(path: Path) -> Any:
    """Given a file, return its YAML data with positions. Raise InputError naming file:line:col.
    Bounded: at most MAX_BYTES read; nesting, nodes, tags, aliases and merge keys refused while building."""
    try:
        raw = read_regular(path, MAX_BYTES)  # a FIFO, socket, device or directory is refused, never waited on
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if raw is None:
        raise InputError(f"{path}:1:1: larger than {MAX_BYTES >> 10} KiB: not a runbook or a config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        data = _build(path, text)
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


def _position(node: PosMap | PosSeq, key: Any) -> tuple[int, int]:
    line, col = node.pos[key]
    return line + 1, col + 1


def locate(data: Any, loc: Loc) -> tuple[Loc, tuple[int, int]]:
    """Follow a pydantic loc through loaded YAML; skip union tags. Return (data path, line:col)."""
    node, where = data, (1, 1)
    path: tuple[str | int, ...] = ()
    for part in loc:
        if isinstance(node, PosMap) and part in node:
            where = _position(node, part)
            node, path = node[part], (*path, part)
        elif isinstance(node, PosSeq) and isinstance(part, int) and 0 <= part < len(node):
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
    out: list[str] = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        loc = (*base, *err["loc"])
        msg = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            shown = repr(err["input"])
            if len(shown) <= 60:
                msg += f" (got {shown})"
        out.append(problem(file, data, loc, msg))
    if len(errors) > MAX_PROBLEMS:
        out.append(f"{file}: … and {len(errors) - MAX_PROBLEMS} more problems")
    return out


def plain(data: Any) -> Any:
    """Convert the positioned containers to plain dicts and lists."""
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data

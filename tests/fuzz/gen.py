"""Seeded generators of hostile inputs: mutated runbooks, configs and daemon logs.

Everything is derived from one random.Random(seed): the same seed and scale give byte-identical inputs.
Mutations are the kinds a careless or hostile user produces: keys dropped, duplicated or renamed, wrong
types, explicit YAML tags, anchors/aliases and alias bombs, merge keys, deep nesting, huge scalars, NUL
bytes, invalid UTF-8, BOMs, CRLF, tabs, Rich markup in strings, hostile paths and {params}; for logs:
deep JSON, megabyte lines, runs of \\", binary garbage, truncated lines, mixed formats, ANSI escapes.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
SAFE_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_ ./-]*$")
MARKUP = ["[/]", "[bold]", "[/bold]", "[link=file:///etc/passwd]x[/link]", "[red]", "[bold red on blue]", "\\[x]",
          "[/link]", "[@click=app.bell]", "[#ff0000]", "[b]", ":warning:", "[not a style", "]["]
TAGS = ["!!int x", "!!float x", "!!bool x", "!!set {a, b}", "!!set 1", "!!omap [a: 1, b: 2]", "!!omap 1",
        "!!python/object:os.system {}", "!!python/object/apply:os.system ['true']", "!!python/name:os.system ''",
        "!!binary AAAA", "!!timestamp x", "!mytag x", "!!str 5", "!<tag:yaml.org,2002:int> 5", "!!null ''",
        "!!map [1, 2]", "!!seq {a: 1}", "!!pairs [a: 1]", "!!merge x"]
WRONG = [42, -1, 0, 10 ** 40, 1e308, float("inf"), True, False, None, [], {}, [1, 2], {"a": 1}, "", "x",
         "0x1F", "1_000", "yes", "~", "NaN", "-.inf", "2001-12-14", "null", "+12e03", "0o17", ".5"]


@dataclass
class Raw:
    """YAML text put in verbatim at a value's place."""

    text: str


@dataclass
class Dup:
    """A mapping whose items may repeat a key."""

    items: list[tuple[Any, Any]]


@dataclass
class Anchored:
    name: str
    value: Any


@dataclass
class Case:
    kind: str  # runbook | config | log
    name: str
    data: bytes
    mutations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Places:
    """Where the scratch world lives: everything a generated input points at is under scratch,
    except the hostile paths, which aim at victim (outside scratch)."""

    scratch: Path
    victim: Path

    def hostile_paths(self) -> list[str]:
        v, s = str(self.victim), str(self.scratch)
        return ["/", "//", "///", "/.", "/..", "..", "../..", "/../../..", v, v + "/", v + "/../" + self.victim.name,
                "/proc/self/root" + v, "/proc/self/cwd/../" + self.victim.name, s + "/escape", s + "/escape/file.txt",
                s + "/data/escape", "{data_root}/escape", "{data_root}/../../" + self.victim.name, "{data_root}/..",
                "{exec_root}/../..", "{data_root}", "{exec_root}/", "/" + "a" * 300, s + "/" + "b" * 300 + "/x",
                v + "\0/x", "/tmp/\0", "\0", "", " ", "~", "~/x", "$HOME", "${HOME}/x", "/dev/zero", "/dev/null",
                "/proc/self/mem", "/etc/passwd", "/var/lib/docker", "/var/run/docker", s + "/data/../../" + self.victim.name,
                "/" + "/".join(["x"] * 2000), "C:\\Windows", "file:///etc", v.replace("/", "//"), v + "/.", s + "/afile/x"]


PARAMS = ["{params.nope}", "{params}", "{}", "{{data_root}}", "{data_root.__class__}", "{0}", "{params.a.b.c}",
          "{__import__}", "{params.stop_grace!r}", "{data_root:>99999999}", "%s%s%n", "{state_dirs}", "{state_dirs}x",
          "{layout}", "{ data_root }", "{data_root}{exec_root}", "{{{data_root}}}", "{" * 5000, "}" * 5000,
          "{params.stop_grace}", "{host}/../..", "{docker_version}"]


def strings(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of a plain tree: the places a mutation may hit (the root included)."""
    out: list[tuple[tuple[Any, ...], Any]] = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            out += strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += strings(v, (*path, i))
    return out


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def put(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    """Set the value at path (a path an earlier mutation made stale is left alone)."""
    if not path:
        return value
    try:
        parent = get(root, path[:-1])
        if isinstance(parent, dict | list):
            parent[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return root


def scalar(v: Any, rnd: random.Random) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, bool):
        return rnd.choice(["true", "false"]) if rnd.random() < 0.05 else ("true" if v else "false")
    if v is None:
        return rnd.choice(["null", "~", ""])
    if isinstance(v, float):
        return {float("inf"): ".inf", float("-inf"): "-.inf"}.get(v, repr(v)) if v == v else ".nan"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if SAFE_PLAIN.match(s) and s.strip() == s and s not in ("true", "false", "null", "yes", "no", "on", "off", "~") \
            and not re.fullmatch(r"[-+.\d_eE]+|0x\w+|0o\w+", s) and rnd.random() < 0.7:
        return s
    if "\n" not in s and "\0" not in s and all(c >= " " for c in s) and rnd.random() < 0.3:
        return "'" + s.replace("'", "''") + "'"
    return json.dumps(s)


def emit(v: Any, rnd: random.Random, indent: int = 0) -> list[str]:
    """Block-style YAML lines for v (a mapping or a list); scalars and Raw are inline."""
    pad = " " * indent
    lines: list[str] = []
    items: list[tuple[Any, Any]] | None = None
    if isinstance(v, Dup):
        items = v.items
    elif isinstance(v, dict):
        items = list(v.items())
    if items is not None:
        if not items:
            return [pad + "{}"]
        for k, val in items:
            key = scalar(k, rnd) if not isinstance(k, str) or k else '""'
            lines += _entry(pad + key + ":", val, rnd, indent)
        return lines
    if isinstance(v, list):
        if not v:
            return [pad + "[]"]
        for item in v:
            lines += _entry(pad + "-", item, rnd, indent)
        return lines
    return [pad + scalar(v, rnd)]


def _entry(head: str, val: Any, rnd: random.Random, indent: int) -> list[str]:
    anchor = ""
    if isinstance(val, Anchored):
        anchor, val = f" &{val.name}", val.value
    if isinstance(val, dict | list | Dup) and (val.items if isinstance(val, Dup) else val):
        if rnd.random() < 0.08 and not isinstance(val, Dup):  # flow style now and then
            try:
                return [f"{head}{anchor} {json.dumps(val)}"]
            except (TypeError, ValueError):
                pass
        return [head + anchor, *emit(val, rnd, indent + 2)]
    if isinstance(val, dict | Dup):
        return [f"{head}{anchor} {{}}"]
    if isinstance(val, list):
        return [f"{head}{anchor} []"]
    return [f"{head}{anchor} {scalar(val, rnd)}".rstrip()]


def dump(tree: Any, rnd: random.Random) -> str:
    return "\n".join(emit(tree, rnd)) + "\n"


def load_seed(path: Path) -> Any:
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(path.read_text()), default=str))


# ---- tree mutations ---------------------------------------------------------------------------------

def _containers(tree: Any, kind: type) -> list[tuple[tuple[Any, ...], Any]]:
    return [(p, v) for p, v in strings(tree) if isinstance(v, kind)]


def m_drop_key(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    maps = [(p, v) for p, v in _containers(tree, dict) if v]
    if maps:
        _, m = rnd.choice(maps)
        del m[rnd.choice(list(m))]
    return tree


def m_dup_key(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    maps = [(p, v) for p, v in _containers(tree, dict) if v]
    if not maps:
        return tree
    path, m = rnd.choice(maps)
    items = list(m.items())
    k, _ = rnd.choice(items)
    items.insert(rnd.randrange(len(items) + 1), (k, rnd.choice(WRONG + [m[k]])))
    return put(tree, path, Dup(items))


def m_rename_key(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    maps = [(p, v) for p, v in _containers(tree, dict) if v]
    if not maps:
        return tree
    path, m = rnd.choice(maps)
    k = rnd.choice(list(m))
    s = str(k)
    new = rnd.choice([s.upper(), s + "s", s[:-1] or "x", s[::-1], s.replace("_", "-"), " " + s, s + " ", "",
                      s + rnd.choice(MARKUP), "<<", "? " + s, s + ":", "-" + s, "#" + s, "&" + s, "*" + s, "!" + s])
    return put(tree, path, Dup([(new if kk == k else kk, vv) for kk, vv in m.items()]))


def m_wrong_type(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    path, _ = rnd.choice(strings(tree)[1:] or [((), None)])
    return put(tree, path, rnd.choice(WRONG))


def m_tag(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    path, _ = rnd.choice(strings(tree)[1:] or [((), None)])
    return put(tree, path, Raw(rnd.choice(TAGS)))


def m_alias(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    """An anchor on one value and aliases of it elsewhere (scalars and collections)."""
    places = strings(tree)[1:]
    if len(places) < 2:
        return tree
    (p1, v1), (p2, _) = rnd.sample(places, 2)
    if p2[: len(p1)] == p1 or p1[: len(p2)] == p2:
        return tree
    put(tree, p1, Anchored("a", v1))
    return put(tree, p2, Raw("*a"))


def m_merge(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    maps = [(p, v) for p, v in _containers(tree, dict) if v]
    if not maps:
        return tree
    path, m = rnd.choice(maps)
    merge = rnd.choice(["{name: X, steps: []}", "[{id: a}, {action: nope}]", "*nope", "{}", "1", "[1, 2]",
                        "{id: a, action: probe.confirm}"])
    return put(tree, path, Dup([("<<", Raw(merge)), *m.items()]))


def m_deep(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    path, _ = rnd.choice(strings(tree)[1:] or [((), None)])
    n = rnd.choice([63, 64, 65, 100, 330, 1000, 5000, 100_000])
    shape = rnd.choice(["[", "{a: ", "- "])
    if shape == "[":
        text = "[" * n + "]" * n
    elif shape == "{a: ":
        text = "{a: " * n + "1" + "}" * n
    else:
        text = "[" + "[" * n + "1" + "]" * n + "]"
    return put(tree, path, Raw(text))


def m_huge(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    path, _ = rnd.choice(strings(tree)[1:] or [((), None)])
    n = rnd.choice([10_000, 200_000, 1_100_000])
    unit = rnd.choice(["A", '\\"', "[/]", "{data_root}", "é", "\\", " "])
    return put(tree, path, unit * (n // len(unit)))


def m_markup(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    for path, v in strings(tree):
        if isinstance(v, str) and rnd.random() < 0.6:
            put(tree, path, rnd.choice([v + m for m in MARKUP] + [m + v for m in MARKUP]))
    for _p, m in _containers(tree, dict):
        if m and rnd.random() < 0.1:
            k = rnd.choice(list(m))
            m[str(k) + rnd.choice(MARKUP)] = m.pop(k)
    return tree


def m_path(tree: Any, rnd: random.Random, pl: Places) -> Any:
    spots = [p for p, v in strings(tree) if isinstance(v, str) and ("/" in v or "{" in v)] or \
            [p for p, v in strings(tree)[1:]]
    for _ in range(rnd.randint(1, 3)):
        if spots:
            path = rnd.choice(spots)
            hostile = rnd.choice(pl.hostile_paths())
            put(tree, path, rnd.choice([hostile, [hostile], [hostile, "{data_root}/x"]]) if rnd.random() < 0.3 else hostile)
    return tree


def m_param(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    spots = [p for p, v in strings(tree)[1:] if not isinstance(v, dict | list)] or [p for p, _ in strings(tree)[1:]]
    if spots:
        put(tree, rnd.choice(spots), rnd.choice(PARAMS))
    return tree


def m_unicode(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    spots = [p for p, v in strings(tree) if isinstance(v, str)]
    for path in rnd.sample(spots, min(len(spots), 3)):
        put(tree, path, rnd.choice(["\u202eevil", "a\u200bb", "\ud800", "\udfff", "😀" * 50, "\x7f\x01\x1b[31m",
                                    "e\u0301" * 200, "\uffff", "\ufeffx", "a\nb", "\u2028", "\x85"]))
    return tree


def m_free_text(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    """A mild one: markup, emoji codes and control characters in free text only (descriptions, unit names),
    so that the input still validates and its text gets printed."""
    for path, v in strings(tree):
        if path and path[-1] in ("description", "unit", "socket", "systemctl", "journalctl") and isinstance(v, str):
            put(tree, path, rnd.choice(MARKUP) + v + rnd.choice(MARKUP) + rnd.choice(["", "\t", ":smile:", "\x1b[31m"]))
    return tree


def m_reorder(tree: Any, rnd: random.Random, _pl: Places) -> Any:
    """A mild one: the same mappings, keys in another order (positions in errors must follow)."""
    for path, m in _containers(tree, dict):
        items = list(m.items())
        rnd.shuffle(items)
        put(tree, path, dict(items))
    return tree


MILD = [m_free_text, m_reorder]
TREE = [m_drop_key, m_dup_key, m_rename_key, m_wrong_type, m_tag, m_alias, m_merge, m_deep, m_huge, m_markup,
        m_path, m_param, m_unicode]


# ---- runbook-only and config-only structure mutations ------------------------------------------------

def m_steps(tree: Any, rnd: random.Random, pl: Places) -> Any:
    from remediator.actions import ACTIONS, GUARDS

    steps = tree.get("steps") if isinstance(tree, dict) else None
    if not isinstance(steps, list) or not steps:
        return tree
    op = rnd.choice(["dup", "drop", "shuffle", "action", "guard", "self-ref", "many", "risk", "rollback", "ids"])
    if op == "dup":
        steps.insert(rnd.randrange(len(steps) + 1), copy.deepcopy(rnd.choice(steps)))
    elif op == "drop":
        del steps[rnd.randrange(len(steps))]
    elif op == "shuffle":
        rnd.shuffle(steps)
    elif op == "action":
        s = rnd.choice(steps)
        if isinstance(s, dict):
            s["action"] = rnd.choice([*ACTIONS, "nope", "files.clear", "shell.run", "", "os.system"])
            if s["action"] == "files.clear":
                s["params"] = {"paths": rnd.choice([["/"], ["{data_root}/.."], ["{state_dirs}"], "{state_dirs}"])}
            if s["action"] == "shell.run":
                s["params"] = {"argv": rnd.choice([["/bin/sh", "-c", "touch " + str(pl.victim) + "/pwned"],
                                                   ["rm", "-rf", str(pl.victim)], "rm -rf /", []])}
    elif op == "guard":
        s = rnd.choice(steps)
        if isinstance(s, dict):
            s["guards"] = [{"check": rnd.choice([*GUARDS, "nope"]), "params": {"paths": ["{data_root}/escape"], "step": "x"}}]
    elif op == "self-ref":
        s = rnd.choice(steps)
        if isinstance(s, dict):
            s.setdefault("params", {})
            if isinstance(s["params"], dict):
                s["params"]["snapshot_step"] = s.get("id", "x")
    elif op == "many":
        n = rnd.choice([1000, 5000, 12_000])
        tree["steps"] = [{"id": f"s{i}", "action": "probe.confirm", "params": {"expect": ["any"]}} for i in range(n)]
        tree["steps"][0]["params"]["expect"] = ["containerd-state"]  # a dry-run stops here (its linear cost is the validation's)
    elif op == "risk":
        s = rnd.choice(steps)
        if isinstance(s, dict):
            s["risk"] = rnd.choice(["safe", "risky", "SAFE", None, 1])
    elif op == "rollback":
        s = rnd.choice(steps)
        if isinstance(s, dict):
            s["rollback"] = [{"action": "files.restore", "params": {"paths": ["/"], "backup_step": s.get("id", "x")}}]
    else:
        for s in steps:
            if isinstance(s, dict):
                s["id"] = rnd.choice(["a", "A", "1x", "x" * 41, "-", "", "über", s.get("id", "x")])
    return tree


def m_hosts(tree: Any, rnd: random.Random, pl: Places) -> Any:
    hosts = tree.get("hosts") if isinstance(tree, dict) else None
    if not isinstance(hosts, list) or not hosts:
        return tree
    op = rnd.choice(["dup-name", "many", "state-in-root", "victim-roots", "argv", "kind", "socket", "names", "state-victim"])
    h = rnd.choice(hosts)
    if not isinstance(h, dict):
        return tree
    if op == "dup-name":
        hosts.append(copy.deepcopy(h))
    elif op == "many":
        tree["hosts"] = [{"name": f"h{i}"} for i in range(rnd.choice([100, 3000]))]
    elif op == "state-in-root":
        root = str(pl.scratch / "data")
        h["data_root"] = root
        tree["state_dir"] = rnd.choice([root, root + "/containerd/rmd", root + "//x", root + "/./y"])
    elif op == "state-victim":
        m_state_victim(tree, rnd, pl)
    elif op == "victim-roots":
        for k in ("data_root", "exec_root", "daemon_json"):
            h[k] = rnd.choice(pl.hostile_paths())
    elif op == "argv":
        svc = h.setdefault("service", {})
        if isinstance(svc, dict):
            svc["kind"] = "process"
            svc["argv"] = rnd.choice([[], ["dockerd"], ["dockerd", "--data-root"], ["dockerd", "-H"], "dockerd", [None]])
            svc.setdefault("pidfile", str(pl.scratch / "p.pid"))
            svc.setdefault("log", str(pl.scratch / "l.log"))
    elif op == "kind":
        svc = h.setdefault("service", {})
        if isinstance(svc, dict):
            svc["kind"] = rnd.choice(["systemd", "process", "command", "ssh", "", None, 1, ["systemd"]])
    elif op == "socket":
        h["docker_host"] = rnd.choice(["tcp://0.0.0.0:2375", "unix://", "unix:///", "unix:///" + "a" * 5000,
                                       "unix:///proc/self/root/var/run/docker.sock", "unix:///\0", "npipe:////./pipe/docker"])
    else:
        h["name"] = rnd.choice(["", "-x", "a" * 64, "a b", "[/]", "local\n", "ü", "..", "a/b", "../../x"])
    return tree


# ---- byte-level mutations ----------------------------------------------------------------------------

def bytes_mutations(data: bytes, rnd: random.Random, notes: list[str], limit: int) -> bytes:
    for _ in range(rnd.choice([0, 0, 1, 1, 2])):
        op = rnd.choice(["bom", "utf16", "crlf", "cr", "tabs", "nul", "badutf8", "truncate", "flip", "dupline",
                         "delline", "swaplines", "oversize", "directive", "multidoc"])
        notes.append("bytes:" + op)
        lines = data.split(b"\n")
        if op == "bom":
            data = b"\xef\xbb\xbf" + data
        elif op == "utf16":
            data = data.decode("utf-8", "replace").encode("utf-16")
        elif op == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif op == "cr":
            data = data.replace(b"\n", b"\r")
        elif op == "tabs":
            data = re.sub(rb"(?m)^(  )+", lambda m: b"\t" * (len(m.group(0)) // 2), data)
        elif op == "nul":
            i = rnd.randrange(len(data) + 1)
            data = data[:i] + b"\0" + data[i:]
        elif op == "badutf8":
            i = rnd.randrange(len(data) + 1)
            data = data[:i] + rnd.choice([b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + data[i:]
        elif op == "truncate":
            data = data[: rnd.randrange(len(data) + 1)]
        elif op == "flip":
            b = bytearray(data)
            for _ in range(rnd.randint(1, 5)):
                if b:
                    b[rnd.randrange(len(b))] = rnd.randrange(256)
            data = bytes(b)
        elif op == "dupline" and lines:
            i = rnd.randrange(len(lines))
            lines.insert(i, lines[i])
            data = b"\n".join(lines)
        elif op == "delline" and lines:
            del lines[rnd.randrange(len(lines))]
            data = b"\n".join(lines)
        elif op == "swaplines" and len(lines) > 1:
            i, j = rnd.sample(range(len(lines)), 2)
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == "oversize":
            data += b"# " + b"x" * limit + b"\n"
        elif op == "directive":
            data = rnd.choice([b"%YAML 1.1\n---\n", b"%TAG ! tag:evil.example,2000:\n---\n", b"%YAML 9.9\n---\n"]) + data
        elif op == "multidoc":
            data = data + b"\n---\n" + data
    return data


def whole_file_specials(rnd: random.Random, kind: str) -> tuple[str, bytes]:
    """Inputs that are not a mutation of the seed: bombs, empties, other documents."""
    name = rnd.choice(["alias-bomb", "scalar-alias-bomb", "repr-bomb", "empty", "blank", "comment", "scalar", "list",
                       "deep-block", "deep-flow", "json", "nul-only", "binary", "many-keys", "long-key", "doc-end"])
    if name == "alias-bomb":
        levels = rnd.choice([3, 7, 9])
        lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
        body = "\n".join(lines) + f"\nname: *a{levels - 1}\nsteps: *a{levels - 1}\nhosts: *a{levels - 1}\n"
        return name, body.encode()
    if name == "scalar-alias-bomb":
        body = "x: &s " + "A" * 400_000 + "\nname: *s\nsteps: [" + ", ".join(["*s"] * 100_000) + "]\nhosts: [*s]\n"
        return name, body.encode()
    if name == "repr-bomb":  # a wrong-typed value whose repr is huge: the error message must not build it
        body = "x: &s " + "B" * 300_000 + "\nname: x\nstate_dir: [" + ", ".join(["*s"] * 150_000) + "]\n" \
               "steps:\n  - id: a\n    action: probe.confirm\n    timeout: [" + ", ".join(["*s"] * 50_000) + "]\n" \
               "hosts:\n  - name: [" + ", ".join(["*s"] * 50_000) + "]\n"
        return name, body.encode()
    if name == "empty":
        return name, b""
    if name == "blank":
        return name, b" \n\t\n\r\n"
    if name == "comment":
        return name, b"# nothing\n"
    if name == "scalar":
        return name, rnd.choice([b"42\n", b"hello\n", b'"[/]"\n', b"~\n", b"- \n"])
    if name == "list":
        return name, b"- name: x\n- steps: []\n"
    if name == "deep-block":
        n = rnd.choice([65, 200, 400])
        return name, "".join(" " * i + "a:\n" for i in range(n)).encode() + b" " * n + b"b\n"
    if name == "deep-flow":
        n = rnd.choice([1000, 100_000, 500_000])
        return name, b"name: " + b"[" * n + b"]" * n + b"\n"
    if name == "json":
        return name, json.dumps({"name": "x", "steps": [{"id": "a", "action": "incident.end"}], "hosts": [{"name": "h"}]}).encode()
    if name == "nul-only":
        return name, b"\0" * rnd.choice([1, 1000])
    if name == "binary":
        return name, rnd.randbytes(rnd.choice([16, 4096]))
    if name == "many-keys":
        return name, "".join(f"k{i}: {i}\n" for i in range(rnd.choice([10_000, 70_000]))).encode()
    if name == "long-key":
        return name, b"a" * 2000 + b": 1\nsteps: []\n"
    return name, b"...\n---\n...\n"


def m_state_victim(tree: Any, rnd: random.Random, pl: Places) -> Any:
    """A mild one (configs): a valid config whose state_dir is somebody else's directory."""
    if isinstance(tree, dict):
        tree["state_dir"] = rnd.choice([str(pl.victim), str(pl.victim / "sub"), "/proc/self/root" + str(pl.victim),
                                        str(pl.scratch / "escape" / "sub"), str(pl.victim / "secret.txt")])
    return tree


def mutate_yaml(seed: Any, rnd: random.Random, pl: Places, extra: list[Any], limit: int,
                mild: tuple[Any, ...] = ()) -> tuple[bytes, list[str]]:
    if rnd.random() < 0.06:
        name, data = whole_file_specials(rnd, "yaml")
        return data, [name]
    tree = copy.deepcopy(seed)
    notes = []
    if rnd.random() < 0.25:  # mild: the input should still be valid, and run further
        op = rnd.choice(MILD + list(mild))
        tree = op(tree, rnd, pl)
        return dump(tree, rnd).encode(), [op.__name__.removeprefix("m_")]
    for _ in range(rnd.choice([1, 1, 2, 2, 3])):
        op = rnd.choice(TREE + extra + extra)
        notes.append(op.__name__.removeprefix("m_"))
        tree = op(tree, rnd, pl)
    data = dump(tree, rnd).encode("utf-8", "surrogatepass")
    return bytes_mutations(data, rnd, notes, limit), notes


def runbooks(rnd: random.Random, pl: Places, count: int) -> list[Case]:
    seeds = [load_seed(p) for p in sorted((REPO / "runbooks").glob("*.yaml"))]
    cases = []
    for i in range(count):
        data, notes = mutate_yaml(rnd.choice(seeds), rnd, pl, [m_steps], 1 << 20)
        cases.append(Case("runbook", f"runbook-{i:05d}", data, notes))
    return cases


def config_seed(pl: Places) -> Any:
    """config.example.yaml with every path moved into the scratch directory."""
    text = (REPO / "config.example.yaml").read_text()
    s = str(pl.scratch)
    olds = ("/var/lib/remediator", "/tmp/lab", "/var/lib/docker", "/var/run/docker.sock", "/var/run/docker.pid",
            "/var/run/docker", "/etc/docker/daemon.json", "/var/log/docker.log")
    text = re.sub("|".join(re.escape(o) for o in sorted(olds, key=len, reverse=True)), lambda m: s + "/cfg" + m.group(0), text)
    return load_seed_text(text)


def load_seed_text(text: str) -> Any:
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(text), default=str))


def configs(rnd: random.Random, pl: Places, count: int) -> list[Case]:
    seed = config_seed(pl)
    cases = []
    for i in range(count):
        data, notes = mutate_yaml(seed, rnd, pl, [m_hosts], 1 << 20, mild=(m_state_victim,))
        cases.append(Case("config", f"config-{i:05d}", data, notes))
    return cases


# ---- logs --------------------------------------------------------------------------------------------

def _deep_json(rnd: random.Random) -> str:
    n = rnd.choice([1000, 5000, 200_000])
    shape = rnd.choice(["obj", "arr", "msg"])
    if shape == "obj":
        return '{"a":' * n + "1" + "}" * n
    if shape == "arr":
        return "[" * n + "]" * n
    return '{"MESSAGE": ' + "[" * n + '"containerd: meta.db"' + "]" * n + "}"


def _journald(line: str, rnd: random.Random) -> str:
    msg: Any = rnd.choice([line, list(line.encode("utf-8", "surrogatepass")[:200]), None, 5, {"x": line}, [line]])
    return json.dumps({"__REALTIME_TIMESTAMP": "1700000000000000", "_SYSTEMD_UNIT": rnd.choice(["docker.service", "containerd.service", 5]),
                       "SYSLOG_IDENTIFIER": rnd.choice(["dockerd", "containerd", None]), "MESSAGE": msg, "_PID": "123"})


def _logrus(line: str, rnd: random.Random) -> str:
    q = line.replace("\\", "\\\\").replace('"', '\\"')
    return rnd.choice([f'time="2024-01-01T00:00:00Z" level=error msg="{q}"', f"ERRO[0001] {line}",
                       json.dumps({"level": "fatal", "msg": line, "time": "2024-01-01T00:00:00Z"}),
                       f"Jan 01 00:00:00 host dockerd[123]: {line}", f"[2024-01-01T00:00:00Z][dockerd][E] {line}"])


def mutate_log(seed: str, rnd: random.Random) -> tuple[bytes, list[str]]:
    lines = seed.splitlines()
    notes: list[str] = []
    for _ in range(rnd.choice([1, 2, 3, 4])):
        op = rnd.choice(["deep-json", "huge-line", "quotes", "binary", "truncate", "mix", "ansi", "markup", "nul",
                         "many-lines", "unicode", "shuffle", "journal-json", "cr", "empty"])
        notes.append(op)
        at = rnd.randrange(len(lines) + 1)
        if op == "deep-json":
            lines.insert(at, _deep_json(rnd))
        elif op == "huge-line":
            unit = rnd.choice(["A", '\\"', "\\", "=", '"', " ", "level=error ", "containerd: ", "{", "msg=\"", "é", "\t"])
            n = rnd.choice([1 << 20, 3 << 20])
            prefix = rnd.choice(["", 'time="x" level=error msg="', "ERRO[0000] ", '{"msg":"'])
            lines.insert(at, prefix + unit * (n // len(unit)))
        elif op == "quotes":
            lines.insert(at, 'level=fatal msg="' + '\\"' * rnd.choice([1000, 200_000]) + rnd.choice(['"', ""]))
        elif op == "binary":
            lines.insert(at, rnd.randbytes(rnd.choice([64, 65536])).decode("latin-1"))
        elif op == "truncate" and lines:
            for j in rnd.sample(range(len(lines)), min(len(lines), 5)):
                lines[j] = lines[j][: rnd.randrange(len(lines[j]) + 1)]
        elif op == "mix":  # (the first 5,000 lines: a hostile log, not a 40 MB one)
            lines = [(_journald(x, rnd) if rnd.random() < 0.3 else _logrus(x, rnd) if rnd.random() < 0.4 else x)
                     for x in lines[:5000]] + lines[5000:]
        elif op == "journal-json":
            lines = [_journald(x, rnd) for x in lines[:5000]] + lines[5000:]
        elif op == "ansi":
            lines = [rnd.choice(["\x1b[31m", "\x1b[0m", "\x1b]8;;http://x\x1b\\", "\x1b[2J", "\x1b[1;31m"]) + x for x in lines]
        elif op == "markup":
            lines = [x + rnd.choice(MARKUP) if rnd.random() < 0.5 else rnd.choice(MARKUP) + x for x in lines]
        elif op == "nul":
            lines = [x.replace(" ", "\0", 1) if rnd.random() < 0.3 else x for x in lines]
        elif op == "many-lines":
            lines += ["\n" * rnd.choice([100_000, 1_000_000])] if rnd.random() < 0.5 else ["x"] * 200_000
        elif op == "unicode":
            lines.insert(at, rnd.choice(["e\u0301" * 100_000, "\u202e" * 1000, "😀" * 100_000, "\ud800"]))
        elif op == "shuffle":
            rnd.shuffle(lines)
        elif op == "cr":
            lines = [x + "\r" for x in lines]
        elif op == "empty":
            lines = []
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if rnd.random() < 0.2:
        notes.append("bytes")
        data = rnd.choice([b"\xef\xbb\xbf", b"\xff\xfe", b""]) + data + rnd.choice([b"\xff\xc3(", b"", b"\n"])
        if rnd.random() < 0.3:
            data = data.replace(b"\n", b"\r\n")
    return data, notes


def logs(rnd: random.Random, count: int) -> list[Case]:
    seeds = [p.read_text(errors="replace") for p in sorted((REPO / "tests/data/corpus").glob("*.log"))]
    cases = []
    for i in range(count):
        data, notes = mutate_log(rnd.choice(seeds), rnd)
        cases.append(Case("log", f"log-{i:05d}", data, notes))
    return cases

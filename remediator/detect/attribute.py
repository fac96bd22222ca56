"""Attribution: which program printed a crash, and which database a bbolt panic is in.

Role: pure. A Go panic (`panic: page 12 already freed`, `fatal error: …`, `[signal SIGSEGV …]`) says
nothing about who crashed; the stack frames after it do, and the journald prefix often does
(`containerd[812]:` is the system containerd; but a managed containerd prints under `dockerd[…]`,
so frames win over the prefix). The bbolt frames say the crash is a database's; the caller
frames say which one (S10 in docs/signatures.md; /tmp research in the catalogue's `source` fields):
  containerd metadata plugin       → containerd's meta.db        → containerd-state
  dockerd libnetwork / libkv       → network/files/local-kv.db   → dockerd-db
  dockerd volume service / store   → volumes/metadata.db         → dockerd-db
  dockerd buildkit / builder-next  → buildkit/*.db               → dockerd-db
A crash that is not a database's is containerd-crash when containerd's, unknown when dockerd's.
Must not: do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

STACK_LINES = 160  # frames read after a panic line
BOLT = re.compile(r"go\.etcd\.io/bbolt|github\.com/boltdb/bolt|\bbolt\.\(\*(?:DB|Tx|freelist|node|Cursor|Bucket)\)")
DOCKERD = re.compile(r"github\.com/docker/docker/|github\.com/moby/moby/|/docker/docker/vendor/|\bmain\.\(\*DaemonCli\)|"
                     r"/build-(?:deb|rpm)/engine/|/src/engine/vendor/")  # docker-ce packaging builds dockerd in engine/
# containerd's own *program*: its main, its server and plugin init, or code vendored inside its own tree. Library
# packages alone (containerd/metadata is vendored by BuildKit and dockerd too) never make a crash containerd's.
CONTAINERD = re.compile(r"github\.com/containerd/containerd(?:/v2)?/(?:cmd/containerd|services/server|metadata/plugin|"
                        r"plugins/metadata|cmd/containerd/server|vendor/)|"
                        r"github\.com/docker/containerd/")  # containerd 0.2 (Docker 1.11-17.10) lived under docker/
OTHER_PROGRAM = re.compile(r"(?<!docker/docker/vendor/)github\.com/moby/buildkit/")  # BuildKit (a container's or buildkitd)
FRAME = re.compile(r"^\s*(?:goroutine \d+|created by |[\w./*()\[\]{}-]+\(.*\)(?: \{\.\.\.\})?$|\S*\.(?:go|s):\d+|"
                   r"panic\(|panic: |fatal error: |\[signal |runtime stack:|\.\.\.additional frames|#011|\^I|$)")
JOURNAL_PREFIX = re.compile(r"^(?:.{0,120}?\s[\w.@-]+\[\d+\]:|(?:[A-Z][a-z]{2} +\d+ [\d:]+|\d{4}-\d\d-\d\dT\S+) \S+ [\w.@/-]+:)\s?")
DOCKERD_DBS = (
    (re.compile(r"libnetwork|libkv|kvstore|network controller|endpoint_count|Removing stale sandbox|bridge\" network|"
                r"iptables|DOCKER-ISOLATION|docker0|bridge endpoint"), "network/files/local-kv.db"),
    (re.compile(r"/volume/|volume/service|volume/store|volume store"), "volumes/metadata.db"),
    (re.compile(r"buildkit|builder-next"), "buildkit/*.db"),
    (re.compile(r"daemon/content|content metadata store|fscache"), "content/metadata.db"),
)
CONTAINERD_PROCS = ("containerd", "docker-containerd", "containerd-shim")
NAMES_DOCKERD = re.compile(r"panic detected in dockerd|\bdockerd: panic")
CONTAINERD_UNIT = re.compile(r"(?:^|[.-])containerd$")  # containerd, docker-containerd, microk8s.daemon-containerd
DOCKERD_PROCS = ("dockerd", "docker")


@dataclass(frozen=True)
class Crash:
    owner: str | None  # containerd | dockerd | None (cannot tell)
    bolt: bool
    database: str | None  # for a bolt crash: which file (containerd meta.db, or a path under the data-root)
    why: str

    @property
    def diagnosis(self) -> str:
        if self.bolt and self.owner == "containerd":
            return "containerd-state"
        if self.bolt and self.owner == "dockerd":
            return "dockerd-db"
        if not self.bolt and self.owner == "containerd":
            return "containerd-crash"
        if self.bolt or self.owner == "dockerd":
            return "unknown"  # a database nobody can name, or dockerd's own crash: escalate
        return ""  # a crash of something else (a container's output, a git error): not the daemons' fault


def _dockerd_db(text: str) -> str | None:
    return next((name for pat, name in DOCKERD_DBS if pat.search(text)), None)


def stack_after(lines: Sequence[str]) -> list[str]:
    """The stack block right after a panic line: frames, goroutine headers and file lines, until the first
    line that is none of these (a log line of something else ends the crash's own output)."""
    out: list[str] = []
    for raw in lines[:STACK_LINES]:
        line = JOURNAL_PREFIX.sub("", raw, count=1)
        if not FRAME.search(line):
            break
        out.append(line)
    return out


def crash(proc: str | None, frames: Sequence[str], context: Sequence[str], bolt_message: bool, line: str = "") -> Crash:
    """Attribute one crash from its own line's program and the stack printed after it. The lines around it
    may say which of dockerd's databases a dockerd crash is in; they never make a crash containerd's (a
    container's output and containerd's start-up lines share dockerd's log)."""
    stack = "\n".join(stack_after(frames))
    bolt = bolt_message or bool(BOLT.search(stack))
    if OTHER_PROGRAM.search(stack):
        owner, how = None, "the stack is another program's (BuildKit): not dockerd's nor containerd's own"
    elif DOCKERD.search(stack):
        owner, how = "dockerd", "dockerd's own packages are in the stack"
    elif CONTAINERD.search(stack):
        owner, how = "containerd", "containerd's own program is in the stack"
    elif proc is not None and CONTAINERD_UNIT.search(proc):
        owner, how = "containerd", f"printed by {proc} (its own journal unit)"
    elif NAMES_DOCKERD.search(line):
        owner, how = "dockerd", "the crash line names dockerd"
    elif bolt and _dockerd_db("\n".join(context)):
        owner, how = "dockerd", "a bbolt panic among dockerd's network/volume/build lines"
    elif proc in DOCKERD_PROCS and stack:
        owner, how = "dockerd", f"printed by {proc} with no containerd frames"
    else:
        owner, how = None, "neither its stack nor its program says which daemon crashed"
    database = None
    if bolt and owner == "containerd":
        database = "containerd's meta.db (io.containerd.metadata.v1.bolt/meta.db)"
    elif bolt and owner == "dockerd":
        found = _dockerd_db(stack) or _dockerd_db("\n".join(context[-40:]))
        database = f"<data-root>/{found}" if found else "one of dockerd's databases (network/files/local-kv.db, " \
                                                      "volumes/metadata.db, buildkit)"
    what = "a bbolt database panic" if bolt else "a crash"
    return Crash(owner, bolt, database, f"{what}: {how}" + (f"; the file is {database}" if database else ""))

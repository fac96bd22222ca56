"""Attribution: which program printed a crash, and which database a bbolt panic is in.

Role: pure. A Go panic (`panic: page 12 already freed`, `fatal error: …`, `[signal SIGSEGV …]`) says
nothing about who crashed; the stack frames after it do, and the journald prefix often does
(`containerd[812]:` is the system containerd; but a managed containerd prints under `dockerd[…]`,
so frames win over the prefix). The bbolt frames say the crash is a database's; the caller
frames say which one (DOMAIN §3 S10; /tmp research in the catalogue's `source` fields):
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
DOCKERD = re.compile(r"github\.com/docker/docker/|github\.com/moby/moby/|/docker/docker/vendor/|\bmain\.\(\*DaemonCli\)")
CONTAINERD = re.compile(r"github\.com/containerd/containerd(?:/v2)?/(?:metadata|services|cmd/containerd|snapshots|plugins?|"
                        r"core|gc|vendor|server|runtime|content)|containerd/containerd/vendor/")
DOCKERD_DBS = (
    (re.compile(r"libnetwork|libkv|kvstore|network controller|endpoint_count|Removing stale sandbox|bridge\" network"),
     "network/files/local-kv.db"),
    (re.compile(r"/volume/|volume/service|volume/store|volume store"), "volumes/metadata.db"),
    (re.compile(r"buildkit|builder-next"), "buildkit/*.db"),
    (re.compile(r"daemon/content|content metadata store|fscache"), "content/metadata.db"),
)
CONTAINERD_CONTEXT = re.compile(r"io\.containerd\.|loading plugin|containerd successfully booted|module=containerd|"
                                r"msg=\"?starting containerd")
CONTAINERD_PROCS = ("containerd", "docker-containerd", "containerd-shim")
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
        return "unknown"


def _dockerd_db(text: str) -> str | None:
    return next((name for pat, name in DOCKERD_DBS if pat.search(text)), None)


def crash(proc: str | None, frames: Sequence[str], context: Sequence[str], bolt_message: bool) -> Crash:
    """Attribute one crash from its own line's program, the stack after it, and the lines around it."""
    stack = "\n".join(frames)
    bolt = bolt_message or bool(BOLT.search(stack))
    if DOCKERD.search(stack):
        owner, how = "dockerd", "dockerd's own packages are in the stack"
    elif CONTAINERD.search(stack):
        owner, how = "containerd", "containerd's packages are in the stack"
    elif proc in CONTAINERD_PROCS:
        owner, how = "containerd", f"printed by {proc}"
    else:
        around = "\n".join(context)
        if _dockerd_db(stack + "\n" + around) and bolt:
            owner, how = "dockerd", "the lines around it are dockerd's (network, volumes, build cache)"
        elif CONTAINERD_CONTEXT.search(around):
            owner, how = "containerd", "the lines around it are containerd's start-up"
        elif proc in DOCKERD_PROCS and frames:
            owner, how = "dockerd", f"printed by {proc} with no containerd frames"
        else:
            owner, how = None, "neither the stack nor the lines around it say which program crashed"
    database = None
    if bolt and owner == "containerd":
        database = "containerd's meta.db (io.containerd.metadata.v1.bolt/meta.db)"
    elif bolt and owner == "dockerd":
        found = _dockerd_db(stack) or _dockerd_db("\n".join(context))
        database = f"<data-root>/{found}" if found else "one of dockerd's databases (network/files/local-kv.db, " \
                                                      "volumes/metadata.db, buildkit)"
    what = "a bbolt database panic" if bolt else "a crash"
    return Crash(owner, bolt, database, f"{what}: {how}" + (f"; the file is {database}" if database else ""))

"""What the daemon must remember across restarts, beside the journal: per-host flags (quarantine, pause),
pending and decided approvals, refusals, and the last status of each host.

Role: one SQLite file, <state_dir>/daemon.sqlite3 (0600, WAL): the daemon writes it, the CLI (`status`,
`approvals`) reads it even when the daemon is down. Approvals wake their waiter at once in-process (a
Condition) and are seen across processes at the next poll.
Must not: decide anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from remediator import access, modes
from remediator.clock import SYSTEM, Clock
from remediator.errors import BadStateFile, JournalError
from remediator.redact import redact_text as redact
from remediator.safeio import check_schema, checked_rows, state_file
from remediator.vocab import Diagnosis, HostState

SCHEMA = """
CREATE TABLE IF NOT EXISTS flags (
  host TEXT PRIMARY KEY, quarantined TEXT, quarantined_at REAL, paused TEXT, paused_at REAL, released_at REAL
);
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, incident TEXT NOT NULL, host TEXT NOT NULL, step TEXT NOT NULL, plan_sha256 TEXT NOT NULL,
  summary TEXT NOT NULL, changes TEXT NOT NULL, requested REAL NOT NULL, expires REAL NOT NULL,
  decision TEXT, by TEXT, decided REAL, note TEXT
);
CREATE TABLE IF NOT EXISTS refusals (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, host TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS status (
  host TEXT PRIMARY KEY, state TEXT NOT NULL, verdict TEXT, verdict_at REAL, reason TEXT, open_incident TEXT,
  updated REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Approval:
    id: str
    incident: str
    host: str
    step: str
    plan_sha256: str
    summary: str
    changes: list[str]
    requested: float
    expires: float
    decision: str | None
    by: str | None
    decided: float | None
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class HostStatus:
    host: str
    state: str
    verdict: str | None
    verdict_at: float | None
    reason: str | None
    open_incident: str | None
    updated: float


COLUMNS = {"flags": ("host", "quarantined", "quarantined_at", "paused", "paused_at", "released_at"),
           "approvals": ("id", "incident", "host", "step", "plan_sha256", "summary", "changes", "requested", "expires",
                         "decision", "by", "decided", "note"),
           "refusals": ("seq", "ts", "host", "reason", "detail"),
           "status": ("host", "state", "verdict", "verdict_at", "reason", "open_incident", "updated")}
_APPROVAL = ", ".join(COLUMNS["approvals"])  # never SELECT *: a table with more columns than ours is not ours
_S, _N = (str, type(None)), (int, float, type(None))
TYPES = {"flags": (str, _S, _S), "approval": (str, str, str, str, str, str, str, (int, float), (int, float), _S, _S, _N, _S),
         "refusal": ((int, float), str, str, _S), "status": (str, str, _S, _N, _S, _S, (int, float)), "released": (_N,)}


class Store:
    def __init__(self, state_dir: Path, *, readonly: bool = False, clock: Clock = SYSTEM) -> None:
        """The store of state_dir. readonly (`status`): never create, chmod or write anything; an absent store
        reads as empty. A file that is not this store is BadStateFile (exit 2), never rewritten. `clock` stamps
        and expires what it stores (tests: a fake one)."""
        self.clock = clock
        self._lock = threading.Lock()
        self.changed = threading.Condition()
        self.path = state_dir / "daemon.sqlite3"
        self.readonly = readonly
        self.db = sqlite3.connect(":memory:", check_same_thread=False)  # replaced below when there is a file
        try:
            if readonly:
                if state_file(self.path):
                    self.db.close()
                    self.db = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=10,
                                              isolation_level=None, check_same_thread=False)
                    if check_schema(self.db, self.path, COLUMNS, what="remediator daemon store"):
                        return
                    self.db.close()
                    self.db = sqlite3.connect(":memory:", check_same_thread=False)
                self.db.executescript(SCHEMA)  # none yet: an empty one in memory, nothing on disk
                return
            modes.state_dir(state_dir)  # checked (never chmod-ed) or created 0700, before anything is made in it
            path = self.path
            if not state_file(path):  # never open and close an existing one: that drops this process's SQLite locks
                with contextlib.suppress(FileExistsError):
                    os.close(modes.create_file(path, 0o600))
            self.db.close()
            self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            check_schema(self.db, path, COLUMNS, what="remediator daemon store")  # before anything is written
            os.chmod(path, 0o600)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except BadStateFile:
            self.db.close()
            raise
        except PermissionError as exc:  # the operator's access, said as such: exit 2
            self.db.close()
            raise access.denied("the state directory", str(state_dir), exc, want=os.W_OK) from exc
        except (OSError, sqlite3.Error) as exc:  # nothing was done yet: bad input/environment (exit 2)
            self.db.close()
            raise BadStateFile(f"cannot open the daemon store {self.path}: {exc}") from exc

    def _exec(self, sql: str, args: tuple[Any, ...] = (), types: str = "") -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                rows = self.db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:  # locked, I/O: not the file's fault
                raise JournalError(f"daemon store: {exc}") from exc
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # malformed, not a database, not UTF-8
                raise BadStateFile(f"{self.path}: damaged ({exc}); it was left as it is") from None
        return checked_rows(rows, TYPES[types], self.path, types) if types else rows

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One statement; the number of rows it changed (a compare-and-set reads it to know whether it won)."""
        with self._lock:
            try:
                return self.db.execute(sql, args).rowcount
            except sqlite3.Error as exc:
                raise JournalError(f"daemon store: {exc}") from exc

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # ---- flags -------------------------------------------------------------------------------
    def all_flags(self) -> dict[str, tuple[str | None, str | None]]:
        """flags() of every host that has any, in one query (a liveness round reads them all)."""
        return {r[0]: (r[1], r[2]) for r in self._exec("SELECT host, quarantined, paused FROM flags", (), "flags")}

    def flags(self, host: str) -> tuple[str | None, str | None]:
        """(quarantine reason, pause reason) of a host; None where it is not."""
        rows = self._exec("SELECT host, quarantined, paused FROM flags WHERE host=?", (host,), "flags")
        return (rows[0][1], rows[0][2]) if rows else (None, None)

    def released_at(self, host: str) -> float:
        """When a human last released the host from quarantine (0: never): its budget counts from then."""
        rows = self._exec("SELECT released_at FROM flags WHERE host=?", (host,), "released")
        return float(rows[0][0] or 0.0) if rows else 0.0

    def set_flag(self, host: str, flag: str, reason: str | None) -> bool:
        """Set (reason) or clear (None) 'quarantined' or 'paused'; return whether it changed. Idempotent."""
        assert flag in ("quarantined", "paused")
        before = self.flags(host)[0 if flag == "quarantined" else 1]
        self._exec("INSERT OR IGNORE INTO flags (host) VALUES (?)", (host,))
        self._exec(f"UPDATE flags SET {flag}=?, {flag}_at=? WHERE host=?",  # noqa: S608 - flag is one of two literals
                   (reason, self.clock.wall() if reason else None, host))
        if flag == "quarantined" and reason is None and before is not None:
            self._exec("UPDATE flags SET released_at=? WHERE host=?", (self.clock.wall(), host))
        self._notify()
        return (before is None) != (reason is None)

    # ---- approvals ---------------------------------------------------------------------------
    def _approval(self, row: tuple[Any, ...]) -> Approval:
        checked_rows([row], TYPES["approval"], self.path, "approval")
        try:
            changes = json.loads(row[6])
        except (ValueError, RecursionError):
            changes = None
        if not isinstance(changes, list) or not all(isinstance(c, str) for c in changes):
            raise BadStateFile(f"{self.path}: approval {row[0]!r} holds no list of changes; it was left as it is")
        return Approval(row[0], row[1], row[2], row[3], row[4], row[5], changes, *row[7:])

    def request(self, *, incident: str, host: str, step: str, plan_sha256: str, summary: str, changes: list[str],
                ttl: float) -> Approval:
        """A pending approval for exactly this plan; asking again for the same plan returns the same one."""
        rows = self._exec(f"SELECT {_APPROVAL} FROM approvals WHERE incident=? AND step=? AND plan_sha256=? AND decision IS NULL",  # noqa: S608
                          (incident, step, plan_sha256))
        if rows:
            return self._approval(rows[0])
        for stale in self._exec("SELECT id FROM approvals WHERE incident=? AND step=? AND decision IS NULL",
                                (incident, step)):  # asked again for a changed plan: the old question is void
            self.decide(stale[0], "withdrawn", "daemon", "the plan changed (facts or runbook): asked again")
        now = self.clock.wall()
        aid = uuid.uuid4().hex[:12]
        a = Approval(aid, incident, host, step, plan_sha256, redact(summary)[:2000],
                     [redact(c)[:500] for c in changes[:50]], now, now + ttl, None, None, None, None)
        self._exec("INSERT INTO approvals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (a.id, a.incident, a.host, a.step, a.plan_sha256, a.summary, json.dumps(a.changes), a.requested,
                    a.expires, a.decision, a.by, a.decided, a.note))
        self._notify()
        return a  # what was written, field for field

    def approval(self, aid: str) -> Approval | None:
        rows = self._exec(f"SELECT {_APPROVAL} FROM approvals WHERE id=?", (aid,))  # noqa: S608
        return self._approval(rows[0]) if rows else None

    def approvals(self, *, pending_only: bool = True, limit: int = 200) -> list[Approval]:
        self.expire()
        where = "WHERE decision IS NULL" if pending_only else ""
        rows = self._exec(f"SELECT {_APPROVAL} FROM approvals {where} ORDER BY requested DESC LIMIT ?", (limit,))  # noqa: S608
        return [self._approval(r) for r in rows]

    def find_pending(self, ident: str, step: str | None = None) -> list[Approval]:
        """Pending approvals by approval id, or by incident id (and step)."""
        self.expire()
        rows = self._exec(f"SELECT {_APPROVAL} FROM approvals WHERE decision IS NULL AND (id=? OR incident=?) "  # noqa: S608
                          "AND (? IS NULL OR step=?) ORDER BY requested DESC", (ident, ident, step, step))
        return [self._approval(r) for r in rows]

    def decide(self, aid: str, decision: str, by: str, note: str = "") -> Approval | None:
        """approved / denied / expired / withdrawn, once: a second decision returns the first, unchanged."""
        return self.settle(aid, decision, by, note)[1]

    def settle(self, aid: str, decision: str, by: str, note: str = "") -> tuple[bool, Approval | None]:
        """The decision as one compare-and-set: (True, it) when this call decided, (False, what the store holds)
        when another decision came first. Exactly one of two racing callers wins; the loser learns the winner."""
        won = self._write("UPDATE approvals SET decision=?, by=?, decided=?, note=? WHERE id=? AND decision IS NULL",
                          (decision, by[:200], self.clock.wall(), note[:500], aid)) == 1
        if won:
            self._notify()
        return won, self.approval(aid)

    def annotate(self, aid: str, note: str) -> None:
        """Add why a decided approval was not acted on (e.g. the host recovered by itself meanwhile)."""
        self._exec("UPDATE approvals SET note=? WHERE id=?", (redact(note)[:500], aid))

    def expire(self) -> None:
        if self.readonly:  # `status` reads; the daemon expires
            return
        self._exec("UPDATE approvals SET decision='expired', by='ttl', decided=? WHERE decision IS NULL AND expires<?",
                   (self.clock.wall(), self.clock.wall()))

    def wait_decision(self, aid: str, until: float, stop: threading.Event) -> Approval | None:
        """Block until the approval is decided, it expires (then it is marked so), or stop is set."""
        while not stop.is_set():
            a = self.approval(aid)
            if a is None or a.decision is not None:
                return a
            if self.clock.wall() >= min(until, a.expires):
                return self.decide(aid, "expired", "ttl", "nobody decided in time")
            with self.changed:
                self.changed.wait(timeout=min(1.0, max(0.01, a.expires - self.clock.wall())))
        return self.approval(aid)

    # ---- the daemon's own heartbeat ----------------------------------------------------------
    def mark_round(self, at: float | None = None) -> None:
        """When the daemon's last round ended (`status` shows its age: a stopped daemon's view is stale)."""
        self._write("INSERT INTO meta (key, value) VALUES ('last_round', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (at if at is not None else self.clock.wall(),))

    def last_round(self) -> float | None:
        rows = self._exec("SELECT value FROM meta WHERE key='last_round'")
        return float(rows[0][0]) if rows else None

    # ---- refusals and status -----------------------------------------------------------------
    def refuse(self, host: str, reason: str, detail: str = "") -> None:
        self._exec("INSERT INTO refusals (ts, host, reason, detail) VALUES (?,?,?,?)",
                   (self.clock.wall(), host, redact(reason), redact(detail)[:500]))

    def refusals(self, host: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._exec("SELECT ts, host, reason, detail FROM refusals WHERE (? IS NULL OR host=?) "
                          "ORDER BY seq DESC LIMIT ?", (host, host, limit), "refusal")
        return [{"ts": r[0], "host": r[1], "reason": r[2], "detail": r[3]} for r in rows]

    def set_status(self, host: str, state: HostState, *, verdict: Diagnosis | None = None, reason: str | None = None,
                   open_incident: str | None = None) -> None:
        """One statement (one commit): the state, reason and open incident; the verdict and its time only when
        one is given (a round that learnt nothing new about the verdict keeps the last one)."""
        now = self.clock.wall()
        self._exec("INSERT INTO status (host, state, verdict, verdict_at, reason, open_incident, updated) "
                   "VALUES (?,?,?,?,?,?,?) ON CONFLICT(host) DO UPDATE SET state=excluded.state, "
                   "reason=excluded.reason, open_incident=excluded.open_incident, updated=excluded.updated, "
                   "verdict=coalesce(excluded.verdict, verdict), verdict_at=coalesce(excluded.verdict_at, verdict_at)",
                   (host, state, verdict, now if verdict is not None else None, reason and redact(reason), open_incident, now))

    def statuses(self) -> dict[str, HostStatus]:
        rows = self._exec("SELECT host, state, verdict, verdict_at, reason, open_incident, updated FROM status", (),
                          "status")
        return {r[0]: HostStatus(*r) for r in rows}

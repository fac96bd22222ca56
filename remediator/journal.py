"""The incident journal (SQLite, WAL, synchronous=FULL) and the per-host lock.

Role: remember every incident, state change, step intent and outcome, approval, and where its
evidence and backups are. A mutating step's intent is committed before it starts.
The host lock is an flock on <state_dir>/locks/<host>.lock: the kernel drops it when the holder
dies, so a crashed run never blocks the host forever.
Must not: decide anything; it stores and answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from remediator import access, modes
from remediator.errors import BadStateFile, HostBusy, JournalError
from remediator.redact import redact_obj, redact_text
from remediator.safeio import check_schema, checked_rows, state_file
from remediator.vocab import EventKind

# 1: incidents + events. 2: results carry `changed`, facts carry the containerd socket and pidfile, incidents
# with no `ended` are in flight and are resumed (an older journal's open incidents are resumed the same way).
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
  id TEXT PRIMARY KEY, host TEXT NOT NULL, runbook TEXT NOT NULL, runbook_sha256 TEXT NOT NULL,
  dry_run INTEGER NOT NULL, started REAL NOT NULL, ended REAL, state TEXT NOT NULL,
  outcome TEXT, summary TEXT, dir TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, incident TEXT NOT NULL REFERENCES incidents(id),
  ts REAL NOT NULL, kind TEXT NOT NULL, step TEXT, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_incident ON events(incident, seq);
"""


@dataclass(frozen=True)
class IncidentRow:
    id: str
    host: str
    runbook: str
    dry_run: bool
    started: float
    ended: float | None
    state: str
    outcome: str | None
    summary: str | None
    dir: str


COLUMNS = {"incidents": ("id", "host", "runbook", "runbook_sha256", "dry_run", "started", "ended", "state", "outcome",
                         "summary", "dir"),
           "events": ("seq", "incident", "ts", "kind", "step", "detail")}
NUM = (int, float)
ROW_TYPES = (str, str, str, int, NUM, (*NUM, type(None)), str, (str, type(None)), (str, type(None)), str)
EVENT_TYPES = (NUM, str, (str, type(None)), str)


class Journal:
    def __init__(self, state_dir: Path, *, readonly: bool = False) -> None:
        """The journal of state_dir. readonly (the listing commands): never create, chmod or write anything; an
        absent or empty journal reads as no incidents. A file that is not this journal (garbage, truncated, another
        schema, a newer one, a directory or FIFO in its place) is BadStateFile (exit 2), never rewritten."""
        self.state_dir = state_dir
        self.path = state_dir / "journal.sqlite3"
        self.readonly = readonly  # every write (and an incident's directory) refused: a listing changes nothing
        self._lock = threading.Lock()
        self._real = False  # a real (not dry-run) incident was opened here: a failed write is no longer "bad input"
        self.db = sqlite3.connect(":memory:", check_same_thread=False)  # replaced below; closed when it is
        try:
            if readonly:
                self._open_readonly()
            else:
                self._open()
        except BadStateFile:
            self.db.close()
            raise
        except PermissionError as exc:  # the operator's access, said as such: exit 2, never "no incidents"
            self.db.close()
            raise access.denied("the state directory", str(state_dir), exc, want=os.W_OK) from exc
        except (OSError, sqlite3.Error) as exc:  # locked too long, unreadable, text SQLite cannot decode: nothing
            self.db.close()  # was done yet, so this is bad input/environment (exit 2), not a failure of an incident
            raise BadStateFile(f"cannot open the journal {self.path}: {exc}") from exc

    def _open(self) -> None:
        state_dir, path = self.state_dir, self.path
        modes.state_dir(state_dir)  # checked (never chmod-ed) or created 0700, before anything is made in it
        if not state_file(path):  # never open and close an existing journal: closing any descriptor of it drops
            try:  # every SQLite lock this process holds on it, and another process may then checkpoint under us
                os.close(modes.create_file(path, 0o600))  # SQLite gives its -wal and -shm files this mode
            except FileExistsError:
                pass
        self.db.close()
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                  check_same_thread=False)  # guarded by self._lock
        ours = check_schema(self.db, path, COLUMNS, what="remediator journal")  # before anything is written
        self._version(self.db)
        os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        if not ours or self._version(self.db) < SCHEMA_VERSION:
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _open_readonly(self) -> None:
        if state_file(self.path):
            self.db.close()
            self.db = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=10,
                                      isolation_level=None, check_same_thread=False)
            if check_schema(self.db, self.path, COLUMNS, what="remediator journal"):
                self._version(self.db)
                return
            self.db.close()
            self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.executescript(SCHEMA)  # no journal yet: an empty one in memory, nothing on disk

    def _version(self, db: sqlite3.Connection) -> int:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise BadStateFile(f"{self.path}: the journal is schema {version}, newer than this remediator "
                               f"({SCHEMA_VERSION}): upgrade remediator (the file was left as it is)")
        return version

    def _read(self, sql: str, args: tuple[Any, ...], types: tuple[Any, ...], what: str) -> list[tuple[Any, ...]]:
        """Rows of a query, each value of its column's type; a damaged file is BadStateFile naming it."""
        with self._lock:
            try:
                rows = self.db.execute(sql, args).fetchall()
            except (sqlite3.Error, UnicodeDecodeError) as exc:  # sqlite3 raises the latter for some damaged text
                raise self._failed(exc, "read") from exc
        return checked_rows(rows, types, self.path, what)

    def _failed(self, exc: Exception, what: str) -> JournalError:
        """A failed read or write: BadStateFile (exit 2) while nothing can have been changed by this process (no
        real incident opened here) and the file is at fault (not merely locked); else JournalError."""
        if self._real or "locked" in str(exc):
            return JournalError(f"journal {what} failed ({self.path}): {exc}")
        return BadStateFile(f"{self.path}: damaged ({exc}); it was left as it is")

    def disconnect(self) -> None:
        """Close the connection now, deterministically (the app layer opens one per incident; a long-lived process
        such as the daemon must not accumulate them until the garbage collector runs)."""
        with self._lock:
            self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._write_locked(sql, args)

    def _write_locked(self, sql: str, args: tuple[Any, ...]) -> None:
        if self.readonly:
            raise JournalError(f"the journal {self.path} was opened read-only: nothing is written")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(sql, args)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise self._failed(exc, "write") from exc

    def open_incident(self, *, host: str, runbook: str, sha256: str, dry_run: bool) -> IncidentRow:
        if self.readonly:
            raise JournalError(f"the journal {self.path} was opened read-only: no incident is opened")
        iid = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        idir = self.state_dir / "incidents" / iid
        try:
            modes.makedirs(idir)  # incidents/ too: 0700 whatever the umask
        except OSError as exc:
            raise JournalError(f"cannot create the incident directory {idir}: {exc.strerror or exc}") from exc
        row = IncidentRow(iid, host, runbook, dry_run, time.time(), None, "healthy", None, None, str(idir))
        self._write("INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (iid, host, runbook, sha256, int(dry_run), row.started, None, row.state, None, None, str(idir)))
        self._real = self._real or not dry_run
        return row

    def event(self, incident: str, kind: EventKind, step: str | None = None, **detail: Any) -> None:
        self._write("INSERT INTO events (incident, ts, kind, step, detail) VALUES (?,?,?,?,?)",
                    (incident, time.time(), kind, step, json.dumps(redact_obj(detail), default=str)))

    def set_state(self, incident: str, state: str) -> None:
        self._write("UPDATE incidents SET state=? WHERE id=?", (state, incident))

    def close(self, incident: str, outcome: str, summary: str, runbook: str | None = None) -> None:
        """End an incident; `runbook` replaces the first runbook's name with the chain the ladder ran."""
        summary = redact_text(summary)  # a failed hook's stderr can end up in it
        if runbook is None:
            self._write("UPDATE incidents SET outcome=?, summary=?, ended=? WHERE id=?",
                        (outcome, summary, time.time(), incident))
        else:
            self._write("UPDATE incidents SET outcome=?, summary=?, ended=?, runbook=? WHERE id=?",
                        (outcome, summary, time.time(), runbook, incident))

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[IncidentRow]:
        sql = f"SELECT id, host, runbook, dry_run, started, ended, state, outcome, summary, dir FROM incidents {where}"  # noqa: S608
        rows = self._read(sql, args, ROW_TYPES, "incident")  # `where` is always one of our literals
        return [IncidentRow(r[0], r[1], r[2], bool(r[3]), *r[4:]) for r in rows]

    def incidents(self, limit: int = 50) -> list[IncidentRow]:
        return self._rows("ORDER BY started DESC LIMIT ?", (limit,))

    def in_flight(self, host: str) -> IncidentRow | None:
        """The host's newest real (not dry-run) incident that never ended: its operator died or was stopped."""
        rows = self._rows("WHERE host = ? AND ended IS NULL AND dry_run = 0 ORDER BY started DESC LIMIT 1", (host,))
        return rows[0] if rows else None

    def in_flight_all(self) -> dict[str, IncidentRow]:
        """in_flight() of every host that has one, in one query (the daemon's round reads them all)."""
        rows = self._rows("WHERE ended IS NULL AND dry_run = 0 ORDER BY started", ())
        return {r.host: r for r in rows}  # the newest per host wins, as in in_flight()

    def host_incidents(self, host: str, since: float) -> list[IncidentRow]:
        """A host's incidents started since a time, or still open (the daemon's limits read these)."""
        return self._rows("WHERE host = ? AND (started >= ? OR ended IS NULL OR ended >= ?) ORDER BY started",
                          (host, since, since))

    def incident(self, iid: str) -> IncidentRow | None:
        """One incident by id or unique id prefix."""
        rows = self._rows("WHERE id = ? OR id LIKE ? ORDER BY id = ? DESC LIMIT 2", (iid, iid.replace("%", "") + "%", iid))
        return rows[0] if rows and (rows[0].id == iid or len(rows) == 1) else None

    def events(self, iid: str) -> list[tuple[float, str, str | None, dict[str, Any]]]:
        """An incident's lines in order: (ts, kind, step, detail). The kind is as stored (compare it with EventKind:
        a StrEnum member equals its word; a journal written by another version may hold others)."""
        rows = self._read("SELECT ts, kind, step, detail FROM events WHERE incident=? ORDER BY seq", (iid,), EVENT_TYPES,
                          "event")
        out = []
        for r in rows:
            try:
                detail = json.loads(r[3])
            except (ValueError, RecursionError):
                detail = None
            if not isinstance(detail, dict):
                raise BadStateFile(f"{self.path}: an event of incident {iid} holds no JSON object; it was left as it is")
            out.append((float(r[0]), r[1], r[2], detail))
        return out


class HostLock:
    """At most one incident per host, across processes; released by the kernel if we die."""

    def __init__(self, state_dir: Path, host: str) -> None:
        modes.makedirs(state_dir / "locks")
        self.path = state_dir / "locks" / f"{host}.lock"
        self.fd: int | None = None

    def __enter__(self) -> HostLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            raise HostBusy(f"another incident is running on this host (pid {holder or '?'} holds {self.path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

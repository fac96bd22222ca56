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

from remediator import access, modes
from remediator.errors import HostBusy, JournalError
from remediator.redact import redact_obj, redact_text

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


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._lock = threading.Lock()
        try:
            modes.state_dir(state_dir)  # checked (never chmod-ed) or created 0700, before anything is made in it
            path = state_dir / "journal.sqlite3"
            if not path.exists():  # never open and close an existing journal: closing any descriptor of it drops
                try:  # every SQLite lock this process holds on it, and another process may then checkpoint under us
                    os.close(modes.create_file(path, 0o600))  # SQLite gives its -wal and -shm files this mode
                except FileExistsError:
                    pass
            self.db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                      check_same_thread=False)  # guarded by self._lock
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(f"the journal in {state_dir} is schema {version}, newer than this remediator "
                                   f"({SCHEMA_VERSION}): upgrade remediator")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except PermissionError as exc:  # the operator's access, said as such: exit 2, never "no incidents"
            raise access.denied("the state directory", str(state_dir), exc, want=os.W_OK) from exc
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal in {state_dir}: {exc}") from exc

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
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(sql, args)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:  # e.g. SQLITE_FULL at COMMIT: end it, or every later write fails on BEGIN
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise JournalError(f"journal write failed: {exc}") from exc

    def open_incident(self, *, host: str, runbook: str, sha256: str, dry_run: bool) -> IncidentRow:
        iid = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        idir = self.state_dir / "incidents" / iid
        try:
            modes.makedirs(idir)  # incidents/ too: 0700 whatever the umask
        except OSError as exc:
            raise JournalError(f"cannot create the incident directory {idir}: {exc.strerror or exc}") from exc
        row = IncidentRow(iid, host, runbook, dry_run, time.time(), None, "healthy", None, None, str(idir))
        self._write("INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (iid, host, runbook, sha256, int(dry_run), row.started, None, row.state, None, None, str(idir)))
        return row

    def event(self, incident: str, kind: str, step: str | None = None, **detail: Any) -> None:
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
        with self._lock:
            sql = f"SELECT id, host, runbook, dry_run, started, ended, state, outcome, summary, dir FROM incidents {where}"  # noqa: S608
            rows = self.db.execute(sql, args).fetchall()  # `where` is always one of our literals
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
        with self._lock:
            rows = self.db.execute("SELECT ts, kind, step, detail FROM events WHERE incident=? ORDER BY seq", (iid,)).fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


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

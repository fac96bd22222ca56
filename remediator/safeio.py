"""Reading what a user or a disk hands us: regular files only, bounded; SQLite files checked before use.

Role: the one rule for every read of a path the user names (config, runbook, `diagnose --log FILE`, a token
file, daemon.json, a service log): opened without blocking (O_NONBLOCK: a FIFO with no writer would hang an
open), fstat'ed, refused unless a regular file (a FIFO, socket, device or directory is an OSError whose
strerror says what it is), then read at most `limit` bytes, 1 MiB at a time. And the one rule for opening the
journal and the daemon store: the path must be a regular file (not a directory, FIFO or symlink), a wrong or
damaged database is refused naming the file (BadStateFile, exit 2) and never rewritten.
Must not: import anything from the package but errors.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path
from typing import IO, Any, BinaryIO

from remediator import access
from remediator.errors import BadStateFile

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symlink"))


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words ('a regular file', 'a FIFO', ...)."""
    return next((name for test, name in KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else "not a file")


def open_regular(path: str | Path, *, follow: bool = True) -> BinaryIO:
    """`path` opened for reading, if it is a regular file; else OSError (strerror: what it is instead).
    follow=False also refuses a symlink as the last component (O_NOFOLLOW: for secrets such as token files)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise OSError(errno.ELOOP, "a symlink, not a regular file (refused)", str(path)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file (refused)", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(fh: IO[bytes], limit: int) -> bytes | None:
    """At most limit bytes, 1 MiB at a time: the memory taken follows what is there, not the cap (one
    read(limit) sets aside the whole cap first, for /proc/self/environ as for a pipe). Chunks are kept apart
    until the end (a growing buffer is copied as it grows: twice the cap at the worst moment). None when the
    input is longer than the limit: it is dropped without ever being joined."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = fh.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    chunks.clear()
    return None


def read_regular(path: str | Path, limit: int, *, follow: bool = True) -> bytes | None:
    """The whole regular file at `path` if it holds at most `limit` bytes, else None; OSError if it cannot be
    read or is not a regular file."""
    with open_regular(path, follow=follow) as fh:
        return read_bounded(fh, limit)


# ---- SQLite state files (the journal, the daemon store) ----------------------------------------------------

Columns = dict[str, tuple[str, ...]]  # table -> the columns this code reads and writes


def _refuse(path: Path, why: str) -> BadStateFile:
    return BadStateFile(f"{path}: {why}; it was left as it is (move it aside to start a new one, or restore it "
                        "from a backup)")


def state_file(path: Path) -> bool:
    """Whether the state file exists: True for a regular file, False when absent; BadStateFile for anything
    else in its place (a directory, FIFO, socket, device or symlink: never opened, never chmod'ed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except PermissionError as exc:  # the operator's access, said as such (exit 2): not a damaged file
        raise access.denied("the state file", str(path), exc) from None
    except OSError as exc:
        raise _refuse(path, f"cannot be looked at ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, f"is {kind_of(st.st_mode)}, not a database file")
    if 0 < st.st_size < 512:  # SQLite reads a file shorter than one page as an empty database, and would write it
        raise _refuse(path, f"is {st.st_size} bytes: too short to be a database (truncated?)")
    return True


def check_schema(db: sqlite3.Connection, path: Path, columns: Columns, *, what: str) -> bool:
    """Whether the database at `path` is usable as `what`: True when it has every table and column of
    `columns`, False when it holds no table at all (new: the caller may create them); BadStateFile for a
    file that is not a database, is damaged, or is some other database. Reads only."""
    try:
        tables: dict[str, set[str]] = {}
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            tables[name] = {r[1] for r in db.execute("SELECT * FROM pragma_table_info(?)", (name,)).fetchall()}
    except sqlite3.OperationalError:
        raise  # locked, I/O: not the file's fault (the caller's JournalError)
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # not a database, malformed; a name that is not UTF-8
        raise _refuse(path, f"is not a usable {what} ({exc})") from None
    if not tables:
        return False
    for table, cols in columns.items():
        missing = set(cols) - tables.get(table, set())
        if table not in tables or missing:
            raise _refuse(path, f"is not a {what}: " + (f"no table {table}" if table not in tables
                                                      else f"table {table} lacks {', '.join(sorted(missing))}"))
    return True


def checked_rows(rows: list[tuple[Any, ...]], types: tuple[type | tuple[type, ...], ...], path: Path,
                 what: str) -> list[tuple[Any, ...]]:
    """`rows` if every value has the type its column must have (SQLite stores any type anywhere); else
    BadStateFile naming the file (a row written by something else, or damaged)."""
    for row in rows:
        for i, (value, want) in enumerate(zip(row, types, strict=True)):
            if not isinstance(value, want):
                raise _refuse(path, f"holds a {what} whose column {i + 1} is {type(value).__name__} {str(value)[:40]!r}")
    return rows

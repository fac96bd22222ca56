"""Local filesystem operations that must be safe: confinement, tree walk, backup, clear, restore.

Role: the tree walk, backup, clear and restore of state (hosts/quarantine.py moves state aside and
hosts/service.py a stale pidfile; nothing else deletes or copies it), reached by the upper layers only through the Host
port (`host.fs`, hosts/statefiles.py). Every delete is confined to declared roots, never follows a
symlink, never crosses into a mount, and needs a verified backup manifest. Every removal and rename
goes through a `Mutations` object, so FakeHost can make the Nth one fail (EIO half-way).
Must not: decide *what* to clear (runbooks do) or talk to Docker.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from remediator import crashpoints, modes
from remediator.errors import BackupError, UnsafeOperation
from remediator.hosts.port import Entry

CHUNK = 1 << 20


class Mutations:
    """Every removal and rename of the state surgery (a fault injector overrides these)."""

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def rmtree(self, path: str) -> None:
        shutil.rmtree(path)  # fd-based on Linux: never follows symlinks

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def move(self, src: str, dst: str) -> None:
        shutil.move(src, dst)


REAL = Mutations()


def confine(path: str, roots: Sequence[str]) -> Path:
    """Given a path and allowed roots, return it if it lies strictly inside one root with no
    symlink on the way down from that root (the root itself may be a symlink, e.g. /var/run).
    Raise UnsafeOperation otherwise."""
    norm = os.path.normpath(path)
    if not os.path.isabs(norm) or norm == "/":
        raise UnsafeOperation(f"refusing {path!r}: not an absolute path below a root")
    for root in roots:
        root_n = os.path.normpath(root)
        if root_n == "/" or not (norm + "/").startswith(root_n + "/"):
            continue
        if norm == root_n:
            raise UnsafeOperation(f"refusing {path!r}: it is the root {root} itself")
        current = os.path.realpath(root_n)
        for part in os.path.relpath(norm, root_n).split(os.sep):
            current = os.path.join(current, part)
            try:
                if stat.S_ISLNK(os.lstat(current).st_mode):
                    raise UnsafeOperation(f"refusing {path!r}: {current} is a symlink")
            except FileNotFoundError:
                break
        return Path(current if os.path.lexists(current) else norm)
    raise UnsafeOperation(f"refusing {path!r}: outside the allowed roots {', '.join(roots)}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "dir"), (stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "other"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def walk(top: str | Path, *, hashes: bool = True) -> Iterator[Entry]:
    """Yield every entry under top (top included) without following symlinks or crossing mounts."""
    top = str(top)
    top_st = os.lstat(top)
    stack = [(".", top_st)]
    while stack:
        rel, st = stack.pop()
        full = top if rel == "." else os.path.join(top, rel)
        kind = _kind(st.st_mode)
        if kind == "dir" and st.st_dev != top_st.st_dev:
            kind = "mount"
        yield Entry(rel=rel, kind=kind, mode=stat.S_IMODE(st.st_mode), size=st.st_size if kind == "file" else 0,
                    mtime_ns=st.st_mtime_ns,
                    sha256=sha256_file(full) if hashes and kind == "file" else "",
                    target=os.readlink(full) if kind == "symlink" else "")
        if kind == "dir":
            for name in sorted(os.listdir(full), reverse=True):
                child = name if rel == "." else os.path.join(rel, name)
                stack.append((child, os.lstat(os.path.join(top, child))))


def tree_digest(paths: Sequence[str | Path]) -> str:
    """One sha256 over the listing and contents of several trees (missing trees count too)."""
    digest = hashlib.sha256()
    for top in paths:
        digest.update(f"@{top}\n".encode())
        if not os.path.lexists(top):
            digest.update(b"<missing>\n")
            continue
        for e in walk(top):
            digest.update(f"{e.rel}|{e.kind}|{e.mode:o}|{e.size}|{e.mtime_ns}|{e.sha256}|{e.target}\n".encode())
    return digest.hexdigest()


def tree_stats(top: str | Path) -> tuple[int, int]:
    """(entries below top, bytes of their files), in one walk; (0, 0) if top is missing."""
    if not os.path.lexists(top):
        return 0, 0
    entries = list(walk(top, hashes=False))
    return len(entries) - 1, sum(e.size for e in entries)


def tree_size(top: str | Path) -> int:
    return tree_stats(top)[1]


def _copy_entry(src: str, dst: str, e: Entry) -> str:
    """Copy one entry; return the sha256 of what was read (files only)."""
    if e.kind == "dir":
        if not os.path.isdir(dst):
            os.mkdir(dst, 0o700)  # owner-only until _finish_attrs sets the mode it had, whatever the umask
    elif e.kind == "symlink":
        os.symlink(e.target, dst)
    elif e.kind == "fifo":
        os.mkfifo(dst, e.mode)
    elif e.kind == "file":
        digest = hashlib.sha256()
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "rb") as fin, os.fdopen(out, "wb") as fout:
            while chunk := fin.read(CHUNK):
                digest.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        return digest.hexdigest()
    return ""  # sockets and others are recorded, not copied: they are meaningless once the owner is gone


def _finish_attrs(root: str, entries: Sequence[Entry]) -> None:
    """Set modes and mtimes deepest-first, so a directory's mtime is not bumped after we set it."""
    for e in sorted(entries, key=lambda x: x.rel.count(os.sep) + (x.rel != "."), reverse=True):
        if e.kind in ("socket", "other", "mount"):
            continue
        full = root if e.rel == "." else os.path.join(root, e.rel)
        if e.kind != "symlink":
            os.chmod(full, e.mode)
        os.utime(full, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)


def _copy_tree(src: str, dest: str) -> list[Entry]:
    """Copy src to a new dest entry by entry (fifos recreated, sockets skipped); return entries."""
    entries = list(walk(src, hashes=False))
    mounts = [e.rel for e in entries if e.kind == "mount"]
    if mounts:
        raise BackupError(f"{src} has mount points inside ({', '.join(mounts[:3])}); unmount them first")
    done: list[Entry] = []
    try:
        for e in entries:
            s = src if e.rel == "." else os.path.join(src, e.rel)
            d = dest if e.rel == "." else os.path.join(dest, e.rel)
            done.append(Entry(**{**asdict(e), "sha256": _copy_entry(s, d, e)}))
            if len(done) == 2:
                crashpoints.reached("midway:backup")
        _finish_attrs(dest, done)
    except OSError as exc:
        raise BackupError(f"copying {src} to {dest} failed: {exc}") from exc
    return done


def backup_tree(src: str | Path, dest: str | Path) -> dict[str, object]:
    """Copy src to dest (which must not exist), verify the copy, and return its manifest.
    The manifest is also written beside the copy as <dest>.manifest.json. Raise BackupError."""
    src, dest = str(src), str(dest)
    if os.path.lexists(dest):
        raise BackupError(f"backup destination {dest} already exists")
    if not os.path.lexists(src):
        raise BackupError(f"nothing to back up: {src} does not exist")
    modes.makedirs(os.path.dirname(dest))
    done = _copy_tree(src, dest)
    manifest = {"source": src, "backup": dest, "entries": [asdict(e) for e in done],
                "bytes": sum(e.size for e in done), "files": sum(e.kind == "file" for e in done)}
    modes.write_file(dest + ".manifest.json", json.dumps(manifest, indent=1).encode(), 0o600)
    verify_tree(dest, manifest)
    return manifest


def verify_tree(tree: str | Path, manifest: dict[str, object]) -> None:
    """Check that tree matches the manifest byte for byte (content, kind, mode, symlink targets)."""
    entries = manifest["entries"]
    assert isinstance(entries, list), "manifest without entries"
    want = {e["rel"]: e for e in entries}
    have = {e.rel: e for e in walk(tree)} if os.path.lexists(tree) else {}
    problems = []
    for rel, w in want.items():
        h = have.get(rel)
        if w["kind"] in ("socket", "other"):
            continue
        if h is None:
            problems.append(f"missing {rel}")
        elif (h.kind, h.sha256, h.target, h.size) != (w["kind"], w["sha256"], w["target"], w["size"]):
            problems.append(f"differs {rel}")
        elif h.kind != "symlink" and h.mode != w["mode"]:
            problems.append(f"mode of {rel}")
    extra = [rel for rel, h in have.items() if rel not in want]
    problems += [f"unexpected {rel}" for rel in extra]
    if problems:
        raise BackupError(f"{tree} does not match its manifest: {'; '.join(problems[:5])}"
                          + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))


def clear_tree(path: str | Path, roots: Sequence[str], manifest: dict[str, object] | None,
               io: Mutations = REAL) -> int:
    """Remove the contents of path (the directory itself stays). Return the entries removed.

    Refuse unless path is confined to roots, a verified manifest of it is given, and no mount
    point lies inside."""
    real = confine(str(path), roots)
    if not os.path.lexists(real):
        return 0
    if manifest is None or os.path.normpath(str(manifest.get("source"))) != os.path.normpath(str(path)):
        raise UnsafeOperation(f"refusing to clear {path}: no verified backup of it")
    verify_tree(str(manifest["backup"]), manifest)
    entries = list(walk(real, hashes=False))
    mounts = [e.rel for e in entries if e.kind == "mount"]
    if mounts:
        raise UnsafeOperation(f"refusing to clear {path}: mount points inside ({', '.join(mounts[:3])})")
    for i, name in enumerate(os.listdir(real)):
        child = os.path.join(real, name)
        if stat.S_ISDIR(os.lstat(child).st_mode):
            io.rmtree(child)
        else:
            io.unlink(child)
        if i == 0:
            crashpoints.reached("midway:clear")
    return len(entries) - 1


def restore_tree(path: str | Path, roots: Sequence[str], manifest: dict[str, object], displaced: str | Path,
                 io: Mutations = REAL) -> None:
    """Put the backup back at path, byte-identical; what is there now is moved to `displaced`."""
    real = confine(str(path), roots)
    backup = str(manifest["backup"])
    verify_tree(backup, manifest)
    if os.path.lexists(real):
        modes.makedirs(os.path.dirname(str(displaced)))
        io.move(str(real), str(displaced))
    _copy_tree(backup, str(real))
    verify_tree(real, manifest)


SMALL = 4096  # a pidfile is a few bytes; anything larger is not one


def quarantine_file(path: str, roots: Sequence[str], dest: str | Path, io: Mutations = REAL) -> bytes:
    """Move one small regular file (a pidfile) aside: copy it to dest, fsync, verify the copy byte for byte,
    then unlink the original. Confined to roots, never through a symlink. Returns the content."""
    src = confine(path, roots)
    st = os.lstat(src)
    if not stat.S_ISREG(st.st_mode) or st.st_size > SMALL:
        raise UnsafeOperation(f"refusing {path!r}: not a regular file of at most {SMALL} bytes")
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        data = os.read(fd, SMALL + 1)
    finally:
        os.close(fd)
    dest = Path(dest)
    modes.makedirs(dest.parent)
    write_new(str(dest), data, 0o600)
    if dest.read_bytes() != data:
        raise BackupError(f"the copy of {path} in {dest} does not match; {path} was not removed")
    io.unlink(str(src))
    return data


def restore_file(backup: str | Path, path: str, roots: Sequence[str]) -> bool:
    """Put a quarantined file back where it was, unless something already took its place. True if restored."""
    dst = confine(path, roots)
    if os.path.lexists(dst):
        return False
    write_new(str(dst), Path(backup).read_bytes(), 0o644)
    return True


def write_new(path: str, data: bytes, mode: int) -> None:
    """Create path (never an existing file, never through a symlink), write data and fsync it."""
    modes.write_file(path, data, mode)  # exactly mode, whatever the umask




def free_name(base: str, *suffixes: str) -> str:
    """base.N for the first N where base.N (and base.N<suffix>, for each suffix) does not exist yet."""
    n = 0
    while any(os.path.lexists(f"{base}.{n}{s}") for s in ("", *suffixes)):
        n += 1
    return f"{base}.{n}"


def copy_once(src: str | Path, dest: str, io: Mutations = REAL) -> dict[str, object]:
    """backup_tree, safe to run again: a copy at dest that verifies against its manifest (an earlier attempt,
    cut short after it finished) is reused; one that does not (cut short while copying) is set aside as
    dest.partial.N, never trusted and never deleted, and the copy is made again."""
    if os.path.exists(dest + ".manifest.json"):
        manifest: dict[str, object] = json.loads(Path(dest + ".manifest.json").read_text())
        try:
            verify_tree(dest, manifest)
            return manifest
        except BackupError:
            pass
    set_aside_partial(dest, io)
    return backup_tree(src, dest)


def set_aside_partial(backup: str, io: Mutations = REAL) -> str | None:
    """A copy at backup (and its manifest) that was cut short or failed to verify is never trusted and never
    deleted: move both to backup.partial.N. Return where, or None when there was nothing."""
    if not (os.path.lexists(backup) or os.path.lexists(backup + ".manifest.json")):
        return None
    aside = free_name(f"{backup}.partial", ".manifest.json")
    for suffix in ("", ".manifest.json"):
        if os.path.lexists(backup + suffix):
            io.rename(backup + suffix, aside + suffix)
    return aside

"""Quarantine by rename: move a state directory aside on its own filesystem (O(1), nothing deleted), put it
back by rename, or archive it into the incident with a verified manifest and only then remove it.

Role: the rename-based half of the state surgery (fsops holds the copy-based half), reached by the upper
layers only through the Host port (`host.fs`). Every removal and rename goes through fsops.Mutations.
Must not: delete anything that has no verified copy.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from remediator import crashpoints, modes
from remediator.errors import BackupError, QuarantineImpossible, UnsafeOperation
from remediator.hosts import fsops
from remediator.hosts.fsops import REAL, Mutations


def quarantine_dir(root: str, incident: str) -> str:
    """Where a state directory under `root` is moved aside: the same filesystem, so a rename is O(1)."""
    return os.path.join(root, ".remediator-quarantine", incident)


def remove_quarantine_dir(root: str, incident: str) -> None:
    """Remove the incident's quarantine directory under root, and its parent, if (and only if) they are empty."""
    qdir = quarantine_dir(root, incident)
    with contextlib.suppress(OSError):
        os.rmdir(qdir)
        os.rmdir(os.path.dirname(qdir))


def _quarantined(path: str, qdir: str) -> str:
    return os.path.join(qdir, os.path.normpath(path).strip("/").replace("/", "_"))


def quarantine_record(path: str, qdir: str) -> dict[str, object] | None:
    """The record quarantine_tree wrote for path, if its tree was moved aside (found again after a failure or a
    restart, when the step that moved it never reported)."""
    dest = _quarantined(path, qdir)
    if os.path.exists(dest + ".json") and os.path.lexists(dest):
        return dict(json.loads(Path(dest + ".json").read_text()))
    return None


def quarantine_tree(path: str, roots: Sequence[str], qdir: str, io: Mutations = REAL) -> dict[str, object]:
    """Move the directory at path into qdir by one rename and leave an empty directory (same mode, owner) in
    its place: nothing is deleted, and a rename back undoes it byte for byte. The record is also written
    beside the quarantined tree, so a resumed run finds it. Raise QuarantineImpossible where a rename cannot work."""
    real = str(fsops.confine(path, roots))
    dest = _quarantined(path, qdir)
    fsops.confine(dest, roots)
    record_path = dest + ".json"
    if os.path.exists(record_path):  # written before a restart: did the rename happen?
        if os.path.lexists(dest):
            return dict(json.loads(Path(record_path).read_text()))
        io.unlink(record_path)  # killed between the record and the rename: the tree is still in place
    if not os.path.lexists(real):
        return {"source": path, "quarantine": None}
    st = os.lstat(real)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeOperation(f"refusing {path!r}: not a directory")
    if os.path.ismount(real):
        raise QuarantineImpossible(f"{path} is a mount point")
    modes.makedirs(qdir)  # .remediator-quarantine too: 0700 whatever the umask (it sits in a Docker root)
    if os.lstat(qdir).st_dev != st.st_dev:
        raise QuarantineImpossible(f"{qdir} is on another filesystem than {path}")
    mode = stat.S_IMODE(st.st_mode)
    record: dict[str, object] = {"source": path, "quarantine": dest, "mode": mode, "uid": st.st_uid, "gid": st.st_gid,
                                 "dev": st.st_dev, "ino": st.st_ino}  # what proves, after a rollback, it is back
    with contextlib.suppress(FileNotFoundError):
        os.unlink(record_path + ".tmp")  # a record cut short by a full disk or a kill: written again
    modes.write_file(record_path + ".tmp", json.dumps(record).encode())
    io.rename(record_path + ".tmp", record_path)  # the intent first: a kill between the two renames is recoverable
    try:
        io.rename(real, dest)
    except OSError as exc:
        os.unlink(record_path)
        if exc.errno in (errno.EXDEV, errno.EBUSY):
            raise QuarantineImpossible(f"cannot rename {path}: {exc.strerror}") from exc
        raise
    crashpoints.reached("midway:quarantine")
    os.mkdir(real, 0o700)
    os.chown(real, st.st_uid, st.st_gid)
    os.chmod(real, mode)  # exactly the mode it had, whatever the umask
    return record


def unquarantine_tree(record: dict[str, object], roots: Sequence[str], displaced: str, io: Mutations = REAL) -> str:
    """Put a quarantined tree back where it was; what is there now (a failed start's new state) goes to
    `displaced` (same filesystem, inside the roots), never deleted. Idempotent."""
    source, dest = str(record["source"]), record.get("quarantine")
    if not dest:
        return f"{source}: was absent; nothing to put back"
    real = str(fsops.confine(source, roots))
    if not os.path.lexists(str(dest)):
        return f"{source}: already back in place"
    if os.path.lexists(real):
        fsops.confine(displaced, roots)
        modes.makedirs(os.path.dirname(displaced))
        io.rename(real, displaced)
    io.rename(str(dest), real)
    return f"{source}: put back by rename (what was there: {displaced})"


def not_back(record: dict[str, object]) -> str | None:
    """Why a tree quarantine_tree moved aside is not back where it was after a rollback, or None when it is: the
    quarantine must be gone and the directory at the source must be the very one moved (same device and inode;
    a record from before they were kept: a directory at the source)."""
    source, dest = str(record["source"]), record.get("quarantine")
    if not dest:
        return None  # it was absent: nothing was moved
    if os.path.lexists(str(dest)):
        return f"{source} still sits in the quarantine at {dest}"
    try:
        st = os.lstat(source)
    except OSError as exc:
        return f"{source}: {exc.strerror or exc} after it was put back"
    if not stat.S_ISDIR(st.st_mode):
        return f"{source} is not a directory after it was put back"
    if "ino" in record and (st.st_dev, st.st_ino) != (record.get("dev"), record["ino"]):
        return f"{source} is not the directory that was moved aside (inode {st.st_ino}, was {record['ino']})"
    return None


def archive_tree(record: dict[str, object], backup: str, io: Mutations = REAL) -> dict[str, object]:
    """Copy a quarantined tree into the incident's backup with a sha256 manifest, verify the copy, and only
    then remove the quarantine (nothing is deleted without a verified copy). Idempotent."""
    dest = record.get("quarantine")
    if not dest:
        return {"source": record["source"], "backup": None, "files": 0, "bytes": 0}
    if os.path.lexists(str(dest)):
        manifest = fsops.copy_once(str(dest), backup, io)  # a verified earlier copy is reused, a cut one set aside
        if manifest.get("source") != record["source"]:
            manifest["source"] = record["source"]
            Path(backup + ".manifest.json").write_text(json.dumps(manifest, indent=1))
    else:  # removed after a verified copy, before a restart: the copy must still verify
        if not os.path.exists(backup + ".manifest.json"):
            raise BackupError(f"quarantine {dest} is gone and no verified copy of it exists")
        manifest = json.loads(Path(backup + ".manifest.json").read_text())
        fsops.verify_tree(backup, manifest)
    if os.path.lexists(str(dest)):
        io.rmtree(str(dest))
        io.unlink(str(dest) + ".json")
    return manifest

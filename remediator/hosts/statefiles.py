"""LocalStateFiles: the StateFiles port (host.fs) for a host whose files are on this machine.

Role: LocalHost's `fs`, and FakeHost's (whose files are real files in a temp dir) with a fault-injecting
`Mutations`. Host side and operator side are one filesystem here, so this is a thin face over fsops and
quarantine; an SSH host implements the same Protocol with a transfer between the two sides.
Must not: add logic of its own; the safety lives in fsops and quarantine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from remediator.hosts import fsops, quarantine
from remediator.hosts.fsops import REAL, Mutations
from remediator.hosts.port import Entry, Manifest, Record


class LocalStateFiles:
    def __init__(self, io: Mutations = REAL) -> None:
        self.io = io

    def confine(self, path: str, roots: Sequence[str]) -> str:
        return str(fsops.confine(path, roots))

    def walk(self, top: str, *, hashes: bool = True) -> Iterator[Entry]:
        return fsops.walk(top, hashes=hashes)

    def tree_stats(self, top: str) -> tuple[int, int]:
        return fsops.tree_stats(top)

    def tree_size(self, top: str) -> int:
        return fsops.tree_size(top)

    def tree_digest(self, paths: Sequence[str]) -> str:
        return fsops.tree_digest(paths)

    def free_name(self, base: str, *suffixes: str) -> str:
        return fsops.free_name(base, *suffixes)

    def backup_tree(self, src: str, dest: str) -> Manifest:
        return fsops.backup_tree(src, dest)

    def copy_once(self, src: str, dest: str) -> Manifest:
        return fsops.copy_once(src, dest, self.io)

    def verify_backup(self, backup: str, manifest: Manifest) -> None:
        fsops.verify_tree(backup, manifest)

    def verify_tree(self, tree: str, manifest: Manifest) -> None:
        fsops.verify_tree(tree, manifest)

    def set_aside_partial(self, backup: str) -> str | None:
        return fsops.set_aside_partial(backup, self.io)

    def clear_tree(self, path: str, roots: Sequence[str], manifest: Manifest | None) -> int:
        return fsops.clear_tree(path, roots, manifest, self.io)

    def restore_tree(self, path: str, roots: Sequence[str], manifest: Manifest, displaced_base: str) -> str:
        displaced = fsops.free_name(displaced_base)
        fsops.restore_tree(path, roots, manifest, displaced, self.io)
        return displaced

    def quarantine_dir(self, root: str, incident: str) -> str:
        return quarantine.quarantine_dir(root, incident)

    def remove_quarantine_dir(self, root: str, incident: str) -> None:
        quarantine.remove_quarantine_dir(root, incident)

    def quarantine_tree(self, path: str, roots: Sequence[str], qdir: str) -> Record:
        return quarantine.quarantine_tree(path, roots, qdir, self.io)

    def quarantine_record(self, path: str, qdir: str) -> Record | None:
        return quarantine.quarantine_record(path, qdir)

    def unquarantine_tree(self, record: Record, roots: Sequence[str], displaced: str) -> str:
        return quarantine.unquarantine_tree(record, roots, displaced, self.io)

    def not_back(self, record: Record) -> str | None:
        return quarantine.not_back(record)

    def archive_tree(self, record: Record, backup: str) -> Manifest:
        return quarantine.archive_tree(record, backup, self.io)

    def quarantine_file(self, path: str, roots: Sequence[str], dest: str) -> bytes:
        return fsops.quarantine_file(path, roots, dest, self.io)

    def restore_file(self, backup: str, path: str, roots: Sequence[str]) -> bool:
        return fsops.restore_file(backup, path, roots)

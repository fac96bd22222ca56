"""Quarantine by rename: nothing deleted before a verified copy exists; undone byte for byte; confined."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from remediator.errors import BackupError, QuarantineImpossible, UnsafeOperation
from remediator.hosts import fsops, quarantine
from tests.conftest import digest


def _state(root: Path) -> Path:
    d = root / "exec" / "containerd"
    (d / "daemon" / "io.containerd.metadata.v1.bolt").mkdir(parents=True)
    (d / "daemon" / "io.containerd.metadata.v1.bolt" / "meta.db").write_bytes(os.urandom(4096))
    (d / "containerd.pid").write_text("42")
    os.symlink("containerd.pid", d / "link")
    os.mkfifo(d / "init-stdout")
    return d


def test_quarantine_then_unquarantine_is_byte_identical(tmp_path: Path) -> None:
    d = _state(tmp_path)
    roots = [str(tmp_path / "exec")]
    before, ino = digest(str(d)), os.stat(d).st_ino
    rec = quarantine.quarantine_tree(str(d), roots, quarantine.quarantine_dir(roots[0], "i1"))
    assert not any(d.iterdir()) and os.stat(d).st_mode & 0o7777 == rec["mode"]
    (d / "new-state").write_text("what a failed start wrote")
    assert quarantine.quarantine_tree(str(d), roots, quarantine.quarantine_dir(roots[0], "i1")) == rec, "idempotent"
    quarantine.unquarantine_tree(rec, roots, str(tmp_path / "exec" / ".remediator-quarantine" / "i1" / "displaced-0"))
    assert digest(str(d)) == before and os.stat(d).st_ino == ino
    assert (tmp_path / "exec" / ".remediator-quarantine" / "i1" / "displaced-0" / "new-state").exists()


def test_archive_removes_the_quarantine_only_after_a_verified_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _state(tmp_path)
    roots = [str(tmp_path / "exec")]
    before = digest(str(d))
    rec = quarantine.quarantine_tree(str(d), roots, quarantine.quarantine_dir(roots[0], "i1"))
    real_verify = fsops.verify_tree

    def corrupt_copy(tree: Any, manifest: Any) -> None:
        raise BackupError("sha256 mismatch in the copy")

    monkeypatch.setattr(fsops, "verify_tree", corrupt_copy)
    with pytest.raises(BackupError):
        quarantine.archive_tree(rec, str(tmp_path / "incident" / "backup" / "c"))
    assert Path(str(rec["quarantine"])).is_dir(), "the quarantine stays while no verified copy exists"
    monkeypatch.setattr(fsops, "verify_tree", real_verify)
    os.rename(tmp_path / "incident" / "backup" / "c", tmp_path / "cut")  # (as a killed copy would leave it)
    manifest = quarantine.archive_tree(rec, str(tmp_path / "incident" / "backup" / "c"))
    assert not Path(str(rec["quarantine"])).exists()
    assert digest(str(manifest["backup"])) == before


def test_quarantine_is_confined_and_never_follows_a_symlink(tmp_path: Path) -> None:
    d = _state(tmp_path)
    roots = [str(tmp_path / "exec")]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, tmp_path / "exec" / "sneaky")
    with pytest.raises(UnsafeOperation):
        quarantine.quarantine_tree(str(tmp_path / "exec" / "sneaky"), roots, quarantine.quarantine_dir(roots[0], "i"))
    with pytest.raises(UnsafeOperation):
        quarantine.quarantine_tree(str(outside), roots, quarantine.quarantine_dir(roots[0], "i"))
    with pytest.raises(UnsafeOperation):
        quarantine.quarantine_tree(roots[0], roots, quarantine.quarantine_dir(roots[0], "i"))
    assert d.is_dir() and outside.is_dir()


def test_a_rename_across_filesystems_is_refused_for_the_copy_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _state(tmp_path)
    roots = [str(tmp_path / "exec")]
    before = digest(str(d))
    real_rename = os.rename

    def exdev(src: Any, dst: Any) -> None:
        if str(src) == str(d):
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))
        real_rename(src, dst)

    monkeypatch.setattr(fsops.os, "rename", exdev)
    with pytest.raises(QuarantineImpossible):
        quarantine.quarantine_tree(str(d), roots, quarantine.quarantine_dir(roots[0], "i"))
    assert digest(str(d)) == before, "nothing moved"

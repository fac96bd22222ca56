"""The classes set L's first score missed, each on lines that are not a corpus excerpt's: containerd's metadata
plugin waiting for meta.db's file lock is another process's lock (escalate, never a state clear); a kernel task dump
whose taint flags carry L follows a soft lockup; overlay's d_type warning before 17.12 is a warning, not a failing
driver; a panic in containerd's in-tree CRI plugin is containerd's crash."""

from __future__ import annotations

from remediator.detect import logdiag
from remediator.vocab import Diagnosis

STATE_CLEAR = "docker-libcontainerd"


def test_a_bolt_lock_wait_escalates_and_never_clears_state() -> None:
    v = logdiag.diagnose_text("\n".join([
        'time="2024-05-02T08:00:00Z" level=info msg="loading plugin \\"io.containerd.metadata.v1.bolt\\"..."',
        'time="2024-05-02T08:00:10Z" level=warning msg="waiting for response from boltdb open" plugin=bolt',
        "failed to start containerd: timeout waiting for containerd to start",
    ]))
    assert v.verdict == Diagnosis.UNKNOWN
    assert v.runbook != STATE_CLEAR


def test_a_task_dump_tainted_by_a_soft_lockup_is_a_kernel_hang() -> None:
    dump = "kernel: CPU: 5 PID: 4410 Comm: containerd-shim Tainted: G           OE  L   4.18.0-305.el8.x86_64 #1"
    assert logdiag.diagnose_text(dump).verdict == Diagnosis.KERNEL_HANG
    other = "kernel: CPU: 5 PID: 4410 Comm: containerd-shim Tainted: G           OE      4.18.0-305.el8.x86_64 #1"
    assert logdiag.diagnose_text(other).verdict != Diagnosis.KERNEL_HANG  # no soft lockup flag


def test_the_pre_1712_d_type_warning_is_not_a_failing_driver() -> None:
    warn = ("WARN[0002] overlay2: the backing xfs filesystem is formatted without d_type support, which leads to "
            "incorrect behavior. Reformat the filesystem with ftype=1 to enable d_type support. Running without "
            "d_type support will no longer be supported in Docker 17.12.")
    assert logdiag.diagnose_text(warn).verdict == Diagnosis.NO_FAULT
    fatal = ("failed to start daemon: error initializing graphdriver: overlay2: the backing xfs filesystem is "
             "formatted without d_type support, which leads to incorrect behavior. Backing filesystems without "
             "d_type support are not supported.")
    assert logdiag.diagnose_text(fatal).verdict == Diagnosis.STORAGE_DRIVER


def test_a_panic_in_containerds_cri_plugin_is_containerds_crash() -> None:
    stack = "\n".join([
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 77 [running]:",
        "github.com/containerd/containerd/pkg/cri/server.(*criService).loadContainer(0xc0001, {0x0, 0x0})",
        "\t/go/src/github.com/containerd/containerd/pkg/cri/server/restart.go:120 +0x1f",
    ])
    assert logdiag.diagnose_text(stack).verdict == Diagnosis.CONTAINERD_CRASH


def test_a_read_only_data_root_escalates() -> None:
    v = logdiag.diagnose_text("Error response from daemon: open /var/lib/docker/image/overlay2/repositories.json.tmp: "
                              "read-only file system")
    assert (v.verdict, v.rule) == (Diagnosis.UNKNOWN, "cause_in_last_attempt")
    bind = "docker: Error response from daemon: error while creating mount source path '/srv/a': mkdir /srv: read-only file system."
    assert logdiag.diagnose_text(bind).rule != "cause_in_last_attempt"  # a bind mount's host path, not the data-root

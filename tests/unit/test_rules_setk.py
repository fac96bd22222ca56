"""The classes set K's first score missed, and the structural rule it led to, each on lines that are not a corpus
excerpt's: a failure line without a log level from the engine's programs reads unknown (escalate), never no-fault,
while a shell command line, the client's "the daemon answered" and a levelled warning do not count; containerd's
`containerd: <error>` exit line counts behind a journal prefix too; CNI-less CRI, skipped plugins and a log driver's
close error are benign."""

from __future__ import annotations

from remediator.detect import logdiag
from remediator.vocab import Diagnosis

START = 'level=info msg="Starting up"'


def decided(*lines: str) -> tuple[str, str]:
    v = logdiag.diagnose_text("\n".join(lines))
    return v.verdict, v.rule


def test_a_failure_line_without_a_level_escalates_instead_of_no_fault() -> None:
    assert decided(START, "[rootlesskit:parent] error: failed to set up the thing") == (
        Diagnosis.UNKNOWN, "unexplained_failure")
    assert decided("Jun 01 10:00:00 host dockerd[12]: Failed to set the thing: expected a, got b") == (
        Diagnosis.UNKNOWN, "unexplained_failure")
    assert decided(START, "all went fine") == (Diagnosis.NO_FAULT, "no_fault")


def test_what_is_not_the_engine_failing_does_not_count() -> None:
    assert decided("root@host:~# dockerd --start-timeout 2m --debug")[0] == Diagnosis.NO_FAULT  # a command line
    assert decided("Error: failed to start containers: abc123")[0] == Diagnosis.NO_FAULT  # the client's summary
    assert decided('level=warning msg="failed to load plugin io.example.v1.thing" error="not here"')[0] == \
        Diagnosis.NO_FAULT  # a levelled line counts only at error level
    assert decided("Jun 01 10:00:00 host someapp[7]: failed to sync")[0] == Diagnosis.NO_FAULT  # not the engine's


def test_containerd_exit_line_counts_behind_a_journal_prefix() -> None:
    assert decided("Jun 01 10:00:00 host containerd[99]: containerd: some config is wrong")[0] == Diagnosis.UNKNOWN


def test_benign_containerd_and_dockerd_error_lines_stay_no_fault() -> None:
    cni = ('level=error msg="failed to reload cni configuration after receiving fs change event(WRITE \\"/etc/cni/net.d/'
           '10-x.conf\\")" error="cni config load failed: no network config found in /etc/cni/net.d"')
    skip = 'level=error msg="failed to initialize a tracing processor \\"otlp\\"" error="no endpoint: skip plugin"'
    close = 'level=error msg="Error closing logger: file already closed"'
    for line in (cni, skip, close):
        assert decided(START, line)[0] == Diagnosis.NO_FAULT, line
    assert decided(START, 'level=error msg="failed to initialize a thing" error="it broke"')[0] == Diagnosis.UNKNOWN

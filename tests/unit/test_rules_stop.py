"""A dockerd that was asked to stop is down, not sick: what its own shutdown prints (its containers' shims reaped,
containerd's gRPC connection closing) is the stop's doing. Seen on the lab's real Docker 20.10.24 (`systemctl stop`
or SIGTERM): the log then read container-fault ("the daemon runs: no daemon action") or containerd-crash, so a
stopped dockerd was never started again. Lines below are that log, trimmed; the rule is logrules.stopped_after_start."""

from __future__ import annotations

import pytest

from remediator.detect.logdiag import diagnose_text

T = 'time="2026-12-05T16:37:44.{:09d}Z" '
START = [T.format(1) + 'level=info msg="Starting up"',
         T.format(2) + 'level=info msg="Loading containers: done."',
         T.format(3) + 'level=info msg="Daemon has completed initialization"',
         T.format(4) + 'level=info msg="API listen on /var/run/docker.sock"']
SIGNAL = T.format(5) + "level=info msg=\"Processing signal 'terminated'\""
REAPED = [T.format(6) + 'level=info msg="shim disconnected" id=36b76e6c37d530253f4a97616235a82360476c57af8f0b756889209b5c14f86f',
          T.format(7) + 'level=warning msg="cleaning up after shim disconnected" '
          'id=36b76e6c37d530253f4a97616235a82360476c57af8f0b756889209b5c14f86f namespace=moby',
          T.format(8) + 'level=info msg="cleaning up dead shim"',
          T.format(9) + 'level=info msg="[core] Channel Connectivity change to SHUTDOWN" module=grpc',
          T.format(10) + 'level=info msg="stopping event stream following graceful shutdown" error="<nil>" '
          'module=libcontainerd namespace=moby']
DONE = T.format(11) + 'level=info msg="Daemon shutdown complete"'
AFTER = [T.format(12) + 'level=warning msg="[core] grpc: addrConn.createTransport failed to connect to '
         '{unix:///var/run/docker/containerd/containerd.sock localhost <nil> 0 <nil>}. Err: connection error: '
         'desc = \\"transport: Error while dialing dial unix /var/run/docker/containerd/containerd.sock: connect: '
         'no such file or directory\\"". Reconnecting..." module=grpc']


def _decide(lines: list[str]) -> tuple[str, str]:
    v = diagnose_text("\n".join(lines), layout="managed")
    return str(v.verdict), v.rule


@pytest.mark.parametrize("tail", [[SIGNAL, *REAPED, DONE], [SIGNAL, *REAPED, DONE, *AFTER], [SIGNAL, *REAPED],
                                  [*REAPED[:0], DONE]], ids=["signal-to-complete", "and-grpc-after", "cut-mid-stop",
                                                             "complete-only"])
def test_a_daemon_asked_to_stop_reads_no_fault_whatever_its_shutdown_printed(tail: list[str]) -> None:
    assert _decide(START + tail) == ("no-fault", "stopped_after_start")


def test_systemds_stop_job_counts_as_asked_to_stop() -> None:
    stop = "Dec 05 16:37:44 h systemd[1]: Stopping Docker Application Container Engine..."
    assert _decide(START + [stop, *REAPED]) == ("no-fault", "stopped_after_start")


def test_a_container_that_failed_before_the_stop_is_still_a_container_fault() -> None:
    assert _decide(START + REAPED[:3] + [SIGNAL, DONE])[0] == "container-fault"


def test_without_a_stop_the_reaped_shims_are_container_faults() -> None:
    assert _decide(START + REAPED[:3])[0] == "container-fault"

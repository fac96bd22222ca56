"""Issue 16's classes, each on a minimal log and its closest near-miss: dockerd's JSON stores, crashes in
libnetwork's restore, forks' names, containerd stalled on dead shims at boot, runtime faults while the daemon
runs, and benign 4xx answers. The destructive verdict needs its context; without it, never the state clear."""

from __future__ import annotations

import time

from remediator.detect import logdiag

T = 'time="2022-06-09T14:{}+08:00" level=info msg="{}"'


def diag(*lines: str) -> logdiag.LogVerdict:
    return logdiag.diagnose_text("\n".join(lines))


def test_containerd_start_timeout_while_cleaning_dead_shims_is_its_state_on_a_system_containerd_escalates() -> None:
    v = diag('Jun 09 14:37:00 h containerd[10]: time="2022-06-09T14:37:00Z" level=info msg="loading plugin '
             '\\"io.containerd.runtime.v2.task\\"..." type=io.containerd.runtime.v2',
             'containerd.service: start operation timed out. Terminating.',
             'Jun 09 14:38:40 h containerd[10]: time="2022-06-09T14:38:40Z" level=info msg="cleaning up dead shim"')
    assert v.verdict == "containerd-state" and v.layout == "external" and v.runbook == "escalate"


def test_a_timeout_after_containerd_booted_is_not_its_dead_shims() -> None:
    v = diag('level=info msg="starting containerd" revision=x version=v1.6.0',
             'level=info msg="cleaning up dead shim"',
             'level=info msg="containerd successfully booted in 0.04s"',
             'level=error msg="failed to start containerd: timeout waiting for containerd to start"')
    assert v.verdict != "containerd-state" and v.runbook != "docker-libcontainerd"


def test_a_minute_long_gap_before_a_dead_shim_during_boot_is_a_stall_and_seconds_are_not() -> None:
    def boot(gap_to: str) -> logdiag.LogVerdict:
        return diag(T.format("31:40", 'loading plugin \\"io.containerd.runtime.v2.task\\"...'),
                    T.format("31:42", "cleanup warnings"),
                    T.format(gap_to, "cleaning up dead shim"),
                    T.format(gap_to, 'loading plugin \\"io.containerd.monitor.v1.cgroups\\"...'))
    assert boot("33:22").verdict == "containerd-state"
    assert boot("32:12").verdict != "containerd-state"


def test_a_gap_before_a_shim_clean_up_while_containerd_serves_is_one_container() -> None:
    v = diag(T.format("30:00", "serving... address=/run/containerd/containerd.sock"),
             T.format("31:00", 'loading plugin \\"io.containerd.grpc.v1.cri\\"...'),
             T.format("35:00", "cleaning up dead shim"))
    assert v.verdict != "containerd-state" and v.runbook != "docker-libcontainerd"


def test_a_crash_in_libnetwork_restoring_its_store_names_local_kv_and_one_elsewhere_is_unknown() -> None:
    restore = diag("panic: runtime error: index out of range [0] with length 0", "goroutine 1 [running]:",
                   "github.com/docker/docker/libnetwork.(*controller).reservePools(0xaaeb4ed4cee0?)")
    assert restore.verdict == "dockerd-db" and any("local-kv.db" in m.note for m in restore.decisive)
    runtime = diag("panic: runtime error: invalid memory address or nil pointer dereference", "goroutine 307 [running]:",
                   "github.com/docker/docker/vendor/github.com/docker/libnetwork.(*endpoint).addServiceInfoToCluster(0x1)")
    assert runtime.verdict == "unknown"


def test_a_bolt_panic_as_containerds_metadata_plugin_opens_meta_db_is_containerds() -> None:
    v = diag('dockerd[4]: level=info msg="loading plugin \\"io.containerd.metadata.v1.bolt\\"..." type=io.containerd.metadata.v1',
             'dockerd[4]: level=info msg="metadata content store policy set" policy=shared',
             "dockerd[4]: panic: invalid freelist page: 41, page type is leaf")
    assert v.verdict == "containerd-state"
    later = diag('dockerd[4]: level=info msg="metadata content store policy set" policy=shared',
                 *[f'dockerd[4]: level=info msg="loading plugin \\"io.containerd.x.v1.p{i}\\"..."' for i in range(6)],
                 "dockerd[4]: panic: invalid freelist page: 41, page type is leaf")
    assert later.runbook != "docker-libcontainerd"


def test_dockerds_json_stores_are_dockerd_db() -> None:
    assert diag("dockerd[435]: Error starting daemon: layer does not exist").verdict == "dockerd-db"
    assert diag('level=error msg="Failed to load container ' + "c" * 64 + ': open /var/lib/docker/containers/'
                + "c" * 64 + '/config.v2.json: unexpected end of JSON input"').verdict == "dockerd-db"


def test_forks_read_like_docker_and_never_clear_state_from_a_refused_dial() -> None:
    assert diag("systemd[1]: balena.service: Start request repeated too quickly.").verdict == "start-limit"
    assert diag("Cannot connect to the balenaEngine daemon at unix:///var/run/balena-engine.sock. "
                "Is the balenaEngine daemon running?").verdict == "dockerd-down"
    refused = diag('Error starting daemon: failed to dial "/var/run/balena-engine/containerd/balena-engine-containerd.sock": '
                   "dial unix /var/run/balena-engine/containerd/balena-engine-containerd.sock: connect: connection refused")
    assert refused.verdict == "containerd-crash" and refused.runbook == "escalate"


def test_an_embedded_or_cri_containerd_is_never_dockerds() -> None:
    assert diag('level=info msg=serving... address=/run/k3s/containerd/containerd.sock').layout == "external"
    assert diag('level=info msg="shim disconnected" id=7e namespace=k8s.io').layout == "external"


def test_benign_answers_are_no_fault_and_a_client_cannot_connect_is_down_not_wedged() -> None:
    v = diag('dockerd[1]: level=error msg="Handler for GET /containers/' + "a" * 64 + '/json returned error: No such '
             'container: ' + "a" * 64 + '"', "docker: Error response from daemon: pull access denied for x, repository "
             "does not exist or may require 'docker login'.")
    assert v.verdict == "no-fault" and v.runbook is None
    down = diag("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    assert down.verdict == "dockerd-down" and down.confidence == "low"


def test_every_container_failing_in_the_runtime_is_a_container_fault() -> None:
    v = diag("docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create "
             "failed: unable to start container process: error during container init: error setting cgroup config "
             "for procHooks process: bpf_prog_query(BPF_CGROUP_DEVICE) failed: invalid argument: unknown.",
             "ERRO[0000] error waiting for container: context canceled")
    assert v.verdict == "container-fault" and v.runbook is None


def test_a_shim_that_failed_to_load_at_boot_stalls_and_a_live_one_that_died_does_not() -> None:
    boot = diag(T.format("01:55", "cleaning up dead shim"),
                T.format("03:35", "cleaning up after shim disconnected"))
    assert boot.verdict == "containerd-state"
    live = diag(T.format("01:55", "cleaning up dead shim"), T.format("03:35", "shim disconnected"),
                T.format("03:35", "cleaning up after shim disconnected"))
    assert live.verdict == "container-fault" and live.runbook is None


def test_a_frame_journald_cut_before_its_parenthesis_still_attributes_the_crash() -> None:
    j = "Mar 06 14:19:47 host dockerd[1434]: "
    v = diag(j + "panic: interface conversion: interface {} is nil, not bool", j + "goroutine 1 [running]:",
             j + "github.com/docker/docker/vendor/github.com/docker/libnetwork/drivers/bridge.(*networkConfiguration)"
             ".UnmarshalJSON(0xc0004b92b0, 0xc0009bc1a0, 0x189, 0x7fcf98",
             j + "        /go/src/github.com/docker/docker/vendor/github.com/docker/libnetwork/drivers/bridge/"
             "bridge_store.go:201 +0xb9a")
    assert v.verdict == "dockerd-db"


def test_many_shim_lines_are_judged_in_linear_time() -> None:
    lines = [T.format(f"{i // 60 % 60:02d}:{i % 60:02d}", "cleaning up after shim disconnected") for i in range(40_000)]
    started = time.monotonic()
    diag(*lines, "failed to start containerd: timeout waiting for containerd to start")
    assert time.monotonic() - started < 30  # quadratic took minutes; linear takes about a second


def test_docker_desktops_time_proc_level_prefix_keeps_the_stack_readable() -> None:
    p = "[2024-09-03T04:01:58.5Z][dockerd][I] "
    v = diag(p + "panic: page 15 already freed", p + "goroutine 1 [running]:", p + "go.etcd.io/bbolt.(*freelist).free(0x1, 0x2)",
             p + "\t/root/build-deb/engine/vendor/go.etcd.io/bbolt/freelist.go:175 +0x2c8",
             p + "github.com/docker/docker/libnetwork/datastore.(*Store).PutObjectAtomic(0x1, 0x2)")
    assert v.verdict == "dockerd-db" and any("local-kv.db" in m.note for m in v.decisive)


def test_containerds_own_unit_failing_is_containerd_down_unless_containerd_said_why() -> None:
    failed = "Nov 16 10:17:57 h systemd[1]: Failed to start containerd container runtime."
    dependency = "Nov 16 10:17:57 h systemd[1]: Dependency failed for Docker Application Container Engine."
    assert diag(failed, dependency).verdict == "containerd-down"
    assert diag(dependency).verdict == "unknown"  # a requirement failed, dockerd never ran: not a restart
    stall = diag('Jun 09 14:37:00 h containerd[10]: time="2022-06-09T14:37:00Z" level=info msg="loading plugin '
                 '\\"io.containerd.runtime.v2.task\\"..." type=io.containerd.runtime.v2',
                 "containerd.service: start operation timed out. Terminating.",
                 'Jun 09 14:38:40 h containerd[10]: time="2022-06-09T14:38:40Z" level=info msg="cleaning up dead shim"',
                 "Jun 09 14:40:00 h systemd[1]: Failed to start containerd container runtime.")
    assert stall.verdict == "containerd-state"  # the unit's failure is the stall's consequence


def test_containerds_unit_stopping_is_down_only_while_dockerd_waits_for_it() -> None:
    stop = "systemd[1]: Stopping containerd container runtime..."
    lost = ('dockerd[7]: time="2021-07-28T06:20:24Z" level=error msg="Failed to get event" error="rpc error: code = '
            'Unavailable desc = transport is closing" module=libcontainerd namespace=moby')
    wait = ('dockerd[7]: time="2021-07-28T06:20:24Z" level=info msg="Waiting for containerd to be ready to restart event '
            'processing" module=libcontainerd namespace=moby')
    assert diag(stop, lost, wait).verdict == "containerd-down"
    assert diag(stop).verdict == "no-fault"  # a stop alone (a shutdown, an upgrade) says nothing failed


def test_a_dockerd_crash_in_its_containerd_supervisor_is_containerd_not_answering() -> None:
    head = ['Jun  6 04:00:44 h dockerd[734]: time="2020-06-06T04:00:44Z" level=error msg="failed connecting to '
            'containerd" error="failed to dial \\"/var/run/docker/containerd/containerd.sock\\": context deadline '
            'exceeded" module=libcontainerd',
            'Jun  6 04:00:45 h dockerd[734]: panic: runtime error: invalid memory address or nil pointer dereference',
            "Jun  6 04:00:45 h dockerd[734]: [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x18fc928]",
            "Jun  6 04:00:45 h dockerd[734]: goroutine 13 [running]:"]
    frames = ["Jun  6 04:00:45 h dockerd[734]: github.com/containerd/containerd.(*Client).Close(0x0, 0x0, 0x0)",
              "Jun  6 04:00:45 h dockerd[734]: github.com/docker/docker/libcontainerd/supervisor.(*remote).monitorDaemon"
              "(0x48ac1a0, 0x27a4fa8, 0x4d65400)"]
    assert diag(*head, *frames).verdict == "containerd-wedged"
    other = ["Jun  6 04:00:45 h dockerd[734]: github.com/docker/docker/daemon.(*Daemon).createSpec(0xc420256000)"]
    assert diag(*head, *other).verdict == "unknown"  # dockerd's own crash elsewhere: escalate


def test_a_clean_stop_after_a_completed_start_is_no_fault_not_healthy() -> None:
    up = ['level=info msg="Starting up"', 'level=info msg="API listen on /var/run/docker.sock"']
    down = ["level=info msg=\"Processing signal 'interrupt'\"", 'level=info msg="Daemon shutdown complete"']
    assert diag(*up).verdict == "healthy"
    assert diag(*up, *down).verdict == "no-fault"


def test_an_unexplained_fatal_before_a_start_the_excerpt_cuts_off_is_unknown() -> None:
    fatal = "Error starting daemon: rename /var/lib/docker/runtimes /var/lib/docker/runtimes-old: invalid cross-device link"
    start = "INFO[2020-08-17T20:42:47Z] libcontainerd: started new docker-containerd process  pid=1356"
    assert diag(fatal, start).verdict == "unknown"
    assert diag(start).verdict == "no-fault"


def test_docker_desktop_and_unit_set_up_failures_escalate_and_a_watchdog_kill_is_a_wedge() -> None:
    assert diag("* waiting for docker daemon: failed to start docker engine: dockerd failed to start: fatal: starting "
                "nfs-common: exit status 1").verdict == "unknown"
    assert diag("Failed to load listeners: no sockets found via socket activation: make sure the service was started "
                "by systemd").verdict == "unknown"
    kill = "Mar 08 10:45:02 resin systemd[1]: balena.service: Killing process 1662 (balena-proxy) with signal SIGABRT."
    assert diag(kill).verdict == "dockerd-wedged"
    assert diag(kill.replace("balena.service", "containerd.service")).verdict == "no-fault"

"""Which processes belong to one daemon: managed containerd, and an external one shared with others."""

from __future__ import annotations

from remediator.hosts.procs import family
from remediator.structs import Proc

A, B, OTHER = "a" * 64, "b" * 64, "c" * 64
SOCK = "/run/containerd/containerd.sock"


def P(pid: int, ppid: int, *argv: str) -> Proc:
    return Proc(pid=pid, ppid=ppid, state="S", comm=argv[0].rsplit("/", 1)[-1][:15], exe=argv[0], cmdline=argv, start=pid)


PROCS = [
    P(10, 1, "/usr/bin/dockerd", "-H", "fd://", "--containerd", SOCK),
    P(20, 1, "/usr/bin/containerd"),  # the system containerd: default address
    P(21, 1, "/usr/bin/containerd", "--address", "/run/k3s/containerd.sock"),  # somebody else's
    P(30, 1, "/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", A, "-address", SOCK),
    P(31, 30, "/bin/sh", "-c", "sleep 1000"),
    P(32, 31, "/bin/sleep", "1000"),
    P(40, 1, "/usr/bin/containerd-shim", "-namespace", "moby", "-workdir",
      f"/var/lib/containerd/io.containerd.runtime.v1.linux/moby/{B}", "-address", SOCK),
    P(50, 1, "/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", OTHER, "-address", SOCK),  # kubelet's
    P(60, 1, "/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", OTHER, "-address", SOCK),  # another dockerd's
]


def test_external_containerd_family_is_this_daemons_shims_only() -> None:
    fam = family(PROCS, data_root="/var/lib/docker", exec_root="/var/run/docker", external_sock=SOCK,
                 container_ids=frozenset({A, B}))
    assert [p.pid for p in fam.dockerd] == [10]
    assert [p.pid for p in fam.containerd] == [20]
    assert sorted(p.pid for p in fam.shims) == [30, 40]
    assert sorted(p.pid for p in fam.containers) == [31, 32]


def test_without_the_external_socket_nothing_external_is_claimed() -> None:
    fam = family(PROCS, data_root="/var/lib/docker", exec_root="/var/run/docker")
    assert fam.containerd == [] and fam.shims == [] and fam.containers == []

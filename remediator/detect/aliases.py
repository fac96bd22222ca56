"""Forks and distributions that rename Docker's programs, units and sockets: one table, read by the catalogue
(signatures.py) and the attribution (attribute.py), so a renamed build reads like the upstream one.

Role: data. Sources (what each fork prints): balenaEngine — `balenad` / `balena-engine-daemon` (journald
program), `balena.service` / `balena-engine.service`, `/var/run/balena-engine.sock`, the managed containerd
`balena-engine-containerd` on `/var/run/balena-engine/containerd/balena-engine-containerd.sock`, the client's
"Cannot connect to the balenaEngine daemon" (balena-os/balena-engine cli/ and cmd/ trees, threads #55, #186,
#246, #454); snap docker — unit `snap.docker.dockerd.service`, program `docker.dockerd` (canonical/docker-snap);
rootless dockerd — `dockerd-rootless.sh` / `rootlesskit` started by a user unit `docker.service` (moby
contrib/dockerd-rootless.sh); RHEL's docker 1.13 — `dockerd-current`, `docker-containerd-current`; k3s and rke2
embed their own containerd (`/run/k3s/containerd`, `/var/lib/rancher/{k3s,rke2}/agent/containerd`), never
dockerd's. Must not: import anything of remediator.
"""

from __future__ import annotations

import re

# the journald/syslog program names that are dockerd (or its wrapper, whose output is dockerd's)
DOCKERD_PROGRAMS = ("dockerd", "docker", "dockerd-current", "balenad", "balena-engine-daemon", "balena-engine",
                    "balena", "docker.dockerd", "dockerd-rootless.sh", "rootlesskit")
# the program names that are a containerd (its own unit or a fork's managed one)
CONTAINERD_PROGRAMS = ("containerd", "docker-containerd", "containerd-shim", "docker-containerd-current",
                       "balena-engine-containerd")
# how the client, the unit description and the API name the engine
ENGINE_WORDS = r"(?:Docker|docker|balenaEngine|balena|Balena)"
# what unit names of the engine and its containerd contain (docker.service, snap.docker.dockerd.service,
# balena.service, balena-engine.service, containerd.service)
UNIT_WORDS = r"(?:docker|containerd|balena)"
# the managed containerd's socket file under dockerd's exec-root, per fork
MANAGED_SOCK_FILE = r"(?:docker-|balena-engine-)?containerd\.sock"
# a distribution's embedded containerd: its state is the distribution's, never dockerd's to clear. A line of
# containerd's CRI plugin (pod sandboxes, the CRI service) says the same: dockerd starts its managed containerd with
# that plugin disabled (moby cmd/dockerd/daemon.go WithPlugin("cri", nil) @v19.03-v20.10, WithCRIDisabled @v23-v28)
EMBEDDED_CONTAINERD = re.compile(r"/run/(?:k3s|rke2)/containerd/|/var/lib/rancher/(?:k3s|rke2)/agent/containerd|"
                                 r"/var/snap/microk8s/common/run/containerd|"
                                 r"recover sandbox state|PodSandbox|CRI service")

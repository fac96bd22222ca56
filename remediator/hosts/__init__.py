"""hosts.connect(): the factory of the Host port (hosts/port.py), the only way the upper layers reach a machine
(LocalHost now, SshHost later).

Must not: be bypassed. Nothing above hosts/ imports `sh`, `subprocess` or `docker`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remediator.hosts.port import Host
    from remediator.settings import HostConfig


def connect(config: HostConfig) -> Host:
    """The Host for one configured host: this machine today (an SSH host is the next implementation)."""
    from remediator.hosts.local import LocalHost

    return LocalHost(config)

"""Which hosts the daemon cannot look at from where it runs: access is not health.

Role: before the daemon starts, ask each host's access (remediator.app.access_problems: the Docker socket
closed to this user, or missing while the running dockerd listens elsewhere). A daemon that can reach none of
its hosts refuses to start (NoAccess, exit 2, the same lines `run` prints); one that can reach some marks the
others `no-access` and never plans for them.
Must not: probe beyond those few stats, or change a host.
"""

from __future__ import annotations

from remediator import app
from remediator.errors import NoAccess
from remediator.settings import Settings


def unreachable(settings: Settings) -> dict[str, list[str]]:
    """host name -> why this user cannot look at it (hosts it can look at are left out)."""
    return {h.name: lines for h in settings.hosts if (lines := app.access_problems(h))}


def refuse_if_blind(settings: Settings) -> dict[str, list[str]]:
    """unreachable(), raising NoAccess when that is every host: a daemon that can see nothing does not start."""
    blocked = unreachable(settings)
    if settings.hosts and len(blocked) == len(settings.hosts):
        raise NoAccess([line for lines in blocked.values() for line in lines]
                       + ["remediator daemon: none of its hosts can be reached from this user: not starting"])
    return blocked

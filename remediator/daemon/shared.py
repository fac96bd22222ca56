"""What the daemon's parts share: the config in force, the store, the journal, the metrics, the board, the
notifier, the log and the stop flag.

Role: one object handed to the rounds (daemon.rounds), the workers (daemon.workers), the approver
(daemon.approvals) and the API's control surface (daemon.control), so none of them needs the Daemon itself.
`settings` is replaced whole on a SIGHUP reload; everything else lives as long as the daemon.
Must not: hold a decision or a loop (the parts that use it do).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from remediator.daemon.board import Board
from remediator.daemon.metrics import Metrics
from remediator.daemon.notify import Notifier
from remediator.daemon.store import Store
from remediator.journal import Journal
from remediator.settings import HostConfig, Settings

NOT_DIAGNOSED = "none"  # the verdict label of a host no diagnosis has run on yet: never "unknown", which is sick


@dataclass
class Shared:
    settings: Settings
    store: Store
    journal: Journal
    metrics: Metrics
    board: Board
    notifier: Notifier
    log: Callable[..., None]
    stop: threading.Event

    def host(self, name: str) -> HostConfig | None:
        return next((h for h in self.settings.hosts if h.name == name), None)

    def open_incident(self, host: str) -> str | None:
        """The id of the host's incident in flight, if any."""
        row = self.journal.in_flight(host)
        return row.id if row else None

    def update_gauges(self) -> None:
        st = self.store.statuses()
        names = {h.name for h in self.settings.hosts}
        self.metrics.set_hosts([s.state for n, s in st.items() if n in names],
                               [s.verdict or NOT_DIAGNOSED for n, s in st.items() if n in names])
        self.metrics.approvals.set(len(self.store.approvals()))

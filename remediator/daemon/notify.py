"""Webhook notifications (generic JSON or Slack-compatible) and systemd's notify protocol.

Role: tell people when an incident opens, an approval is needed, an outcome is known, a host is quarantined;
tell systemd READY=1, WATCHDOG=1 and STOPPING=1. Webhooks are sent from one background thread with a bounded
queue and a timeout each, so a slow receiver never holds up an incident.
A payload is redacted before it is sent (a receiver is one more place a secret must not reach); a hook's URL
is only ever logged redacted (Slack/Discord/Teams paths, userinfo and ?token= are credentials).
Must not: raise into the daemon: a notification that cannot be sent is logged and dropped.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from remediator.outputs import dumps
from remediator.redact import redact_obj, redact_text
from remediator.settings import Webhook

Log = Callable[..., None]


class Notifier:
    def __init__(self, hooks: Sequence[Webhook], log: Log) -> None:
        self.hooks, self.log = list(hooks), log
        self.q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
        self.thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        if self.hooks:
            self.thread.start()

    def send(self, event: str, **fields: Any) -> None:
        if not self.hooks:
            return
        try:
            self.q.put_nowait({"event": event, **fields})
        except queue.Full:
            self.log("webhook-dropped", level="warning", reason="queue full", notification=event)

    def close(self) -> None:
        if self.hooks:
            try:
                self.q.put(None, timeout=1)
            except queue.Full:
                return  # the sender is stuck on a slow receiver: it is a daemon thread, never waited for
            self.thread.join(timeout=10)

    def _run(self) -> None:
        while (item := self.q.get()) is not None:
            item = redact_obj(item)
            for hook in self.hooks:
                body = item if hook.format == "json" else {"text": slack_text(item)}
                req = urllib.request.Request(hook.url, data=dumps(body, default=str).encode(), method="POST",  # noqa: S310
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=hook.timeout) as resp:  # noqa: S310 - http(s) only (schema)
                        resp.read(4096)
                except Exception as exc:  # noqa: BLE001 - a receiver's garbage must never kill the sender thread
                    self.log("webhook-failed", level="warning", url=redact_text(hook.url),
                             error=redact_text(f"{type(exc).__name__}: {exc}")[:200])


def slack_text(item: dict[str, Any]) -> str:
    host, event = item.get("host", "?"), item.get("event", "?")
    detail = item.get("summary") or item.get("reason") or item.get("step") or ""
    return f"remediator: {event} on {host}" + (f" — {detail}" if detail else "") + \
        (f" (incident {item['incident']})" if item.get("incident") else "")


def sd_notify(message: str) -> bool:
    """Send one sd_notify message if systemd gave us a NOTIFY_SOCKET; return whether it was sent."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    addr = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec (WATCHDOG_USEC) for this process, or None."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 2e6)
    except ValueError:
        return None

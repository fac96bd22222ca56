"""The output channels' choke points: everything remediator prints goes through remediator.redact here.

Role: `install()` (called by the CLI's entry point) wraps sys.stdout and sys.stderr so every line any command
writes — rich consoles, click.echo, `--json`, the daemon's JSON log, a traceback — is redacted on its way out;
`redacting(log)` wraps a structured logger (the daemon's) so its fields are redacted as objects before they are
serialised (JSON escaping then cannot hide a value from the text rules); `dumps()` is json.dumps of the
redacted object, for `--json` emitters and webhook payloads.
Limits: a stream sees rendered text, so a caller that cuts or wraps a string (a table cell, text[:80]) must
redact it before (cli.common.shown): a secret cut in two is no longer recognisable.
Must not: import click or rich (the daemon uses it).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from remediator.redact import redact_obj, redact_text

MAX_PENDING = 1 << 20  # a line longer than this without a newline is redacted and written as it is


class RedactingStream:
    """A text stream that redacts whole lines before they reach `inner` (the text since the last newline waits
    for its end, or for flush(): a prompt without a newline is still shown)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            data = self._pending + text
            cut = data.rfind("\n") + 1
            if cut == 0 and len(data) < MAX_PENDING:
                self._pending = data
                return len(text)
            if cut == 0:
                cut = len(data)
            self._pending = data[cut:]
            self.inner.write(redact_text(data[:cut]))
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.inner.write(redact_text(self._pending))
                self._pending = ""
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self.inner, "errors", None)

    def __getattr__(self, name: str) -> Any:  # anything else a caller probes (name, mode, closed) but `buffer`:
        if name == "buffer":  # bytes written there would bypass the redactor
            raise AttributeError(name)
        return getattr(self.inner, name)


def install() -> None:
    """Route sys.stdout and sys.stderr through the redactor (idempotent)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


class _Redacting:
    """A structured logger whose every field is redacted before `log` sees it."""

    def __init__(self, log: Callable[..., None]) -> None:
        self.log = log

    def __call__(self, event: str, *args: Any, **fields: Any) -> None:
        self.log(event, *args, **redact_obj(fields))


def redacting(log: Callable[..., None]) -> Callable[..., None]:
    """A structured logger `log(event, level=..., **fields)` whose every field is redacted first (idempotent)."""
    return log if isinstance(log, _Redacting) else _Redacting(log)


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps of the redacted object (`--json` output, webhook payloads)."""
    return json.dumps(redact_obj(obj), **kwargs)

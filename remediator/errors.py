"""The exception tree of remediator.

Role: name the failures callers catch by meaning. Errors private to one layer live there: engine.Interrupted and
engine.StepCrashed (RemediatorErrors), daemon.routes.ApiError, daemon.liveness._Answer, hosts.local._VersionRefused.
A failed command's message (its stderr tail, printed and journaled) is redacted here, where it is made; `.stderr`
keeps the raw text.
Must not: import anything from the package (but remediator.redact, pure and below it) or from third parties.

    RemediatorError
    ├── InputError            bad config / runbook / path / payload -> exit code 2
    │   ├── (carries a list of "file:line:col: field: message" problems)
    │   └── NoAccess          the operator's own environment (a permission, a program, a socket path) stops us
    ├── HostError             I/O on a host failed (translated at the adapter, original chained)
    │   ├── Denied            this user may not read it (EACCES/EPERM): the operator's environment, not the host
    │   ├── CommandFailed     argv, rc, stderr tail
    │   ├── CommandTimeout    argv, timeout
    │   └── DockerAPIError    the Docker API answered badly or not at all
    ├── StepError             raised by actions and guards; the engine turns it into an outcome
    │   ├── TemporaryStepError  retried per the step's retry policy
    │   └── PermanentStepError  not retried
    │       ├── UnsafeOperation a safety invariant would be broken; nothing was changed
    │       └── BackupError     a backup could not be made or did not verify
    │           └── QuarantineImpossible  no rename can move it aside (another filesystem): copy, then clear
    ├── JournalError
    │   └── BadStateFile      the journal or daemon store is not a usable database (also an InputError: exit 2)
    └── HostBusy              another incident holds this host's lock -> exit code 5
"""

from __future__ import annotations

from remediator.redact import redact_text


class RemediatorError(Exception):
    """Base of every error raised on purpose by remediator."""


class InputError(RemediatorError):
    """Bad input: every problem found, each as 'file:line:col: field: message'."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class NoAccess(InputError):
    """The operator's own environment keeps remediator from seeing or using something: EACCES/EPERM on a socket,
    /proc, a log or the state directory, a program that is not installed, a socket that is not where the running
    dockerd listens. Never evidence that a host is sick; exit code 2, with what was denied and what to do."""


class HostError(RemediatorError):
    """An operation on the host failed."""


class Denied(HostError):
    """The operator's own environment refused a read on the host (EACCES/EPERM): never evidence about the host."""


class CommandFailed(HostError):
    def __init__(self, argv: tuple[str, ...], rc: int, stderr: str) -> None:
        self.argv, self.rc, self.stderr = argv, rc, stderr
        tail = stderr.strip().splitlines()[-3:]
        super().__init__(redact_text(f"{argv[0]} exited {rc}: {' | '.join(tail) or 'no stderr'}"))


class CommandTimeout(HostError):
    def __init__(self, argv: tuple[str, ...], timeout: float) -> None:
        self.argv, self.timeout = argv, timeout
        super().__init__(f"{argv[0]} did not finish within {timeout:g}s (process group killed)")


class DockerAPIError(HostError):
    """The Docker API did not answer in time or answered with an error."""


class StepError(RemediatorError):
    """A step or guard could not do its work."""


class TemporaryStepError(StepError):
    """Worth retrying."""


class PermanentStepError(StepError):
    """Not worth retrying."""


class UnsafeOperation(PermanentStepError):
    """Doing this would break a safety invariant; nothing was changed."""


class BackupError(PermanentStepError):
    """A backup could not be made or its manifest did not verify."""


class QuarantineImpossible(BackupError):
    """A rename cannot move this directory aside (another filesystem, a mount point): copy, then clear."""


class JournalError(RemediatorError):
    """The incident journal could not be read or written."""


class BadStateFile(InputError, JournalError):
    """The journal or the daemon store is not a usable database (garbage, truncated, another schema, a
    directory or FIFO in its place): refused naming the file, never rewritten. Exit 2, like bad input."""


class HostBusy(RemediatorError):
    """Another incident holds this host's lock."""

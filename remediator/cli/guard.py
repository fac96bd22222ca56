"""The command line's last line of defence: output that cannot fail a command, and no traceback ever.

Role: `Guarded`, the click group class of `remediator`. Around every command it puts stdout and stderr behind
writers that never raise: a character the terminal's encoding cannot show is written escaped (`\\xe9`,
LANG=C, PYTHONIOENCODING=ascii); a closed pipe (`| head -1`) silently discards the rest of the output; a
full or broken stdout (ENOSPC, EIO: `> /dev/full`) prints one line on stderr and discards the rest. Either
way the command itself runs to its end (a `run` whose reader went away still finishes its incident), and
its exit code stands; a command that would have exited 0 after its output was lost exits 2 instead (not
for a closed pipe: the reader chose to stop). A path that the locale's file system encoding cannot express
(LANG=C with UTF-8 mode off) is exit 2 with that said. Any exception nothing expected becomes one line on stderr and
exit 10 (EXIT_INTERNAL); REMEDIATOR_DEBUG=1 adds the traceback. Ctrl-C outside an incident exits 7.
Imported by cli only.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

import click

from remediator.errors import InputError
from remediator.idents import shown
from remediator.structs import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED


class SafeText:
    """A text stream that never raises on write or flush (see the module docstring). No `buffer`: click then
    writes through this object rather than around it."""

    def __init__(self, stream: TextIO, name: str, on_failure: Any = None) -> None:
        self._stream, self._name, self._on_failure = stream, name, on_failure
        self.dead = False
        self.failure: OSError | None = None  # not a closed pipe: ENOSPC, EIO, ...

    def __getattr__(self, attr: str) -> Any:
        if attr in ("buffer", "reconfigure", "detach"):
            raise AttributeError(attr)
        return getattr(self._stream, attr)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not self.dead:
            try:
                try:
                    self._stream.write(text)
                except UnicodeEncodeError:
                    enc = getattr(self._stream, "encoding", None) or "utf-8"
                    self._stream.write(text.encode(enc, "backslashreplace").decode(enc, "replace"))
                if getattr(self._stream, "line_buffering", False) and "\n" in text:
                    self._stream.flush()
            except OSError as exc:
                self._fail(exc)
            except ValueError:  # closed under us
                self.dead = True
        return len(text)

    def flush(self) -> None:
        if not self.dead:
            try:
                self._stream.flush()
            except OSError as exc:
                self._fail(exc)
            except ValueError:
                self.dead = True

    def _fail(self, exc: OSError) -> None:
        self.dead = True
        if exc.errno != errno.EPIPE:
            self.failure = exc
            if self._on_failure is not None:
                self._on_failure(f"error: cannot write to {self._name}: {exc.strerror or exc}; the rest of the output "
                                 "was dropped\n")
        try:  # the interpreter flushes the real stream at exit: let that go nowhere instead of failing again
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass  # not a file descriptor (an in-memory stream)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"error: {code}\n")  # sys.exit("text"): the text, and bad input
    return EXIT_BAD_INPUT


class Guarded(click.Group):
    """A click group whose main() never lets an exception or an output failure become a traceback."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        saved = sys.stdout, sys.stderr
        err = SafeText(sys.stderr, "stderr")
        out = SafeText(sys.stdout, "stdout", on_failure=err.write)
        sys.stdout, sys.stderr = out, err
        try:
            try:
                code = _exit_code(super().main(args, prog_name, complete_var, False, **extra))
            except SystemExit as exc:
                code = _exit_code(exc.code)
            except click.ClickException as exc:
                exc.show()
                code = exc.exit_code if exc.exit_code != 1 else EXIT_BAD_INPUT  # usage, bad parameter: 2
            except click.exceptions.Abort:
                err.write("aborted\n")
                code = EXIT_INTERRUPTED
            except InputError as exc:  # bad input is exit 2 wherever it is raised
                for problem in exc.problems:
                    err.write(f"error: {problem}\n")
                code = EXIT_BAD_INPUT
            except UnicodeEncodeError as exc:  # a path the file system encoding cannot express (LANG=C, no UTF-8 mode)
                err.write(f"error: {shown(exc.object[exc.start:exc.end] if isinstance(exc.object, str) else '')!s} "
                          f"cannot be encoded as {exc.encoding} (the locale's file system encoding); run with "
                          "LANG=C.UTF-8 or PYTHONUTF8=1\n")
                code = EXIT_BAD_INPUT
            except OSError as exc:  # output written around the guard (a closed or full stream)
                code = self._os_error(exc, err)
            except Exception as exc:  # noqa: BLE001 - the last line of defence; the cause is fixed where it is found
                err.write(f"error: internal error (a bug in remediator), {type(exc).__name__}: "
                          f"{shown(str(exc), 200)}; REMEDIATOR_DEBUG=1 shows the traceback\n")
                if os.environ.get("REMEDIATOR_DEBUG") == "1":
                    err.write("".join(traceback.format_exception(exc)))
                code = EXIT_INTERNAL
            out.flush()
            err.flush()
            if out.failure is not None and code == 0:
                code = EXIT_BAD_INPUT
        finally:
            sys.stdout, sys.stderr = saved
        sys.exit(code)

    @staticmethod
    def _os_error(exc: OSError, err: SafeText) -> int:
        if exc.errno == errno.EPIPE:
            return 0
        err.write(f"error: {exc.strerror or exc}\n")
        return EXIT_BAD_INPUT

"""Typed errors. Input errors carry where they come from; only the CLI turns errors into exit codes.

Every error a user can cause is a ProvisionError, so the CLI can print it without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass


class ProvisionError(Exception):
    """Base of every error provision raises on purpose."""


@dataclass(frozen=True)
class Mark:
    """A place in a source file (1-based line and column), for messages that point at it."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        return self.file


class InputError(ProvisionError):
    """Bad input from a user file: carries the mark, and the offending source line when known."""

    def __init__(self, message: str, mark: Mark | None = None, source_line: str | None = None):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.source_line = source_line

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        text = f"{where}{self.message}"
        if self.source_line is not None:
            shown, column = _window(self.source_line.rstrip(), self.mark.column if self.mark else 0)
            text += f"\n    {shown}"
            if column:
                text += "\n    " + " " * (column - 1) + "^"
        return text


SOURCE_WIDTH = 120  # a 10,000-character line (deep nesting, minified JSON) is shown around its column


def _window(line: str, column: int) -> tuple[str, int]:
    """The part of a long source line around `column` (marked with ... at a cut), and the column in it."""
    if len(line) <= SOURCE_WIDTH:
        return line, column
    start = max(0, min((column or 1) - 1 - SOURCE_WIDTH // 2, len(line) - SOURCE_WIDTH))
    head = "..." if start else ""
    tail = "..." if start + SOURCE_WIDTH < len(line) else ""
    return head + line[start:start + SOURCE_WIDTH] + tail, (column - start + len(head)) if column else 0


class ValidationFailed(ProvisionError):
    """Several input errors found at once: validation reports all of them, not the first."""

    def __init__(self, errors: list[InputError]):
        super().__init__(f"{len(errors)} error(s) in input")
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


class ConnectionFailed(ProvisionError):
    """A host could not be reached or authenticated: the host is unreachable, not failed."""


class HostKeyRejected(ConnectionFailed):
    """The host's key is unknown or differs from known_hosts; the message says how to accept it."""


class SandboxError(ProvisionError):
    """The sandbox cannot start or stop; the message says what is missing."""


class BecomeFailed(ProvisionError):
    """sudo refused: wrong or missing password, or the user may not sudo. The task fails, the host
    stays reachable. The message never contains the password."""


class LimitExceeded(ProvisionError):
    """One input would cost the controller more than a limit allows (provision.limits): refused
    before the memory or time is spent. Templating turns it into a failed template; loading YAML
    into an InputError at the place that asked for it."""


class UsageError(ProvisionError):
    """A command line argparse or a check of the arguments refused: bad input, exit 1 (not
    argparse's 2, which the README gives to "a task failed"). `usage` is the command's usage line."""

    def __init__(self, message: str, usage: str = ""):
        super().__init__(message)
        self.message = message
        self.usage = usage

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
            text += f"\n    {self.source_line.rstrip()}"
            if self.mark and self.mark.column:
                text += "\n    " + " " * (self.mark.column - 1) + "^"
        return text


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

"""The interface every transport implements; modules and facts only ever see this.

A transport runs POSIX shell text on a host and returns a CommandResult. Nothing is ever copied
to the host to run it (no interpreter, no module file): the host needs only sh and coreutils.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class Become:
    """Run as another user through sudo. The password is fed on stdin, never on a command line."""

    user: str = "root"
    password: str | None = None


class Transport(ABC):
    """One open connection to one host, reused by every task of a run."""

    name: str

    @abstractmethod
    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        become: Become | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run `command` (shell text, built with provision.shell.join) and wait for it."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; safe to call twice."""

"""A stand-in ModuleContext for data-driven module tests: canned outputs, recorded commands.

For modules whose real hosts the sandbox cannot provide (dnf on RHEL): given these outputs, expect
these commands. `responses` maps a substring of a command to its result; the first match wins.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from provision.transport.base import CommandResult


@dataclass
class FakeContext:
    responses: list[tuple[str, CommandResult]] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    check: bool = False
    environment: dict = field(default_factory=dict)
    background: float | None = None  # `async: N` with `poll: 0`
    commands: list[str] = field(default_factory=list)
    check_pending: set = field(default_factory=set)  # what earlier check-mode tasks would have changed

    def run(self, command, *, stdin=None, timeout=None) -> CommandResult:
        self.commands.append(command)
        for needle, result in self.responses:
            if needle in command:
                return result
        return CommandResult(0, "", "")

    def reconnect(self) -> None:
        pass


def ok(stdout: str = "") -> CommandResult:
    return CommandResult(0, stdout, "")

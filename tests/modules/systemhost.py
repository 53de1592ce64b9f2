"""The fake host of the system modules' tables (apt, dnf, services, sysctl, modprobe...).

tests/support/fakehost.py's FakeContext, plus what these modules need: an answer that changes
from one call to the next (apt reads again after refreshing its index), the bytes a write sends
on stdin, and a local file lookup (apt_repository's key_src). Given these outputs, expect these
commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from provision.transport.base import CommandResult
from tests.conftest import run_module
from tests.support.fakehost import FakeContext, ok

# remote_file.write_command starts by naming its destination; the content comes on stdin
WRITE = re.compile(r"^\W*dest=(\S+)")


@dataclass
class FakeHost(FakeContext):
    """`answers` maps a command substring to its result, or to a list of results served in turn
    (the last one repeats); the first substring found in a command wins."""

    answers: list[tuple[str, CommandResult | list[CommandResult]]] = field(default_factory=list)
    sent: list[tuple[str, bytes | str | None]] = field(default_factory=list)

    def run(self, command, *, stdin=None, timeout=None) -> CommandResult:
        self.commands.append(command)
        self.sent.append((command, stdin))
        for needle, answer in self.answers:
            if needle in command:
                if isinstance(answer, list):
                    return answer.pop(0) if len(answer) > 1 else answer[0]
                return answer
        return CommandResult(0, "", "")

    def find_file(self, kind: str, name: str, folders: bool = False) -> str:
        return name

    @property
    def writes(self) -> dict[str, bytes]:
        """Files written (atomically, content on stdin): path -> bytes."""
        return {match.group(1): stdin if isinstance(stdin, bytes) else stdin.encode()
                for command, stdin in self.sent
                if stdin is not None and (match := WRITE.match(command))}

    def actions(self, skip: int = 1) -> list[str]:
        """The commands after the first `skip` (the read), a write shown as `write PATH`."""
        shown = []
        for command, stdin in self.sent[skip:]:
            match = WRITE.match(command) if stdin is not None else None
            shown.append(f"write {match.group(1)}" if match else command)
        return shown


def run_on(module: str, args: dict, answers: list, facts: dict | None = None, check: bool = False,
           pending: set | None = None):
    """(result, host) of one module run on a fake host; `pending`: what earlier check-mode tasks
    would have changed (Module.check_leaves)."""
    host = FakeHost(facts=facts or {}, check=check, answers=answers, check_pending=set(pending or ()))
    return run_module(module, args, host), host


__all__ = ["FakeHost", "ok", "run_on"]

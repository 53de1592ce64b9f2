"""How the runner tells the world what happens: a small listener interface, no printing here.

The console reporter, the live progress and tests all implement `Events`; the runner calls it from
host threads, so an implementation must be thread-safe (the console one takes a lock).
"""
from __future__ import annotations

from provision.runner.results import RunReport, TaskResult


class Events:
    """No-op listener; subclasses override what they need."""

    def play_start(self, name: str, hosts: list[str]) -> None:
        pass

    def task_start(self, host: str, task: str) -> None:
        pass

    def task_result(self, result: TaskResult) -> None:
        pass

    def note(self, text: str) -> None:
        """A run-level message: a batch that failed whole, max_fail_percentage reached, Ctrl-C."""

    def run_end(self, report: RunReport) -> None:
        pass


class Collect(Events):
    """Keeps every result and note in memory (tests, and the JSON report's source)."""

    def __init__(self) -> None:
        self.results: list[TaskResult] = []
        self.notes: list[str] = []
        self.started: list[tuple[str, str]] = []

    def task_start(self, host: str, task: str) -> None:
        self.started.append((host, task))

    def task_result(self, result: TaskResult) -> None:
        self.results.append(result)

    def note(self, text: str) -> None:
        self.notes.append(text)

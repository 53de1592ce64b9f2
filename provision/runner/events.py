"""How the runner tells the world what happens: a small listener interface, no printing here.

The console reporter, the live progress and tests all implement `Events`; the runner calls it from
host threads, so an implementation must be thread-safe (the console one takes a lock).

The interface only grows compatibly: a new argument has a default (`task_start`'s `position`), a new
event has a no-op body here (`host_end`). A listener that wraps another (history's) must forward
both, or the inner one simply gets None / nothing and shows less.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from provision.runner.results import RunReport, TaskResult


@dataclass(frozen=True)
class TaskPosition:
    """Where a task stands in its host's play: the `index`-th task this host starts in the play.

    `planned` counts the tasks the host starts if none fails and no handler fires: Gathering Facts,
    then pre_tasks, roles, tasks and post_tasks with blocks' bodies and `always` sections, after
    `--tags`/`--skip-tags` (a task skipped by `when` still counts: it starts and reports "skipped";
    a loop is one task; includes are resolved at load time, so their tasks are known). It is
    `exact` unless the play can run tasks off that path or stop early: handlers that a task may
    notify, a `rescue` section, or a `meta: end_host`/`end_play`. Then the count is only an
    estimate: `index` keeps counting every task started (handlers and rescues too) and may pass it.
    """

    index: int
    planned: int
    exact: bool = True

    @property
    def label(self) -> str:
        """The n/m text: "3/12" when the plan is exact, "3/~12" when it is an estimate."""
        return f"{self.index}/{'' if self.exact else '~'}{self.planned}"


class Events:
    """No-op listener; subclasses override what they need."""

    def play_start(self, name: str, hosts: list[str]) -> None:
        pass

    def task_start(self, host: str, task: str, position: TaskPosition | None = None) -> None:
        """A task begins on a host. `position` is None from a runner (or a wrapper) that has none."""

    def task_result(self, result: TaskResult) -> None:
        pass

    def host_end(self, host: str, status: str) -> None:
        """A host finished its part of the current play: "done" (end_host counts), "failed",
        "unreachable" or "stopped" (Ctrl-C or any_errors_fatal stopped it before its last task)."""

    def note(self, text: str) -> None:
        """A run-level message: a batch that failed whole, max_fail_percentage reached, Ctrl-C."""

    def run_end(self, report: RunReport) -> None:
        pass


def takes_position(listener: Events) -> bool:
    """Whether `listener.task_start` accepts `position`: a subclass written before it existed
    (`task_start(self, host, task)`) must keep working, so the runner passes it only when taken."""
    try:
        parameters = inspect.signature(listener.task_start).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(parameter.name == "position" or parameter.kind is inspect.Parameter.VAR_KEYWORD
               for parameter in parameters)


class Forward(Events):
    """Passes every event on to `inner` (a listener that adds something: the run's report, the
    history), giving `position` only to a listener that takes it."""

    def __init__(self, inner: Events | None = None):
        self.inner = inner or Events()
        self.positions = takes_position(self.inner)

    def play_start(self, name: str, hosts: list[str]) -> None:
        self.inner.play_start(name, hosts)

    def task_start(self, host: str, task: str, position: TaskPosition | None = None) -> None:
        if self.positions:
            self.inner.task_start(host, task, position=position)
        else:
            self.inner.task_start(host, task)

    def task_result(self, result: TaskResult) -> None:
        self.inner.task_result(result)

    def host_end(self, host: str, status: str) -> None:
        self.inner.host_end(host, status)

    def note(self, text: str) -> None:
        self.inner.note(text)

    def run_end(self, report: RunReport) -> None:
        self.inner.run_end(report)


class Collect(Events):
    """Keeps every result and note in memory (tests, and the JSON report's source)."""

    def __init__(self) -> None:
        self.results: list[TaskResult] = []
        self.notes: list[str] = []
        self.started: list[tuple[str, str]] = []
        self.positions: list[TaskPosition | None] = []
        self.ended: list[tuple[str, str]] = []

    def task_start(self, host: str, task: str, position: TaskPosition | None = None) -> None:
        self.started.append((host, task))
        self.positions.append(position)

    def task_result(self, result: TaskResult) -> None:
        self.results.append(result)

    def host_end(self, host: str, status: str) -> None:
        self.ended.append((host, status))

    def note(self, text: str) -> None:
        self.notes.append(text)

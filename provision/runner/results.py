"""What a run produced, as plain data: one TaskResult per host and task, one HostRecap per host.

Reports (console recap, JSON, JUnit, metrics, history) read only these; nothing downstream looks
at modules. A command that also verifies (`check`, `verify`) adds each testinfra check as one more
TaskResult (module "testinfra"), so every report sees the same results, and `drift_of`,
`host_states` and `exit_code` below are the one definition each writer uses.

The easy things to get wrong: a failure inside a block that a `rescue` handled is counted as
`rescued`, not `failed`, so the recap and the exit code agree with what the host ended up as; and a
failed assertion in a drift check is drift (the host left its verified state), not a failed task.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]
CHECK_MODULE = "testinfra"  # the module name of a verify check's result

NO_LOG_TEXT = "the output has been hidden due to no_log: true"


@dataclass
class TaskResult:
    host: str
    play: str
    task: str  # display name, "role : name"
    file: str
    line: int
    status: Status
    msg: str = ""
    diff: str | None = None
    duration: float = 0.0
    ignored: bool = False  # failed, but ignore_errors: true
    check: bool = False  # ran in check mode: "changed" means "would change"
    handler: bool = False
    output: dict[str, Any] = field(default_factory=dict)  # registered data; shown under -v
    no_log: bool = False
    module: str = ""

    @property
    def changed(self) -> bool:
        return self.status == "changed"

    def public(self) -> dict[str, Any]:
        """The JSON report's view: no_log results keep only their status. Shallow (the report only
        reads it): `asdict`'s deep copy of every registered output was most of a big report's cost."""
        data = {name: getattr(self, name) for name in _RESULT_FIELDS}
        if self.no_log:
            data.update(msg=NO_LOG_TEXT, diff=None, output={})
        data["changed"] = self.changed
        return data


_RESULT_FIELDS = tuple(item.name for item in fields(TaskResult))


@dataclass
class HostRecap:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    rescued: int = 0
    ignored: int = 0
    duration: float = 0.0
    reason: str = ""  # why the host failed or was unreachable, for the recap
    checks_passed: int = 0  # verify's testinfra checks, counted apart from tasks
    checks_failed: int = 0
    checks_skipped: int = 0
    exec_channels: int = 0  # commands sent to the host (SSH exec channels), the facts and batches included

    def count(self, result: TaskResult) -> None:
        if result.module == CHECK_MODULE:
            kind = {"ok": "checks_passed", "failed": "checks_failed"}.get(result.status, "checks_skipped")
            setattr(self, kind, getattr(self, kind) + 1)
            return
        if result.ignored:
            self.ignored += 1
            return
        if result.status == "changed":
            self.changed += 1
            self.ok += 1  # Ansible counts a changed task as ok too
        elif result.status == "ok":
            self.ok += 1
        elif result.status in ("failed", "skipped", "unreachable"):
            setattr(self, result.status, getattr(self, result.status) + 1)


@dataclass
class RunReport:
    """Everything one run did. `exit_code` is the documented bit set (2 failed, 4 unreachable), or
    130 for a run the user interrupted."""

    command: str
    started: float
    finished: float = 0.0
    check: bool = False
    interrupted: bool = False
    results: list[TaskResult] = field(default_factory=list)
    recaps: dict[str, HostRecap] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "batch 2: every host failed; play stopped"
    # set by a command that decides its own exit code (check: 3 for drift); reports write this one
    final_exit_code: int | None = None
    verify: dict[str, Any] | None = None  # the verify part: duration, workers, unreachable, broken output
    gpu: list[dict[str, Any]] = field(default_factory=list)  # the GPU table's rows

    @property
    def failed_hosts(self) -> list[str]:
        return [name for name, recap in self.recaps.items() if recap.failed]

    @property
    def unreachable_hosts(self) -> list[str]:
        return [name for name, recap in self.recaps.items() if recap.unreachable]

    @property
    def exit_code(self) -> int:
        """130 when interrupted (what a shell shows for Ctrl-C), else the failed/unreachable bits
        (or what the command decided)."""
        if self.final_exit_code is not None:
            return self.final_exit_code
        if self.interrupted:
            return 130
        code = 0
        if self.failed_hosts:
            code |= 2
        if self.unreachable_hosts:
            code |= 4
        return code


def is_drift(result: TaskResult, check_run: bool) -> bool:
    """A task that would change something in check mode, or a check that no longer holds when the
    run is a drift check."""
    if result.module == CHECK_MODULE:
        return check_run and result.status == "failed"
    return result.status == "changed" and (result.check or check_run) and not result.handler and not result.ignored


def drift_of(report: RunReport) -> dict[str, list[TaskResult]]:
    """host -> its drift (tasks that would change, checks that failed), in run order; every host."""
    drift: dict[str, list[TaskResult]] = {name: [] for name in report.recaps}
    for result in report.results:
        if is_drift(result, report.check):
            drift.setdefault(result.host, []).append(result)
    return drift


HOST_STATES = ("failed", "unreachable", "drift", "changed", "ok")


def host_states(report: RunReport) -> dict[str, str]:
    """One word per host, the same in the terminal, metrics and JSON: unreachable, failed (a task
    failed; in a plain verify, a check), drift (check mode), changed, ok."""
    drift = drift_of(report)
    states = {}
    for host in list(report.recaps) + [name for name in drift if name not in report.recaps]:
        recap = report.recaps.get(host) or HostRecap(host)
        if recap.unreachable:
            states[host] = "unreachable"
        elif recap.failed or (recap.checks_failed and not report.check):
            states[host] = "failed"
        elif drift.get(host):
            states[host] = "drift"
        elif recap.changed:
            states[host] = "changed"
        else:
            states[host] = "ok"
    return states

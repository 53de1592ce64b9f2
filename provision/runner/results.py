"""What a run produced, as plain data: one TaskResult per host and task, one HostRecap per host.

Reports (console recap, JSON, history) read only these; nothing downstream looks at modules.
The easy thing to get wrong: a failure inside a block that a `rescue` handled is counted as
`rescued`, not `failed`, so the recap and the exit code agree with what the host ended up as.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]

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
        """The JSON report's view: no_log results keep only their status."""
        data = asdict(self)
        if self.no_log:
            data.update(msg=NO_LOG_TEXT, diff=None, output={})
        data["changed"] = self.changed
        return data


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

    def count(self, result: TaskResult) -> None:
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

    @property
    def failed_hosts(self) -> list[str]:
        return [name for name, recap in self.recaps.items() if recap.failed]

    @property
    def unreachable_hosts(self) -> list[str]:
        return [name for name, recap in self.recaps.items() if recap.unreachable]

    @property
    def exit_code(self) -> int:
        """130 when interrupted (what a shell shows for Ctrl-C), else the failed/unreachable bits."""
        if self.interrupted:
            return 130
        code = 0
        if self.failed_hosts:
            code |= 2
        if self.unreachable_hosts:
            code |= 4
        return code

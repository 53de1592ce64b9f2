"""The shape every module has: an argument spec as data, read -> diff -> apply.

Check mode is read + diff alone, so a module cannot forget to honour it: `run` decides, the
module never looks at the check flag. The runner never knows a module's internals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Protocol

from provision.transport.base import Become, CommandResult, Transport

Status = Literal["ok", "changed", "failed", "skipped"]


@dataclass(frozen=True)
class Arg:
    """One argument of a module: validation, defaults and docs all come from this."""

    type: str = "str"  # str, bool, int, float, list, dict, path, raw (anything)
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    aliases: tuple[str, ...] = ()
    elements: str | None = None  # element type of a list
    no_log: bool = False  # never printed (passwords, tokens)
    help: str = ""


@dataclass
class ModuleResult:
    """What a module did on one host. `data` is what `register` stores (rc, stdout, stat, ...)."""

    status: Status
    msg: str = ""
    diff: str | None = None  # unified diff text, shown under --diff
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.status == "changed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class ModuleFailed(Exception):
    """Raised inside a module to fail the task with a message (and optional register data)."""

    def __init__(self, msg: str, data: dict[str, Any] | None = None):
        super().__init__(msg)
        self.msg = msg
        self.data = data or {}


class ModuleContext(Protocol):
    """What a module may use on the host it runs for. Provided by the runner."""

    transport: Transport
    become: Become | None
    facts: dict[str, Any]  # from provision.facts, gathered once per host
    check: bool
    environment: dict[str, str]

    def find_file(self, kind: str, name: str) -> str:
        """Local path of a role/playbook file; kind is 'templates' or 'files'. Raises ModuleFailed."""

    def render(self, text: str) -> str:
        """Render Jinja2 text with the host's variables (template module)."""

    def evaluate(self, expression: str) -> Any:
        """Evaluate a bare Jinja2 expression with the host's variables (assert, debug var=)."""

    def run(self, command: str, *, stdin: bytes | str | None = None, timeout: float | None = None) -> CommandResult:
        """Run shell text on the host with the task's become and environment applied."""


class Module:
    """Base class. Subclasses set `name` and `spec` and implement read, diff and apply.

    - read(): gather the current state, in one round trip where possible.
    - diff(current): return a plan (any value) of what must change, or None when converged.
    - apply(plan): carry the plan out and return data for the result.
    - describe(current, plan): unified diff text for --diff (optional).
    """

    name: ClassVar[str] = ""
    spec: ClassVar[dict[str, Arg]] = {}
    free_form: ClassVar[bool] = False  # accepts a raw string (command, shell): stored as args["_raw_params"]
    # Probes that read but never change (stat, ping, setup, assert...) run in check mode as normal.
    read_only: ClassVar[bool] = False

    def __init__(self, args: dict[str, Any], context: ModuleContext):
        self.args = args
        self.context = context

    def read(self) -> Any:
        return None

    def diff(self, current: Any) -> Any:
        return None

    def apply(self, plan: Any) -> dict[str, Any]:
        return {}

    def describe(self, current: Any, plan: Any) -> str | None:
        return None

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        """Data registered when nothing changed (or in check mode)."""
        return {}

    def run(self) -> ModuleResult:
        try:
            current = self.read()
            plan = self.diff(current)
            if plan is None:
                return ModuleResult("ok", data=self.result_data(current, None))
            diff_text = self.describe(current, plan)
            if self.context.check and not self.read_only:
                return ModuleResult("changed", msg="would change", diff=diff_text,
                                    data=self.result_data(current, plan))
            data = self.apply(plan)
            return ModuleResult("changed", diff=diff_text, data=data or {})
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg, data=failure.data)


ModuleRegistry = dict[str, type[Module]]
ValueCheck = Callable[[Any], bool]

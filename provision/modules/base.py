"""The shape every module has: an argument spec as data, read -> diff -> apply.

Check mode is read + diff alone, so a module cannot forget to honour it: `run` decides, the
module never looks at the check flag. The runner never knows a module's internals.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Protocol

from provision.booleans import to_bool
from provision.errors import BecomeFailed
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


class ModuleSkipped(Exception):
    """Raised inside a module to skip the task on this host, with the reason (and register data):
    what the module found makes running it wrong now (gpu_verify on GPUs busy with jobs)."""

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
    background: float | None  # `async: N` with `poll: 0`: command and shell start detached, bounded by N s
    # Check mode: what earlier tasks on this host would have changed but did not, which later reads
    # depend on (APT_SOURCES). The runner fills it from each changed result's `check_leaves()`.
    check_pending: set[str]

    def find_file(self, kind: str, name: str, folders: bool = False) -> str:
        """Local path of a role/playbook file; kind is 'templates' or 'files'; `folders`: a folder
        counts too. Raises ModuleFailed."""

    def render(self, text: str, **options: bool) -> str:
        """Render Jinja2 text with the host's variables (template module)."""

    def evaluate(self, expression: str) -> Any:
        """Evaluate a bare Jinja2 expression with the host's variables (assert, debug var=)."""

    def run(self, command: str, *, stdin: bytes | str | None = None, timeout: float | None = None) -> CommandResult:
        """Run shell text on the host with the task's become and environment applied."""

    def reconnect(self) -> None:
        """Close and reopen the host's connection (reboot); raises ConnectionFailed while it is down."""


Rule = tuple[str, ...]


APT_SOURCES = "apt-sources"  # check_leaves(): apt's sources, keys or pins would have changed
PACKAGES = "packages"  # check_leaves(): packages would have been installed (their files, units, users)
APT_DIRECTORY = "/etc/apt/"
LOCAL_FACTS = "local-facts"  # check_leaves(): a facts.d file would have been written (ansible_local)
LOCAL_FACTS_DIRECTORY = "/etc/ansible/facts.d"  # Ansible's default fact_path


class Module:
    """Base class. Subclasses set `name` and `spec` and implement read, diff and apply.

    - read_command(): the shell text that reads the current state in one round trip (pure: built
      from the arguments, never run here), or None when the module reads nothing on the host;
      parse(result): the state from that command's result (pure). The runner batches the
      read_command of upcoming tasks into one round trip (runner/prefetch.py).
    - read(): by default read_command() then parse(); a module overrides it only when it needs more
      round trips or no host at all, and then starts with read_command().
    - diff(current): return a plan (any value) of what must change, or None when converged.
    - apply(plan): carry the plan out and return data for the result.
    - describe(current, plan): unified diff text for --diff (optional).
    """

    name: ClassVar[str] = ""
    spec: ClassVar[dict[str, Arg]] = {}
    free_form: ClassVar[bool] = False  # accepts a raw string (command, shell): stored as args["_raw_params"]
    # Probes that read but never change (stat, ping, setup, assert...) run in check mode as normal.
    read_only: ClassVar[bool] = False
    # Modules whose effect cannot be predicted (command, shell, wait_for) report "skipped" in check mode.
    check_mode_skip: ClassVar[bool] = False
    # Modules that take arbitrary keys (set_fact): the spec lists the known ones, others pass through.
    open_spec: ClassVar[bool] = False
    # Running it may change the host without saying so (command, reboot, package managers): reads
    # batched before it are stale once it has run, and it is never batched itself.
    opaque: ClassVar[bool] = False
    # Its `ansible_facts` are facts of the host (setup), not set_fact-level variables.
    sets_facts: ClassVar[bool] = False
    # Takes `async:` (Ansible's action plugins that move files do not: copy, template, script...).
    supports_async: ClassVar[bool] = True
    # Ansible checks this one's options against a fixed list in its action plugin (_VALID_ARGS:
    # wait_for_connection, reboot, fail...), so an unknown one reads "Invalid options for NAME: x",
    # not a module's "Unsupported parameters for (NAME) module: x"; playbooks assert on the words.
    action_options: ClassVar[bool] = False
    # Rules across arguments, Ansible's names and meaning; "given" means not None after defaults.
    mutually_exclusive: ClassVar[tuple[Rule, ...]] = ()  # at most one of each group
    required_one_of: ClassVar[tuple[Rule, ...]] = ()  # at least one of each group
    required_together: ClassVar[tuple[Rule, ...]] = ()  # all or none of each group
    required_if: ClassVar[tuple[tuple[str, Any, Rule], ...]] = ()  # (arg, value, all of these then)
    required_by: ClassVar[dict[str, Rule]] = {}  # arg given -> all of these too

    @classmethod
    def defined_names(cls, args: dict[str, Any]) -> set[str]:
        """Variables a task of this module defines for the tasks after it (set_fact's keys,
        service_facts' `services`...), from its raw arguments: validation knows them as defined."""
        return set()

    def __init__(self, args: dict[str, Any], context: ModuleContext):
        self.args = args
        self.context = context

    def check_leaves(self) -> set[str]:
        """In check mode, after reporting "would change": what a real run would have changed that a
        later task's read depends on (APT_SOURCES), so that task can tell "not there yet" from
        "wrong". By default: a file module's path below /etc/apt/ (a source, a pin, a key), or in
        /etc/ansible/facts.d (a local fact a later `setup` would read into ansible_local)."""
        for key in ("path", "dest", "blacklist_file"):
            value = self.args.get(key)
            if isinstance(value, str) and value.startswith(APT_DIRECTORY):
                return {APT_SOURCES}
            if isinstance(value, str) and (value.rstrip("/") == LOCAL_FACTS_DIRECTORY
                                           or value.startswith(LOCAL_FACTS_DIRECTORY + "/")):
                return {LOCAL_FACTS}
        return set()

    def skips_check_mode(self) -> bool:
        """Whether check mode reports this task skipped instead of predicting it (check_mode_skip)."""
        return self.check_mode_skip

    def read_command(self) -> str | None:
        """Shell text reading the state in one round trip; None: nothing to read on the host."""
        return None

    def parse(self, result: CommandResult | None) -> Any:
        """The state from read_command's result (None when there was no command)."""
        return None

    def read(self) -> Any:
        command = self.read_command()
        return self.parse(self.context.run(command) if command is not None else None)

    def diff(self, current: Any) -> Any:
        return None

    def apply(self, plan: Any) -> dict[str, Any]:
        return {}

    def describe(self, current: Any, plan: Any) -> str | None:
        return None

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        """Data registered when nothing changed (or in check mode)."""
        return {}

    @classmethod
    def action_problems(cls, args: dict[str, Any]) -> list[str]:
        """Checks an Ansible action plugin makes before its module runs, in its words (copy's);
        `args` are checked ones. Pure: validation reports them too."""
        return []

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise args against `spec` (types, aliases, defaults, choices).

        Raises ModuleFailed listing every problem at once. Pure, so validation can call it early.
        """
        checked = check_args(cls.name, cls.spec, args, free_form=cls.free_form, open_spec=cls.open_spec,
                             action_options=cls.action_options)
        problems = rule_problems(cls, checked)
        if problems:
            raise ModuleFailed(f"{cls.name}: " + "; ".join(problems))
        return checked

    def run(self) -> ModuleResult:
        try:
            self.args = self.check_args(self.args)
        except ModuleFailed as failure:
            # validation names the module before each problem; a result says it as Ansible does
            message = re.sub(rf"(^|; ){re.escape(self.name)}: ", r"\1", failure.msg)
            return ModuleResult("failed", msg=message, data=failure.data)
        try:
            current = self.read()
            plan = self.diff(current)
            if plan is None:
                return ModuleResult("ok", data=self.result_data(current, None))
            if self.context.check and self.skips_check_mode():
                return ModuleResult("skipped", msg="skipped in check mode", data=self.result_data(current, plan))
            diff_text = self.describe(current, plan)
            if self.context.check and not self.read_only:
                return ModuleResult("changed", msg="would change", diff=diff_text,
                                    data=self.result_data(current, plan))
            data = self.apply(plan)
            return ModuleResult("changed", diff=diff_text, data=data or {})
        except ModuleSkipped as skip:
            return ModuleResult("skipped", msg=skip.msg, data={"skipped": True, **skip.data})
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg, data=failure.data)
        except BecomeFailed as failure:
            return ModuleResult("failed", msg=str(failure))


def _coerce(kind: str, value: Any, elements: str | None) -> Any:
    if value is None or kind == "raw":
        return value
    if kind in ("str", "path"):
        if isinstance(value, (dict, list)):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "bool":
        return to_bool(value)
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(str(value).strip()) if not isinstance(value, int) else value
    if kind == "float":
        return float(value)
    if kind == "list":
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        return [_coerce(elements, item, None) for item in items] if elements else items
    if kind == "dict":
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping, got {type(value).__name__}")
        return value
    raise ValueError(f"unknown argument type {kind!r}")


def check_args(
    module: str, spec: dict[str, Arg], args: dict[str, Any], *, free_form: bool = False, open_spec: bool = False,
    action_options: bool = False,
) -> dict[str, Any]:
    """Arguments with aliases resolved, types coerced and defaults filled; all problems at once,
    in Ansible's words where Ansible has words for them (playbooks and its own tests assert on
    `result.msg`): unknown arguments, missing required ones, a value outside the choices."""
    names = {alias: name for name, arg in spec.items() for alias in arg.aliases}
    problems: list[str] = []
    unknown: list[str] = []
    result: dict[str, Any] = {}
    for key, value in args.items():
        name = names.get(key, key)
        if name not in spec:
            if open_spec or (free_form and key == "_raw_params"):
                result[key] = value
            else:
                unknown.append(str(key))
            continue
        if name in result:
            problems.append(f"argument {name!r} given twice (as {key!r})")
            continue
        arg = spec[name]
        try:
            value = _coerce(arg.type, value, arg.elements)
        except (TypeError, ValueError) as error:
            problems.append(f"argument {name!r}: {error}")
            continue
        if arg.choices is not None and value is not None and value not in arg.choices:
            problems.append(f"value of {name} must be one of: {', '.join(map(str, arg.choices))}, got: {value}")
        result[name] = value
    missing = []
    for name, arg in spec.items():
        if name not in result or result[name] is None:
            if arg.required:
                missing.append(name)
            # a copy: a module that changes its list or dict argument must not change the spec
            result[name] = copy.deepcopy(arg.default)
    if missing:
        problems.append(f"missing required arguments: {', '.join(sorted(missing))}")
    words = []
    if unknown and action_options:
        words.append(f"Invalid options for {module}: {','.join(unknown)}")
    elif unknown:
        words.append(f"Unsupported parameters for ({module}) module: {', '.join(sorted(unknown))}")
    if problems:
        words.append(f"{module}: " + "; ".join(problems))
    if words:
        raise ModuleFailed("; ".join(words))
    return result


def rule_problems(module: type[Module], args: dict[str, Any]) -> list[str]:
    """What breaks the module's cross-argument rules (pure; validation reports it before any host),
    each in the words of Ansible's module_utils/common/validation.py, which playbooks assert on
    (`result.msg is contains 'parameters are mutually exclusive'`); the free-form command is
    `_raw_params` there, as in Ansible's messages."""
    # an empty string is given (`content: ""` makes an empty file); an empty list is not
    given = {name for name, value in args.items() if value is not None and value != []}
    problems = []
    for group in module.mutually_exclusive:
        if len([name for name in group if name in given]) > 1:
            problems.append(f"parameters are mutually exclusive: {'|'.join(group)}")
    for group in module.required_one_of:
        if not given & set(group):
            problems.append(f"one of the following is required: {', '.join(group)}")
    for group in module.required_together:
        present = [name for name in group if name in given]
        if present and len(present) < len(group):
            problems.append(f"parameters are required together: {', '.join(group)}")
    for name, value, needed in module.required_if:
        if args.get(name) == value:
            missing = [item for item in needed if item not in given]
            if missing:
                problems.append(f"{name} is {value} but all of the following are missing: {', '.join(missing)}")
    for name, needed in module.required_by.items():
        missing = [item for item in needed if item not in given]
        if name in given and missing:
            problems.append(f"missing parameter(s) required by '{name}': {', '.join(missing)}")
    return problems + module.action_problems(args)


ModuleRegistry = dict[str, type[Module]]
ValueCheck = Callable[[Any], bool]

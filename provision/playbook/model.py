"""Plain data for a loaded playbook. The loader builds it, validation checks it, the runner runs it.

Values that may hold Jinja2 (args, when, loop, vars...) are kept raw here; they are rendered per
host at run time. Marks point at the YAML that produced each item, for error messages and reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provision.errors import InputError, Mark


@dataclass
class Task:
    mark: Mark
    name: str | None = None
    module: str | None = None  # canonical short name ("copy"), None for a block
    args: dict[str, Any] = field(default_factory=dict)  # raw; free-form text in "_raw_params"
    when: list[Any] = field(default_factory=list)  # raw expressions, all must hold
    loop: Any = None  # raw: a list or a Jinja2 string
    loop_lookup: str | None = None  # `with_<lookup>:`: `loop` holds the lookup's terms (with_items is a plain loop)
    loop_control: dict[str, Any] = field(default_factory=dict)
    register: str | None = None
    notify: list[str] = field(default_factory=list)
    listen: list[str] = field(default_factory=list)  # handlers only
    tags: set[str] = field(default_factory=set)
    vars: dict[str, Any] = field(default_factory=dict)
    become: bool | None = None
    become_user: str | None = None
    become_method: str | None = None  # sudo (the default) or su; a template is rendered per host
    remote_user: str | None = None  # log in as this user for the task (the inventory's ansible_user wins)
    changed_when: list[Any] | None = None
    failed_when: list[Any] | None = None
    ignore_errors: bool = False
    retries: int | None = None
    until: list[Any] | None = None
    delay: float = 5.0
    check_mode: bool | None = None
    no_log: bool = False
    environment: dict[str, Any] = field(default_factory=dict)
    delegate_to: str | None = None
    run_once: bool = False
    async_seconds: int | None = None  # `async: N` (with poll > 0): every command of the task bounded by N s
    background: bool = False  # `async: N` with `poll: 0`: the command starts detached, bounded by N s
    timeout: int | str | None = None  # `timeout: N` (or a template): the task fails once it has run N s
    diff: bool | None = None  # `diff: false`: no diff shown or reported for this task
    # block / rescue / always: set when this task is a block
    block: list[Task] | None = None
    rescue: list[Task] = field(default_factory=list)
    always: list[Task] = field(default_factory=list)
    # where templates/ and files/ are looked up: the role's folder, else the playbook's folder
    base_dir: str = "."
    role: str | None = None  # role name, shown in output as "role : task"
    # what an include/import block came from ("tasks/extra.yml", "role common"), for display
    include: str | None = None
    # include_tasks/include_role (not import_*): its `when` is decided once, where the include is
    # reached, as Ansible decides a dynamic include; an import's applies to each task it brings
    dynamic: bool = False
    # include_tasks with a templated file name: `block` holds one block per file the name could
    # pick (each block's `include` is the name that picks it), chosen per host where it is reached
    templated_include: bool = False
    # marks of each keyword ("when", "notify"...) and argument ("args.dest"), for precise errors
    marks: dict[str, Mark] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_block(self) -> bool:
        return self.block is not None

    @property
    def display_name(self) -> str:
        label = self.name or (f"{self.module} {self.args.get('_raw_params', '')}".strip() if self.module else "block")
        return f"{self.role} : {label}" if self.role else label


@dataclass
class Role:
    name: str
    path: str
    defaults: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    handlers: list[Task] = field(default_factory=list)
    dependencies: list[Role] = field(default_factory=list)  # already expanded before this role
    params: dict[str, Any] = field(default_factory=dict)  # vars given where the role is listed
    when: list[Any] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    mark: Mark | None = None  # where the role is listed (or the dependency that pulled it in)
    allow_duplicates: bool = False
    # the entry's task keywords (become, become_user, become_method, environment, ignore_errors,
    # delegate_to, no_log, check_mode), as a block around the role's tasks; None: the entry has none
    entry: Task | None = None


@dataclass
class Play:
    mark: Mark
    hosts: str
    name: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    vars_files: list[str] = field(default_factory=list)  # already loaded into vars_from_files
    vars_from_files: dict[str, Any] = field(default_factory=dict)
    become: bool | None = None
    become_user: str | None = None
    become_method: str | None = None  # sudo (the default) or su; a template is rendered per host
    gather_facts: bool = True
    serial: list[int | str] = field(default_factory=list)  # empty: all hosts at once
    max_fail_percentage: float | None = None
    any_errors_fatal: bool = False
    roles: list[Role] = field(default_factory=list)  # dependencies expanded, in run order
    pre_tasks: list[Task] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    post_tasks: list[Task] = field(default_factory=list)
    handlers: list[Task] = field(default_factory=list)  # play handlers + every role's handlers
    tags: set[str] = field(default_factory=set)
    environment: dict[str, Any] | str = field(default_factory=dict)  # play-level (or a template giving it)
    remote_user: str | None = None  # who to log in as where the inventory's ansible_user says nobody
    # every role the play uses, listed or included/imported by a task: task.role -> its defaults/vars
    all_roles: dict[str, Role] = field(default_factory=dict)
    marks: dict[str, Mark] = field(default_factory=dict, repr=False, compare=False)

    def handler_names(self) -> set[str]:
        """Every name a task may notify: each handler's name and the topics it listens to."""
        return {name for handler in self.handlers for name in (handler.name or "", *handler.listen) if name}


@dataclass
class Playbook:
    path: str
    plays: list[Play] = field(default_factory=list)
    # problems found while loading (with strict=False); validate() reports them with its own
    problems: list[InputError] = field(default_factory=list)
    # what validation let through but the user should hear: a module provision lacks on a task
    # that may never run (under a `when:`); a host that reaches it fails that task
    warnings: list[InputError] = field(default_factory=list)

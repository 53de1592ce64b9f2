"""What loading one playbook shares: where to look for files, the module registry, and problems.

Loading never stops at the first problem: each one is recorded with its mark and loading goes on,
so `provision lint` shows everything at once. Only unreadable top-level input stops it.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provision.errors import InputError, Mark
from provision.playbook.model import Role
from provision.yamlsource import input_error, load_file_with_problems

ModuleLookup = Callable[[str], Any]  # name -> Module class or None

BUILTIN_PREFIXES = ("ansible.builtin.", "ansible.legacy.")
INCLUDE_ACTIONS = frozenset({"import_tasks", "include_tasks", "include", "import_role", "include_role"})
FREE_FORM_FALLBACK = frozenset({"command", "shell", "raw", "script", "meta", "include_tasks", "import_tasks",
                                "include", "include_vars", "add_host", "group_by"})

TASK_KEYWORDS = frozenset({
    "name", "when", "loop", "with_items", "with_list", "with_dict", "with_fileglob", "with_first_found",
    "with_sequence", "with_together", "with_nested", "with_indexed_items", "with_subelements", "with_filetree",
    "loop_control", "register", "notify", "tags", "vars", "become", "become_user", "become_method", "changed_when", "failed_when", "ignore_errors",
    "retries", "until", "delay", "check_mode", "no_log", "environment", "delegate_to", "run_once", "args",
    "action", "local_action", "async", "poll", "diff", "timeout", "remote_user",
})
HANDLER_KEYWORDS = TASK_KEYWORDS | {"listen"}
BLOCK_KEYWORDS = frozenset({
    "block", "rescue", "always", "name", "when", "tags", "vars", "become", "become_user", "become_method",
    "ignore_errors", "environment", "delegate_to", "run_once", "check_mode", "no_log", "diff", "remote_user",
})
LOOP_CONTROL_KEYS = frozenset({"loop_var", "index_var", "label", "pause", "extended", "extended_allitems"})
PLAY_KEYWORDS = frozenset({
    "hosts", "name", "vars", "vars_files", "become", "become_user", "become_method", "gather_facts",
    "serial", "max_fail_percentage", "any_errors_fatal", "roles", "pre_tasks", "tasks", "post_tasks",
    "handlers", "tags", "collections", "environment", "strategy", "remote_user", "connection",
})
# A play's `connection:` that means what provision always does (SSH through paramiko)
SSH_CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh",
                             "ansible.builtin.paramiko_ssh"})
# Valid in Ansible, not in provision: said plainly rather than "unknown".
UNSUPPORTED_KEYWORDS = frozenset({
    "throttle", "debugger", "ignore_unreachable", "module_defaults",
    "connection", "delegate_facts", "port", "order", "vars_prompt",
    "force_handlers", "fact_path", "gather_subset", "gather_timeout",
    "with_lines", "with_random_choice", "with_inventory_hostnames", "become_flags", "become_exe",
})


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def canonical_name(name: str) -> str:
    for prefix in BUILTIN_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def module_lookup(registry: Mapping[str, Any] | ModuleLookup | None) -> ModuleLookup | None:
    """Accept provision.modules.get_module, a MODULES-like dict, or None (load it if it exists)."""
    if registry is None:
        try:
            from provision.modules import get_module  # type: ignore[attr-defined]
        except ImportError:
            return None
        registry = get_module
    if callable(registry) and not isinstance(registry, Mapping):
        return _returning_none(registry)
    table = dict(registry)  # type: ignore[arg-type]
    return lambda name: table.get(name) or table.get(canonical_name(name))


def _returning_none(lookup: Callable[[str], Any]) -> ModuleLookup:
    """provision.modules.get_module raises KeyError for an unknown name; the loader wants None."""
    def find(name: str) -> Any:
        try:
            return lookup(name)
        except KeyError:
            return None
    return find


@dataclass
class LoadContext:
    playbook_path: str
    roles_dirs: list[str]
    modules: ModuleLookup | None
    problems: list[InputError] = field(default_factory=list)
    file_stack: list[str] = field(default_factory=list)  # include/import cycle detection
    templated_depth: int = 0  # how many templated includes' candidates are being loaded, nested
    role_stack: list[str] = field(default_factory=list)  # role dependency cycle detection
    roles: dict[str, Role] = field(default_factory=dict)  # every role loaded for the current play
    extra_handlers: list[Any] = field(default_factory=list)  # handlers of included/imported roles

    @property
    def playbook_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.playbook_path))

    def problem(self, message: str, mark: Mark | None) -> None:
        self.add(input_error(message, mark))

    def add(self, error: InputError) -> None:
        """Record a problem once: a role used twice must not report its problems twice."""
        if not any(seen.message == error.message and seen.mark == error.mark for seen in self.problems):
            self.problems.append(error)

    def load(self, path: str, mark: Mark | None) -> Any:
        """YAML from a file the playbook refers to; problems are recorded, None returned."""
        if not os.path.isfile(path):
            self.problem(f"file not found: {path}", mark)
            return None
        data, problems = load_file_with_problems(path)
        for each in problems:
            self.add(each)
        return data

    def is_free_form(self, module: str) -> bool:
        cls = self.modules(module) if self.modules else None
        return bool(getattr(cls, "free_form", module in FREE_FORM_FALLBACK))

    def is_module(self, name: str) -> bool:
        if canonical_name(name) in INCLUDE_ACTIONS or canonical_name(name) == "meta":
            return True
        return bool(self.modules and self.modules(name) is not None)

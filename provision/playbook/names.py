"""Undefined variables knowable before running: every Jinja2 name must be defined somewhere.

"Somewhere" is wide on purpose, since a variable's value may differ per host but its existence
rarely does: any host's inventory vars, play vars and vars_files, role defaults/vars/params, task
and block vars, registered names, set_fact keys, extra vars, the loop variable of the task that
loops, magic variables, and facts (any `ansible_*`). A play that uses include_vars is skipped:
what it defines is only known at run time.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import meta

from provision.errors import InputError, Mark
from provision.inventory import Inventory
from provision.playbook.context import did_you_mean
from provision.playbook.model import Play, Playbook, Task
from provision.templating import is_template, new_environment
from provision.variables import MAGIC_VARIABLES, is_fact_name
from provision.yamlsource import input_error, value_mark

EXPRESSION_KEYWORDS = ("when", "changed_when", "failed_when", "until")
GLOBALS = frozenset({"lookup", "query", "q"})
# What the template module defines for the file it renders, besides the host's variables.
TEMPLATE_NAMES = frozenset({"template_path", "template_fullpath", "template_host", "template_uid",
                            "template_run_date", "template_destpath"})


def walk(tasks: list[Task]) -> Iterator[Task]:
    """Every task, blocks included, depth first."""
    for task in tasks:
        yield task
        for child in (task.block or []) + task.rescue + task.always:
            yield from walk([child])


def play_tasks(play: Play) -> Iterator[Task]:
    sections = [play.pre_tasks, *(role.tasks for role in play.roles), play.tasks, play.post_tasks, play.handlers]
    for section in sections:
        yield from walk(section)


def defined_names(playbook: Playbook, inventory: Inventory | None, extra_vars: Mapping[str, Any] | None) -> set[str]:
    names: set[str] = set(MAGIC_VARIABLES) | set(extra_vars or {})
    if inventory is not None:
        for host in inventory.hosts.values():
            names |= set(host.vars)
        for group in inventory.groups.values():
            names |= set(group.vars) | set(group.file_vars)
    for play in playbook.plays:
        names |= set(play.vars) | set(play.vars_from_files)
        for role in play.all_roles.values():
            names |= set(role.defaults) | set(role.vars) | set(role.params)
        for role in play.roles:
            names |= set(role.params)
        for task in play_tasks(play):
            names |= set(task.vars) if isinstance(task.vars, dict) else set()
            if task.register:
                names.add(task.register)
            if task.module == "set_fact":
                names |= {key for key in task.args if key not in ("cacheable", "_raw_params")}
    return names


class UndefinedCheck:
    """Finds undefined names in templates and expressions, reporting each with its mark."""

    def __init__(self, defined: set[str], report_undefined: bool = True):
        self.defined = defined
        self.report_undefined = report_undefined  # False: only syntax errors (no inventory to know names)
        self.environment: jinja2.Environment = new_environment()
        self.errors: list[InputError] = []

    def template(self, text: Any, mark: Mark, local: set[str] = frozenset()) -> None:
        """Check a value that may contain templates (recursing into lists and dicts)."""
        if isinstance(text, Mapping):
            for key, item in text.items():
                self.template(item, value_mark(text, key, mark), local)
        elif isinstance(text, list):
            for item in text:
                self.template(item, mark, local)
        elif is_template(text):
            self._names(text, mark, local)

    def expression(self, text: Any, mark: Mark, local: set[str] = frozenset()) -> None:
        """Check a bare expression (when:, that:, var=)."""
        if not isinstance(text, str):
            return
        self._names(text if is_template(text) else "{{ " + text + " }}", mark, local)

    def template_file(self, path: str, text: str, local: set[str] = frozenset()) -> None:
        """Check a template file; errors point at the line of the file itself."""
        try:
            tree = self.environment.parse(text)
        except jinja2.TemplateSyntaxError as error:
            self.errors.append(input_error(f"template syntax error: {error.message}", Mark(path, error.lineno or 1, 1)))
            return
        first_use: dict[str, int] = {}
        for node in tree.find_all(jinja2.nodes.Name):
            if node.ctx == "load":
                first_use.setdefault(node.name, node.lineno)
        for name in self._undefined(tree, set(local) | TEMPLATE_NAMES):
            line = first_use.get(name, 1)
            column = _column(text, line, name)
            self.errors.append(input_error(
                f"undefined variable '{name}'{did_you_mean(name, self.defined | set(local))}", Mark(path, line, column)))

    def _names(self, text: str, mark: Mark, local: set[str]) -> None:
        try:
            tree = self.environment.parse(text)
        except jinja2.TemplateSyntaxError as error:
            self.errors.append(input_error(f"template syntax error: {error.message} in {text!r}", mark))
            return
        for name in self._undefined(tree, local):
            self.errors.append(input_error(
                f"undefined variable '{name}'{did_you_mean(name, self.defined | local)}", mark))

    def _undefined(self, tree: jinja2.nodes.Template, local: set[str]) -> list[str]:
        if not self.report_undefined:
            return []
        return [name for name in sorted(meta.find_undeclared_variables(tree))
                if not (name in self.defined or name in local or name in GLOBALS or is_fact_name(name)
                        or name in self.environment.globals)]


def _column(text: str, line: int, name: str) -> int:
    lines = text.splitlines()
    found = lines[line - 1].find(name) if 0 < line <= len(lines) else -1
    return found + 1 if found >= 0 else 1


def loop_names(task: Task) -> set[str]:
    """Names a looping task defines for itself: the loop variable and its index."""
    if task.loop is None:
        return set()
    names = {str(task.loop_control.get("loop_var", "item")), "ansible_loop", "ansible_index_var"}
    if task.loop_control.get("index_var"):
        names.add(str(task.loop_control["index_var"]))
    return names


def names_knowable(play: Play) -> bool:
    """False when the play uses include_vars: what it defines is only known at run time."""
    return not any(task.module == "include_vars" for task in play_tasks(play))


def check_play_names(play: Play, check: UndefinedCheck) -> None:
    if not names_knowable(play):
        return
    check.template(play.vars, play.marks.get("vars", play.mark))
    check.template(play.vars_from_files, play.mark)
    for role in play.all_roles.values():
        check.template(role.defaults, role.mark or play.mark)
        check.template(role.vars, role.mark or play.mark)
    for task in play_tasks(play):
        check_task_names(task, check)


def check_task_names(task: Task, check: UndefinedCheck) -> None:
    local = loop_names(task)
    if task.loop is not None:
        check.template(task.loop, task.marks.get("loop", task.marks.get("with_items", task.mark)))
    for keyword in EXPRESSION_KEYWORDS:
        for condition in getattr(task, keyword) or []:
            check.expression(condition, task.marks.get(keyword, task.mark), local)
    if task.name:
        check.template(task.name, task.marks.get("name", task.mark), local)
    if isinstance(task.vars, dict):
        check.template(task.vars, task.marks.get("vars", task.mark), local)
    for key in ("delegate_to", "become_user"):
        check.template(getattr(task, key), task.marks.get(key, task.mark), local)
    for key, value in task.args.items():
        mark = value_mark(task.args, key, task.marks.get(f"args.{key}", task.mark))
        if task.module == "debug" and key == "var":
            check.expression(value, mark, local)
        elif task.module == "assert" and key == "that":
            for condition in value if isinstance(value, list) else [value]:
                check.expression(condition, mark, local)
        else:
            check.template(value, mark, local)

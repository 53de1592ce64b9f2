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

from provision.errors import InputError, Mark
from provision.inventory import Inventory
from provision.limits import DEFAULT_LIMITS, Limits
from provision.playbook.context import did_you_mean
from provision.playbook.model import Play, Playbook, Task
from provision.playbook.templates import (
    constant_refusal, guarded_names, loop_refusal, needs_no_variable, static_problems, text_refusal, used_names)
from provision.templating import is_template, new_environment, referenced_names
from provision.variables import MAGIC_VARIABLES, find_cycles, is_fact_name
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
            names |= module_defined_names(task)
            if task.is_block and task.loop is not None:  # a looped include: its tasks see the loop variable
                names |= loop_names(task)
    return names


def module_defined_names(task: Task) -> set[str]:
    """What the task's module defines for later tasks: set_fact's keys, service_facts' services..."""
    if task.module == "set_fact":
        return {str(key) for key in task.args if key not in ("cacheable", "_raw_params")}
    if task.module in (None, "meta"):
        return set()
    try:
        from provision.modules import get_module

        return get_module(task.module).defined_names(task.args)
    except KeyError:
        return set()


def definitions(playbook: Playbook, inventory: Inventory | None,
                extra_vars: Mapping[str, Any] | None) -> Iterator[tuple[str, Any, Mark | None]]:
    """Every place a variable gets a value: (name, value, where). Registered names and set_fact keys
    come with the value None: known only at run time, and never a template."""
    for play in playbook.plays:
        for level in (play.vars, play.vars_from_files):
            yield from _level(level, play.mark)
        for role in play.all_roles.values():
            for level in (role.defaults, role.vars, role.params):
                yield from _level(level, role.mark or play.mark)
        for task in play_tasks(play):
            if isinstance(task.vars, dict):
                yield from _level(task.vars, task.marks.get("vars", task.mark))
            if task.register:
                yield task.register, None, task.mark
            yield from ((name, None, task.mark) for name in module_defined_names(task))
    for host in inventory.hosts.values() if inventory is not None else ():
        yield from _level(host.vars, host.mark)
    yield from _level(extra_vars or {}, Mark("--extra-vars"))


def _level(variables: Mapping[str, Any], mark: Mark | None) -> Iterator[tuple[str, Any, Mark | None]]:
    for name, value in variables.items():
        yield str(name), value, value_mark(variables, name, mark)


def variable_cycles(playbook: Playbook, inventory: Inventory | None,
                    extra_vars: Mapping[str, Any] | None) -> list[InputError]:
    """Variables whose values need each other, so none has a value: `a: "{{ b }}"`, `b: "{{ a }}"`.
    A name is on a ring only when EVERY value it is given somewhere refers onward (a plain value
    anywhere, an inventory's `a: 1` for instance, may break the ring on some hosts: not reported)."""
    environment = new_environment()
    known: dict[str, set[str]] = {}  # template text -> names it uses (an inventory repeats its group vars)
    references: dict[str, set[str]] = {}
    marks: dict[str, Mark] = {}
    for name, value, mark in definitions(playbook, inventory, extra_vars):
        key = value if isinstance(value, str) else None
        used = known.get(key) if key is not None and key in known else referenced_names(value, environment)
        if key is not None:
            known[key] = used
        references[name] = used if name not in references else references[name] & used
        if mark is not None and (name not in marks or not marks[name].line):
            marks[name] = mark
    errors = []
    for ring in find_cycles({name: used for name, used in references.items() if used}):
        names = " -> ".join(f"'{name}'" for name in ring)
        message = (f"variable '{ring[0]}' refers to itself, so it has no value" if len(ring) == 2 else
                   f"variables {names} refer to each other, so none of them has a value")
        errors.append(input_error(message, marks.get(ring[0])))
    return errors


class UndefinedCheck:
    """Finds undefined names in templates and expressions, reporting each with its mark; and what
    else a template shows before running (provision.playbook.templates): unknown filters and tests,
    reaches into Python internals, unsupported lookups, the cost of a template needing no variable."""

    def __init__(self, defined: set[str], report_undefined: bool = True, limits: Limits = DEFAULT_LIMITS):
        self.defined = defined
        self.report_undefined = report_undefined  # False: only syntax errors (no inventory to know names)
        self.limits = limits
        self.environment: jinja2.Environment = new_environment(limits)
        self.errors: list[InputError] = []
        # undefined names in tasks whose failure is ignored: Ansible fails such a task when it runs
        # and goes on, so these are warnings (errors under --strict), not reasons to refuse the run
        self.deferred: list[InputError] = []

    def template(self, text: Any, mark: Mark, local: set[str] = frozenset(), names: bool = True) -> None:
        """Check a value that may contain templates (recursing into lists and dicts). `names=False`
        leaves out undefined names (inventory and extra vars: used per host, checked at run time)."""
        if isinstance(text, Mapping):
            for key, item in text.items():
                self.template(item, value_mark(text, key, mark), local, names)
        elif isinstance(text, list):
            for item in text:
                self.template(item, mark, local, names)
        elif is_template(text):
            self._names(text, mark, local, names)

    def expression(self, text: Any, mark: Mark, local: set[str] = frozenset()) -> None:
        """Check a bare expression (when:, that:, var=)."""
        if not isinstance(text, str):
            return
        self._names(text if is_template(text) else "{{ " + text + " }}", mark, local)

    def loop(self, loop: Any, mark: Mark) -> None:
        """A loop longer than provision runs: a literal list, or a template needing no variable."""
        tree = self._parse(loop, mark, report=False) if is_template(loop) else None
        refusal = loop_refusal(loop, used_names(tree) if tree is not None else None, self.limits)
        if refusal:
            self.errors.append(input_error(refusal, mark))

    def template_file(self, path: str, text: str, local: set[str] = frozenset()) -> None:
        """Check a template file; errors point at the line of the file itself."""
        tree = self._parse(text, Mark(path, 1, 1), report=False)
        if tree is None:
            try:
                self.environment.parse(text)
            except jinja2.TemplateSyntaxError as error:
                self.errors.append(input_error(f"template syntax error: {error.message}",
                                               Mark(path, error.lineno or 1, 1)))
            except RecursionError:
                self.errors.append(input_error("template nested too deeply to read", Mark(path, 1, 1)))
            return
        problems = static_problems(tree, self.environment)
        for problem in problems:
            self.errors.append(input_error(problem.message, Mark(path, problem.line, _column(text, problem.line, problem.word))))
        if problems:
            return
        first_use: dict[str, int] = {}
        for node in tree.find_all(jinja2.nodes.Name):
            if node.ctx == "load":
                first_use.setdefault(node.name, node.lineno)
        used = used_names(tree)
        for name in self._undefined((used or set()) - guarded_names(tree), set(local) | TEMPLATE_NAMES):
            line = first_use.get(name, 1)
            column = _column(text, line, name)
            self.errors.append(input_error(
                f"undefined variable '{name}'{did_you_mean(name, self.defined | set(local))}", Mark(path, line, column)))
        if needs_no_variable(used):
            refusal = text_refusal(text, self.limits)
            if refusal:
                self.errors.append(input_error(refusal, Mark(path, 1, 1)))

    def _names(self, text: str, mark: Mark, local: set[str], names: bool = True) -> None:
        tree = self._parse(text, mark)
        if tree is None:
            return
        problems = static_problems(tree, self.environment)
        for problem in problems:
            self.errors.append(input_error(problem.message, mark))
        if problems:
            return  # an unknown filter stops Jinja2's own analysis of the names
        used = used_names(tree)
        for name in self._undefined((used or set()) - guarded_names(tree), local) if names else []:
            self.errors.append(input_error(
                f"undefined variable '{name}'{did_you_mean(name, self.defined | local)}", mark))
        if needs_no_variable(used):
            refusal = constant_refusal(text, self.limits)
            if refusal:
                self.errors.append(input_error(refusal, mark))

    def _parse(self, text: str, mark: Mark, report: bool = True) -> jinja2.nodes.Template | None:
        try:
            return self.environment.parse(text)
        except jinja2.TemplateSyntaxError as error:
            if report:
                self.errors.append(input_error(f"template syntax error: {error.message} in {_short(text)!r}", mark))
        except RecursionError:
            if report:
                self.errors.append(input_error("template nested too deeply to read", mark))
        return None

    def _undefined(self, used: set[str] | None, local: set[str]) -> list[str]:
        if not self.report_undefined or used is None:
            return []
        return [name for name in sorted(used)
                if not (name in self.defined or name in local or name in GLOBALS or is_fact_name(name)
                        or name in self.environment.globals)]


def _short(text: str) -> str:
    return text if len(text) <= 200 else text[:200] + "..."


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
    before = len(check.errors)
    _check_task_names(task, check)
    if task.ignore_errors is True:
        found = check.errors[before:]
        undefined = [error for error in found if error.message.startswith("undefined variable")]
        check.errors[before:] = [error for error in found if error not in undefined]
        check.deferred += undefined


def _check_task_names(task: Task, check: UndefinedCheck) -> None:
    local = loop_names(task)
    if task.loop is not None:
        loop_mark = task.marks.get("loop", task.marks.get("with_items", task.mark))
        check.template(task.loop, loop_mark)
        check.loop(task.loop, loop_mark)
    for keyword in EXPRESSION_KEYWORDS:
        for condition in getattr(task, keyword) or []:
            check.expression(condition, task.marks.get(keyword, task.mark), local)
    if task.name:
        check.template(task.name, task.marks.get("name", task.mark), local)
    if isinstance(task.vars, dict):
        check.template(task.vars, task.marks.get("vars", task.mark), local)
    for key in ("delegate_to", "become_user", "remote_user"):
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

"""Validate a whole playbook against an inventory before any host is touched.

Everything knowable without a host is checked here and reported together, each with file:line:column
and the offending line: YAML syntax and duplicate keys (from loading), unknown modules and keywords,
unknown, missing or mistyped module arguments, meta actions, notify names no handler has, missing
templates and files, and undefined variables (provision.playbook.names).

The easy thing to get wrong: arguments that hold Jinja2 cannot be type-checked before running
(`mode: "{{ m }}"` is fine), but their NAMES can: a templated value is checked as "anything".
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from provision.errors import InputError, Mark, ValidationFailed
from provision.inventory import Inventory
from provision.modules import get_module
from provision.modules.base import Arg, ModuleFailed, check_args, rule_problems
from provision.playbook.loader import load_playbook
from provision.playbook.model import Play, Playbook, Task
from provision.playbook.context import did_you_mean
from provision.playbook.names import (
    UndefinedCheck, check_play_names, defined_names, loop_names, names_knowable, play_tasks, variable_cycles)
from provision.templating import DELIMITERS, is_template
from provision.yamlsource import input_error, read_text, value_mark

META_ACTIONS = frozenset({"flush_handlers", "noop", "end_host", "end_play"})
# Arguments naming a local file that must exist: module -> (argument, folder searched first).
LOCAL_FILES = {"template": ("src", "templates"), "copy": ("src", "files")}


def load_and_validate(path: str, inventory: Inventory | None, extra_vars: Mapping[str, Any] | None = None,
                      project_roles_dir: str | list[str] | None = None, strict: bool = False) -> Playbook:
    """Load and validate; raise ValidationFailed listing every problem, or return the playbook
    (with `warnings` for what may never run). `strict`: those are errors too."""
    playbook = load_playbook(path, project_roles_dir, strict=False)
    errors = list(playbook.problems) + validate(playbook, inventory, extra_vars, strict)
    if errors:
        raise ValidationFailed(_unique(errors))
    return playbook


def validate(playbook: Playbook, inventory: Inventory | None, extra_vars: Mapping[str, Any] | None,
             strict: bool = False) -> list[InputError]:
    """Every problem of a loaded playbook. Without an inventory (it failed to load) undefined names
    are not checked: half the names would be missing and each would be a false alarm.

    A module provision does not have is certain trouble only on a task that will run. On a task
    under a `when:` (its own, or a block's, role entry's or include's) it may never run on these
    hosts (RedHat-only tasks on Ubuntu, the usual case in real roles): that is
    a warning in `playbook.warnings`, and a host that reaches the task fails it. `strict` keeps
    Ansible-content-free all-or-nothing: then it is an error like any other."""
    errors: list[InputError] = []
    check = UndefinedCheck(defined_names(playbook, inventory, extra_vars), report_undefined=inventory is not None)
    for play in playbook.plays:
        handler_names = play.handler_names()
        conditional = conditional_tasks(play)
        controller = False  # an earlier task of the play ran on the controller (delegate_to: localhost)
        for task in play_tasks(play):
            if not strict and id(task) in conditional and _unknown_module(task):
                mark = task.marks.get(task.module) or task.mark
                playbook.warnings.append(input_error(
                    f"module '{task.module}' is not supported by provision; this task runs only when its "
                    "condition holds, so the run goes on, and a host that reaches it fails the task "
                    "(--strict refuses the playbook instead)", mark))
                continue
            problems = check_task(task, handler_names)
            missing = [] if problems or _unknown_module(task) or task.is_block or task.module in (None, "meta") \
                else _missing_local_file(task, get_module(task.module).name)
            if missing and controller and not strict:
                # an earlier task on the controller may make it (ansible-core's copy target does)
                playbook.warnings += [input_error(f"{problem.message}; an earlier task of the play runs on the "
                                                  "controller and may make it, so the run goes on and the task "
                                                  "fails if it is still missing (--strict refuses)", problem.mark)
                                      for problem in missing]
            else:
                problems += missing
            controller = controller or task.delegate_to is not None
            if problems and task.ignore_errors is True and not strict and not _unknown_module(task):
                # a task whose failure is ignored fails at run time in Ansible, and the run goes on
                # (ansible-core's own tests rely on it): warned here, failed by the module there
                playbook.warnings += [input_error(f"{problem.message}; the task fails when it runs and its "
                                                  "failure is ignored (ignore_errors: true)", problem.mark)
                                      for problem in problems]
            else:
                errors += problems
            for name in unknown_handlers(task, handler_names):
                # A warning (with the likely name): Ansible fails only when the task changes something
                # and notifies it, so a role meant to run beside another that defines the handler, or
                # one whose notified task is already converged, still runs; --strict refuses it
                close = did_you_mean(name, handler_names)
                where = task.marks.get("notify", task.mark)
                if strict:
                    errors.append(input_error(f"notify: no handler is named or listens to '{name}'{close}", where))
                else:
                    playbook.warnings.append(input_error(
                        f"notify: no handler is named or listens to '{name}'{close}; a host where this task "
                        "changes something fails it, as in Ansible (--strict refuses the playbook instead)", where))
            # a template with delimiters of its own is not Jinja2's default syntax: read when it renders
            own_syntax = any(task.args.get(name) for name in DELIMITERS)
            if task.module == "template" and names_knowable(play) and not own_syntax:
                _check_template_file(task, check)
        check_play_names(play, check)
    _check_given_variables(inventory, extra_vars, check)
    if strict:
        errors += check.deferred
    else:
        playbook.warnings += [input_error(f"{problem.message}; the task fails when it runs and its failure is ignored "
                                          "(ignore_errors: true)", problem.mark) for problem in check.deferred]
    return errors + check.errors + variable_cycles(playbook, inventory, extra_vars)


def _unknown_module(task: Task) -> bool:
    if task.is_block or task.module in (None, "meta"):
        return False
    try:
        get_module(task.module)
    except KeyError:
        return True
    return False


def conditional_tasks(play: Play) -> set[int]:
    """ids of the tasks that may not run on a host: under a `when:` of their own or of an
    enclosing block, include or role entry, or in one of the files a templated include picks from."""
    found: set[int] = set()

    def mark(tasks: list[Task], inherited: bool) -> None:
        for task in tasks:
            conditional = inherited or bool(task.when)
            if conditional:
                found.add(id(task))
            # the files a templated include may pick: a host runs at most one of them
            mark((task.block or []) + task.rescue + task.always, conditional or task.templated_include)

    for section in (play.pre_tasks, play.tasks, play.post_tasks):
        mark(section, False)
    for role in play.roles:
        mark(role.tasks, bool(role.when))
    mark(play.handlers, False)  # a handler runs whenever a task notifies it: a `when:` of its own only
    return found


def _check_given_variables(inventory: Inventory | None, extra_vars: Mapping[str, Any] | None,
                           check: UndefinedCheck) -> None:
    """Templates in inventory and extra vars: filters, internals, cost (their names are per host).
    A group var repeats in every host of the group: each written value is checked once."""
    seen: set[tuple[Mark, str]] = set()
    for host in inventory.hosts.values() if inventory is not None else ():
        for name, value in host.vars.items():
            mark = value_mark(host.vars, name, host.mark)
            if (mark, repr(value)) not in seen:
                seen.add((mark, repr(value)))
                check.template(value, mark, names=False)
    check.template(extra_vars or {}, Mark("--extra-vars"), names=False)


def check_task(task: Task, handler_names: set[str]) -> list[InputError]:
    if task.is_block or task.module is None:
        return []
    mark = task.marks.get(task.module) or task.mark
    if task.module == "meta":
        action = str(task.args.get("_raw_params", "")).strip()
        if action not in META_ACTIONS:
            return [input_error(f"meta: '{action}' is not supported ({', '.join(sorted(META_ACTIONS))} are)",
                                _module_mark(task))]
        return []
    try:
        module = get_module(task.module)
    except KeyError:
        return [input_error(f"unknown module '{task.module}'", mark)]
    return _argument_errors(task, module)


def unknown_handlers(task: Task, handler_names: set[str]) -> list[str]:
    return [name for name in task.notify if not is_template(name) and name not in handler_names]


def _module_mark(task: Task) -> Mark:
    """The line naming the module (`copy:` or `ansible.builtin.copy:`), else the task's."""
    for key, mark in task.marks.items():
        if key == task.module or key.endswith(f".{task.module}"):
            return mark
    return getattr(task.args, "mark", None) or task.mark


def _argument_errors(task: Task, module: Any) -> list[InputError]:
    """Each bad argument pointed at its own line; missing ones at the module's."""
    spec = _lenient_spec(module.spec, task.args)
    options = {"free_form": module.free_form, "open_spec": module.open_spec, "action_options": module.action_options}
    try:
        checked = check_args(module.name, spec, dict(task.args), **options)
        whole_ok = True
    except ModuleFailed as failure:
        whole_ok, whole_message = False, failure.msg
    errors: list[InputError] = []
    optional = {name: replace(arg, required=False) for name, arg in spec.items()}
    known = set(spec) | {alias for arg in spec.values() for alias in arg.aliases}
    for key, value in task.args.items():
        mark = value_mark(task.args, key, getattr(task.args, "mark", None) or _module_mark(task))
        shape = _shape_problem(str(key), value)
        if shape:
            errors.append(input_error(f"{module.name}: {shape}", mark))
            continue
        try:
            check_args(module.name, optional, {key: value}, **options)
        except ModuleFailed as failure:
            hint = did_you_mean(str(key), known) if key not in known else ""
            errors.append(input_error(failure.msg + hint, mark))
    if whole_ok:
        # rules across arguments (a templated value counts as given: it is known at run time)
        return errors + [input_error(f"{module.name}: {problem}", _module_mark(task))
                         for problem in rule_problems(module, checked)]
    aliases = {name: (name, *arg.aliases) for name, arg in spec.items()}
    missing = [name for name, arg in spec.items() if arg.required
               and all(task.args.get(key) is None for key in aliases[name])]
    if missing:
        errors.append(input_error(f"{module.name}: missing required arguments: {', '.join(sorted(missing))}",
                                  _module_mark(task)))
    if not errors:  # a rule only the whole set breaks (an argument given twice under two names)
        errors.append(input_error(whole_message, _module_mark(task)))
    return errors


def _shape_problem(name: str, value: Any) -> str | None:
    """Shapes a module's spec cannot say: `mode` is 'raw' there since it takes 0644, '0644' or 'u+rw'."""
    if name != "mode" or value is None or isinstance(value, str) or type(value) is int:
        return None
    return (f"argument 'mode': expected an octal string such as '0644', a number or symbolic modes, "
                f"got {_type_name(value)} {value!r}")


def _type_name(value: Any) -> str:
    return next((name for kind, name in ((dict, "mapping"), (list, "list")) if isinstance(value, kind)),
                type(value).__name__)


def _lenient_spec(spec: dict[str, Arg], args: Mapping[str, Any]) -> dict[str, Arg]:
    """The spec with templated arguments accepting anything: their value is only known at run time."""
    return {name: replace(arg, type="raw", choices=None)
            if any(is_template(args.get(key)) for key in (name, *arg.aliases)) else arg
            for name, arg in spec.items()}


def _local_file(task: Task, module: str) -> tuple[str, list[str]] | None:
    """(name, candidate paths) of a local file a task names and needs, when knowable before running."""
    if module not in LOCAL_FILES or task.delegate_to is not None:
        return None
    argument, folder = LOCAL_FILES[module]
    name = task.args.get(argument)
    if not isinstance(name, str) or is_template(name) or task.loop is not None and "item" in name:
        return None
    if module == "copy" and task.args.get("remote_src") in (True, "yes", "true", "True"):
        return None
    base = task.base_dir
    playbook_dir = os.path.dirname(task.mark.file)
    candidates = [name] if os.path.isabs(name) else [
        os.path.join(base, folder, name), os.path.join(base, name), os.path.join(playbook_dir, folder, name),
        os.path.join(playbook_dir, name)]
    return name, candidates


def _missing_local_file(task: Task, module: str) -> list[InputError]:
    found = _local_file(task, module)
    if found is None:
        return []
    name, candidates = found
    if any(os.path.exists(candidate) for candidate in candidates):
        return []
    argument, folder = LOCAL_FILES[module]
    mark = value_mark(task.args, argument, task.marks.get(f"args.{argument}", task.mark))
    return [input_error(f"{module}: {argument} '{name}' not found (looked in {os.path.join(task.base_dir, folder)})",
                        mark)]


def _check_template_file(task: Task, check: UndefinedCheck) -> None:
    """Jinja2 syntax and undefined names inside the template file, pointed at its own lines."""
    found = _local_file(task, "template")
    path = next((candidate for candidate in found[1] if os.path.isfile(candidate)), None) if found else None
    if path is None:
        return
    try:
        text = read_text(path, check.limits, what="template")
    except InputError as error:  # too large, not UTF-8: pointed at the template's own place
        check.errors.append(error)
        return
    check.template_file(path, text, loop_names(task) | set(task.vars if isinstance(task.vars, dict) else {}))


def _unique(errors: list[InputError]) -> list[InputError]:
    seen: set[tuple[str, Mark | None]] = set()
    unique = []
    for error in errors:
        key = (error.message, error.mark)
        if key not in seen:
            seen.add(key)
            unique.append(error)
    return sorted(unique, key=lambda error: (error.mark.file if error.mark else "", error.mark.line if error.mark else 0))

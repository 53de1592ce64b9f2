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
from provision.modules.base import Arg, ModuleFailed, check_args
from provision.playbook.loader import load_playbook
from provision.playbook.model import Play, Playbook, Task
from provision.playbook.names import UndefinedCheck, check_play_names, defined_names, play_tasks
from provision.templating import is_template
from provision.yamlsource import input_error, value_mark

META_ACTIONS = frozenset({"flush_handlers", "noop", "end_host", "end_play"})
# Arguments naming a local file that must exist: module -> (argument, folder searched first).
LOCAL_FILES = {"template": ("src", "templates"), "copy": ("src", "files")}


def load_and_validate(path: str, inventory: Inventory | None, extra_vars: Mapping[str, Any] | None = None,
                      project_roles_dir: str | None = None) -> Playbook:
    """Load and validate; raise ValidationFailed listing every problem, or return the playbook."""
    playbook = load_playbook(path, project_roles_dir, strict=False)
    errors = list(playbook.problems) + validate(playbook, inventory, extra_vars)
    if errors:
        raise ValidationFailed(_unique(errors))
    return playbook


def validate(playbook: Playbook, inventory: Inventory | None, extra_vars: Mapping[str, Any] | None) -> list[InputError]:
    errors: list[InputError] = []
    check = UndefinedCheck(defined_names(playbook, inventory, extra_vars))
    for play in playbook.plays:
        handler_names = _handler_names(play)
        for task in play_tasks(play):
            errors += check_task(task, handler_names)
        check_play_names(play, check)
    return errors + check.errors


def check_task(task: Task, handler_names: set[str]) -> list[InputError]:
    if task.is_block or task.module is None:
        return []
    mark = task.marks.get(task.module) or task.mark
    if task.module == "meta":
        action = str(task.args.get("_raw_params", "")).strip()
        if action not in META_ACTIONS:
            return [input_error(f"meta: '{action}' is not supported ({', '.join(sorted(META_ACTIONS))} are)", mark)]
        return []
    try:
        module = get_module(task.module)
    except KeyError:
        return [input_error(f"unknown module '{task.module}'", mark)]
    errors = []
    try:
        check_args(module.name, _lenient_spec(module.spec, task.args), dict(task.args),
                   free_form=module.free_form, open_spec=module.open_spec)
    except ModuleFailed as failure:
        errors.append(input_error(failure.msg, task.args.mark if hasattr(task.args, "mark") else mark))
    errors += _missing_local_file(task, module.name)
    for name in task.notify:
        if not is_template(name) and name not in handler_names:
            errors.append(input_error(f"notify: no handler is named or listens to '{name}'",
                                      task.marks.get("notify", task.mark)))
    return errors


def _lenient_spec(spec: dict[str, Arg], args: Mapping[str, Any]) -> dict[str, Arg]:
    """The spec with templated arguments accepting anything: their value is only known at run time."""
    return {name: replace(arg, type="raw", choices=None)
            if any(is_template(args.get(key)) for key in (name, *arg.aliases)) else arg
            for name, arg in spec.items()}


def _missing_local_file(task: Task, module: str) -> list[InputError]:
    if module not in LOCAL_FILES or task.delegate_to is not None:
        return []
    argument, folder = LOCAL_FILES[module]
    name = task.args.get(argument)
    if not isinstance(name, str) or is_template(name) or task.loop is not None and "item" in name:
        return []
    if module == "copy" and task.args.get("remote_src") in (True, "yes", "true", "True"):
        return []
    base = task.base_dir
    playbook_dir = os.path.dirname(task.mark.file)
    candidates = [name] if os.path.isabs(name) else [
        os.path.join(base, folder, name), os.path.join(base, name), os.path.join(playbook_dir, folder, name),
        os.path.join(playbook_dir, name)]
    if any(os.path.exists(candidate) for candidate in candidates):
        return []
    mark = value_mark(task.args, argument, task.marks.get(f"args.{argument}", task.mark))
    return [input_error(f"{module}: {argument} '{name}' not found (looked in {os.path.join(base, folder)})", mark)]


def _handler_names(play: Play) -> set[str]:
    names: set[str] = set()
    for handler in play.handlers:
        if handler.name:
            names.add(handler.name)
        names |= set(handler.listen)
    return names


def _unique(errors: list[InputError]) -> list[InputError]:
    seen: set[tuple[str, Mark | None]] = set()
    unique = []
    for error in errors:
        key = (error.message, error.mark)
        if key not in seen:
            seen.add(key)
            unique.append(error)
    return sorted(unique, key=lambda error: (error.mark.file if error.mark else "", error.mark.line if error.mark else 0))

"""Task lists -> Task dataclasses: keywords, the module and its arguments, blocks and includes.

Includes are resolved at load time, so a typo in an included file is found before anything runs.
`import_tasks`, `include_tasks`, `import_role` and `include_role` all become a block Task
(`task.include` says what it came from) whose `when`, `vars`, `tags` and `become` apply to each
included task, exactly as a block's do. Consequences, documented for users: the file name cannot
be templated, and a `loop` on an include is refused (it would need a dynamic include).

The easy thing to get wrong: which key of a task is the module. Every key that is not a keyword
is a candidate; the module registry decides, and the rest are unknown keywords.
"""
from __future__ import annotations

import os
import re
from typing import Any

from provision.booleans import NotABoolean, to_bool
from provision.errors import Mark
from provision.playbook.context import (
    BLOCK_KEYWORDS, HANDLER_KEYWORDS, INCLUDE_ACTIONS, LOOP_CONTROL_KEYS, TASK_KEYWORDS, UNSUPPORTED_KEYWORDS,
    LoadContext, canonical_name, did_you_mean)
from provision.playbook.freeform import ArgsSyntaxError, parse_free_form, parse_kv
from provision.playbook.model import Task
from provision.templating import is_template
from provision.transport.base import BECOME_METHODS
from provision.yamlsource import MarkedDict, mark_of, value_mark

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONDITION_KEYWORDS = ("when", "changed_when", "failed_when", "until")
TEXT_KEYWORDS = ("name", "become_user", "delegate_to", "become_method", "remote_user")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def as_tags(value: Any) -> set[str]:
    if isinstance(value, str):
        return {tag.strip() for tag in value.split(",") if tag.strip()}
    return {str(tag) for tag in as_list(value)}


def literal_bool(value: Any) -> Any:
    """yes/no/true/false -> bool; Jinja2 text is kept for the runner to render."""
    return value if is_template(value) or value is None else to_bool(value)


def checked_bool(data: dict, key: str, context: LoadContext, mark: Mark, default: Any = None) -> Any:
    """literal_bool of data[key], and a problem for anything that is not a boolean: `become: maybe`
    would silently read as False."""
    value = data.get(key, default)
    if value is None or isinstance(value, bool) or is_template(value):
        return literal_bool(value)
    try:
        return to_bool(value)
    except NotABoolean:
        context.problem(f"'{key}' must be a boolean (true/false, yes/no), not {_shown(value)}",
                        value_mark(data, key, mark))
        return literal_bool(default)


def checked_tags(data: dict, context: LoadContext, mark: Mark) -> set[str]:
    """`tags:` as a set; a mapping, or a list holding one, is a problem (str() of it is no tag)."""
    value = data.get("tags")
    items = value if isinstance(value, list) else [value]
    if isinstance(value, dict) or any(isinstance(item, (dict, list, bool)) for item in items):
        context.problem(f"'tags' must be a tag name or a list of tag names, not {_shown(value)}",
                        value_mark(data, "tags", mark))
        return set()
    return as_tags(value)


def check_text(data: dict, keys: tuple[str, ...], context: LoadContext, mark: Mark) -> None:
    """Keywords whose value is one piece of text (`name`, `become_user`...): a mapping or list there
    is a mistake in the YAML's shape."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, (dict, list)) or isinstance(value, bool) and key != "name":
            context.problem(f"'{key}' must be text, not {_shown(value)}", value_mark(data, key, mark))


def _shown(value: Any) -> str:
    kind = next((name for type_, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"))
                 if isinstance(value, type_)), type(value).__name__)
    text = repr(value)
    return f"{kind} {text if len(text) <= 60 else text[:60] + '...'}"


def load_task_list(data: Any, context: LoadContext, where: Mark, base_dir: str, role: str | None,
                   handlers: bool = False, section: str = "tasks") -> list[Task]:
    """A list of task mappings; anything else is a problem and gives no tasks."""
    if data is None:
        return []
    if not isinstance(data, list):
        context.problem(f"'{section}' must be a list of tasks, not {type(data).__name__}", mark_of(data, None, where))
        return []
    tasks: list[Task] = []
    for index, item in enumerate(data):
        item_mark = mark_of(data, index, where)
        if not isinstance(item, dict):
            context.problem(f"a task must be a mapping (name:, a module, keywords), not {type(item).__name__}",
                            item_mark)
            continue
        task = load_task(item, context, item_mark, base_dir, role, handlers)
        if task is not None:
            tasks.append(task)
    return tasks


def load_task(data: dict, context: LoadContext, mark: Mark, base_dir: str, role: str | None,
              handler: bool = False) -> Task | None:
    """One task or block mapping -> Task (None when it cannot be understood at all)."""
    task = Task(mark=mark, base_dir=base_dir, role=role)
    task.marks = {str(key): mark_of(data, key, mark) for key in data}
    if "block" in data:
        return _load_block(data, task, context, handler)
    allowed = HANDLER_KEYWORDS if handler else TASK_KEYWORDS
    action = _find_action(data, allowed, context, mark)
    _apply_keywords(task, data, context, allowed)
    if action is None:
        return task if "action" in data or "local_action" in data else _no_action(task, context, mark)
    name, value, action_mark = action
    task.module = canonical_name(name)
    _check_background(task, data, context)
    if task.module in INCLUDE_ACTIONS:
        from provision.playbook.includes import load_include  # includes use this module too

        return load_include(task, value, context, action_mark)
    args = _parse_args(task.module, value, context, action_mark)
    given = data.get("args")
    if given is not None and not isinstance(given, dict):
        context.problem("'args' must be a mapping", mark_of(data, "args", mark))
        given = None
    merged = MarkedDict({**(given or {}), **args})  # inline arguments win over args:, as in Ansible
    for source in (given, value):
        if isinstance(source, MarkedDict):
            merged.key_marks.update(source.key_marks)
            merged.value_marks.update(source.value_marks)
    merged.mark = action_mark
    task.args = merged
    task.marks.update({f"args.{key}": mark_of(merged, key, action_mark) for key in merged})
    return task


def _no_action(task: Task, context: LoadContext, mark: Mark) -> Task:
    context.problem("task has no module: add one (e.g. 'command:', 'copy:') or a 'block:'", mark)
    return task


def _find_action(data: dict, allowed: frozenset[str], context: LoadContext,
                 mark: Mark) -> tuple[str, Any, Mark] | None:
    """The (module name, its value, mark) of a task; unknown keys are reported here."""
    candidates = [key for key in data if key not in allowed]
    for special in ("action", "local_action"):
        if special in data:
            text = data[special]
            if isinstance(text, dict) and isinstance(text.get("module"), str) and text["module"].strip():
                # the mapping form: `local_action: {module: copy, dest: ..., content: ...}`
                arguments = {key: value for key, value in text.items() if key != "module"}
                return text["module"].strip(), arguments, value_mark(data, special, mark)
            words = text.split(None, 1) if isinstance(text, str) else []
            if not words:
                context.problem(f"'{special}' must be 'module key=value ...' or a mapping with 'module:'",
                                mark_of(data, special, mark))
                return None
            if special == "local_action":
                data = {**data, "delegate_to": "localhost"}
            return words[0], (words[1] if len(words) > 1 else None), value_mark(data, special, mark)
    if not candidates:
        return None
    known = [key for key in candidates if context.is_module(str(key))]
    if len(known) > 1:
        context.problem(f"conflicting action statements: {', '.join(map(str, known))} (one module per task)",
                        mark_of(data, known[1], mark))
    module = known[0] if known else candidates[0]
    for key in candidates:
        if key != module:
            _unknown_keyword(str(key), context, mark_of(data, key, mark), allowed, "task")
    return str(module), data[module], value_mark(data, module, mark)


def _unknown_keyword(key: str, context: LoadContext, mark: Mark, allowed: Any, what: str) -> None:
    if key in UNSUPPORTED_KEYWORDS:
        context.problem(f"{what} keyword '{key}' is valid in Ansible but not supported by provision", mark)
    else:
        context.problem(f"unknown {what} keyword '{key}'{did_you_mean(key, allowed)}", mark)


def _parse_args(module: str, value: Any, context: LoadContext, mark: Mark) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if context.is_free_form(module):
            return parse_free_form(text)
        try:
            args, loose = parse_kv(text)
        except ArgsSyntaxError as error:
            context.problem(f"{module}: {error}", mark)
            return {}
        if loose:
            context.problem(f"{module}: arguments must be key=value, found '{loose[0]}'", mark)
        return args
    context.problem(f"arguments of '{module}' must be a mapping or key=value text, not {type(value).__name__}", mark)
    return {}


def _apply_keywords(task: Task, data: dict, context: LoadContext, allowed: frozenset[str]) -> None:
    """Copy task keywords onto the Task, normalising their shapes (strings to lists, yes to True)."""
    def get(key: str) -> Any:
        return data.get(key) if key in allowed else None

    check_text(data, TEXT_KEYWORDS, context, task.mark)
    _check_shapes(data, context, task.mark)
    task.name = str(data["name"]) if data.get("name") is not None else None
    task.when = as_list(data.get("when"))
    task.tags = checked_tags(data, context, task.mark)
    task.notify = [str(item) for item in as_list(get("notify")) if not isinstance(item, (dict, list))]
    task.listen = [str(item) for item in as_list(get("listen")) if not isinstance(item, (dict, list))]
    task.changed_when = as_list(get("changed_when")) if "changed_when" in data else None
    task.failed_when = as_list(get("failed_when")) if "failed_when" in data else None
    task.until = as_list(get("until")) if "until" in data else None
    task.register = _register(data, context, task.mark) if get("register") is not None else None
    task.become = checked_bool(data, "become", context, task.mark)
    task.become_user = data.get("become_user")
    task.remote_user = data.get("remote_user")
    task.ignore_errors = checked_bool(data, "ignore_errors", context, task.mark) or False
    task.check_mode = checked_bool(data, "check_mode", context, task.mark)
    task.no_log = checked_bool(data, "no_log", context, task.mark) or False
    task.run_once = checked_bool(data, "run_once", context, task.mark) or False
    task.delegate_to = data.get("delegate_to") if "local_action" not in data else "localhost"
    task.loop_control = get("loop_control") or {}
    if not isinstance(task.loop_control, dict):
        context.problem("'loop_control' must be a mapping (loop_var:, index_var:, label:...)",
                        mark_of(data, "loop_control", task.mark))
        task.loop_control = {}
    _check_loop_control(task.loop_control, context, mark_of(data, "loop_control", task.mark))
    _set_loop(task, data, context)
    for key, kind, default in (("vars", dict, {}), ("environment", dict, {})):
        value = data.get(key)
        if value is not None and not (isinstance(value, kind) or is_template(value)):
            context.problem(f"'{key}' must be a mapping", mark_of(data, key, task.mark))
            value = None
        setattr(task, key, value if value is not None else default)
    for key, convert in (("retries", int), ("delay", float)):
        if get(key) is not None:
            try:
                value = convert(data[key]) if not is_template(data[key]) else data[key]
                if isinstance(data[key], bool) or not is_template(value) and value < 0:
                    raise ValueError(key)
                setattr(task, key, value)
            except (TypeError, ValueError):
                context.problem(f"'{key}' must be a number from 0 up, not {data[key]!r}", mark_of(data, key, task.mark))
    task.diff = checked_bool(data, "diff", context, task.mark)
    _set_async(task, data, context)
    if "timeout" in data:
        value = data["timeout"]
        if is_template(value) or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            task.timeout = value
        else:
            context.problem(f"'timeout' must be a number of seconds above 0, not {_shown(value)}",
                            mark_of(data, "timeout", task.mark))
    task.become_method = checked_become_method(data, context, task.mark)


def checked_become_method(data: dict, context: LoadContext, mark: Mark) -> str | None:
    """sudo or su (or a template, rendered per host); Ansible's others (doas, pbrun, runas...)
    are refused by name."""
    method = data.get("become_method")
    if method is None or (isinstance(method, str) and (method in BECOME_METHODS or is_template(method))):
        return method
    context.problem(f"become_method '{method}' is not supported (sudo and su are)", mark_of(data, "become_method", mark))
    return None


BACKGROUND_MODULES = ("command", "shell")  # `poll: 0` starts these detached (provision/modules/async_status.py)


def _set_async(task: Task, data: dict, context: LoadContext) -> None:
    """`async: N` with `poll` > 0 (Ansible waits, checking every poll seconds): the task runs as
    usual, each of its commands bounded by N seconds. `poll: 0` (start and do not wait): a command
    or shell task starts its command detached on the host and registers the job for
    async_status; any other module does its steps from the controller, so it cannot be left
    running, and says so."""
    if "async" not in data:
        if "poll" in data:
            context.problem("'poll' without 'async' has no meaning", mark_of(data, "poll", task.mark))
        return
    value, poll = data["async"], data.get("poll", 15)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        context.problem(f"'async' must be a number of seconds above 0, not {_shown(value)}", mark_of(data, "async", task.mark))
        return
    if isinstance(poll, bool) or not isinstance(poll, int) or poll < 0:
        context.problem(f"'poll' must be a number of seconds, not {_shown(poll)}", mark_of(data, "poll", task.mark))
    elif poll == 0:
        task.background = True  # for command and shell only: _check_background, once the module is known
    task.async_seconds = value


def _check_background(task: Task, data: dict, context: LoadContext) -> None:
    if task.background and task.module not in BACKGROUND_MODULES:
        context.problem(f"async with 'poll: 0' (start the task and do not wait) runs command and shell tasks in "
                        f"the background; '{task.module}' does its steps from the controller and cannot be left "
                        "running: drop 'poll: 0', or start it from a shell task", mark_of(data, "poll", task.mark))


def _register(data: dict, context: LoadContext, mark: Mark) -> str | None:
    """`register:` names a variable: `register: 123` or `register: "my result"` cannot be used."""
    name = data["register"]
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        context.problem(f"'register' must be a variable name (letters, digits, _), not {_shown(name)}",
                        value_mark(data, "register", mark))
        return None
    return name


def _check_shapes(data: dict, context: LoadContext, mark: Mark) -> None:
    """Conditions are expressions or booleans; notify/listen name handlers: a mapping in either is a
    YAML indentation slip, which str() would otherwise turn into a condition or a handler name."""
    for key in CONDITION_KEYWORDS:
        for item in as_list(data.get(key)):
            if isinstance(item, (dict, list)):
                context.problem(f"'{key}' must be an expression such as \"x == 1\" (or a list of them), "
                                f"not {_shown(item)}", value_mark(data, key, mark))
                break
    for key in ("notify", "listen"):
        if any(isinstance(item, (dict, list)) for item in as_list(data.get(key))):
            context.problem(f"'{key}' must name handlers (text, or a list of text), not {_shown(data[key])}",
                            value_mark(data, key, mark))


def _check_loop_control(control: dict, context: LoadContext, mark: Mark) -> None:
    for key, value in control.items():
        where = mark_of(control, key, mark)
        if key not in LOOP_CONTROL_KEYS:
            context.problem(f"unknown loop_control key '{key}'{did_you_mean(str(key), LOOP_CONTROL_KEYS)}", where)
        elif key in ("loop_var", "index_var") and not (isinstance(value, str) and IDENTIFIER.match(value)):
            context.problem(f"loop_control '{key}' must be a variable name, not {_shown(value)}", where)


LOOKUP_LOOPS = ("with_fileglob", "with_first_found", "with_sequence", "with_together", "with_nested",
                "with_indexed_items", "with_subelements", "with_filetree")


def _set_loop(task: Task, data: dict, context: LoadContext) -> None:
    loops = [key for key in ("loop", "with_items", "with_list", "with_dict", *LOOKUP_LOOPS) if key in data]
    if len(loops) > 1:
        context.problem(f"use only one of {', '.join(loops)}", mark_of(data, loops[1], task.mark))
    if not loops:
        return
    value = data[loops[0]]
    if loops[0] == "with_dict":
        if isinstance(value, dict):
            value = [{"key": key, "value": item} for key, item in value.items()]
        elif isinstance(value, str) and value.strip().startswith("{{") and value.strip().endswith("}}"):
            value = "{{ (" + value.strip()[2:-2] + ") | dict2items }}"
    elif loops[0] == "with_items" and isinstance(value, list):
        value = [item for entry in value for item in (entry if isinstance(entry, list) else [entry])]
    elif loops[0] in LOOKUP_LOOPS:  # the value is the lookup's terms, rendered per host, then looked up
        task.loop, task.loop_lookup = value, loops[0].removeprefix("with_")
        return
    if not isinstance(value, (list, str)):
        context.problem(f"'{loops[0]}' must be a list or a Jinja2 expression", mark_of(data, loops[0], task.mark))
        return
    task.loop = value


def _load_block(data: dict, task: Task, context: LoadContext, handler: bool) -> Task:
    for key in data:
        if key not in BLOCK_KEYWORDS:
            _unknown_keyword(str(key), context, mark_of(data, key, task.mark), BLOCK_KEYWORDS, "block")
    _apply_keywords(task, data, context, BLOCK_KEYWORDS)
    for section in ("block", "rescue", "always"):
        items = load_task_list(data.get(section), context, mark_of(data, section, task.mark), task.base_dir,
                               task.role, handler, section)
        setattr(task, section, items)
    return task


def task_file_folders(context: LoadContext, current_file: str, base_dir: str) -> list[str]:
    """Where a relative include name is looked up, in order: beside the including file, the role's
    tasks/ and folder, the playbook's folder."""
    return [os.path.dirname(current_file), os.path.join(base_dir, "tasks"), base_dir, context.playbook_dir]


def resolve_task_file(name: str, context: LoadContext, current_file: str, base_dir: str) -> str | None:
    """Where an included tasks file is: beside the including file, the role's tasks/, the playbook."""
    if os.path.isabs(name):
        return name if os.path.isfile(name) else None
    for folder in task_file_folders(context, current_file, base_dir):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None

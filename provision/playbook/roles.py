"""Roles: find a role folder, load its tasks/handlers/defaults/vars, expand meta dependencies.

A role is looked up in `roles/` beside the playbook, then in the project's roles folder, then as
a path. Each folder's `main.yml` (or `main.yaml`) is optional; a role with none is still valid.

The easy thing to get wrong: dependencies run before the role, and a role listed twice with the
same parameters runs once (Ansible's rule, unless `allow_duplicates: true` in its meta).
"""
from __future__ import annotations

import os
from typing import Any

from provision.errors import Mark
from provision.playbook.context import LoadContext, did_you_mean
from provision.playbook.model import Role, Task
from provision.playbook.tasks import as_list, checked_become_method, checked_bool, checked_tags, load_task_list
from provision.yamlsource import mark_of

ROLE_ENTRY_KEYWORDS = frozenset({"role", "name", "when", "tags", "vars", "become", "become_user", "become_method",
                                 "environment", "ignore_errors", "delegate_to", "no_log", "check_mode"})


def find_role(name: str, context: LoadContext) -> str | None:
    """The folder of role `name`, or None."""
    folders = [os.path.join(context.playbook_dir, "roles"), *context.roles_dirs]
    for folder in folders:
        candidate = os.path.join(folder, name)
        if os.path.isdir(candidate):
            return candidate
    candidate = name if os.path.isabs(name) else os.path.join(context.playbook_dir, name)
    return candidate if os.path.isdir(candidate) and os.path.sep in name else None


def main_file(role_path: str, folder: str, stem: str = "main") -> str | None:
    for extension in (".yml", ".yaml", ""):
        candidate = os.path.join(role_path, folder, stem + extension)
        if os.path.isfile(candidate):
            return candidate
    return None


ENTRY_TASK_KEYWORDS = ("become", "become_user", "become_method", "environment", "ignore_errors", "delegate_to",
                       "no_log", "check_mode")


def _entry_keywords(entry: dict, context: LoadContext, mark: Mark) -> Task | None:
    """A role entry's task keywords (`- {role: x, become: true}`), held as a block around the
    role's tasks, as Ansible applies them to every task of the role."""
    if not any(key in entry for key in ENTRY_TASK_KEYWORDS):
        return None
    block = Task(mark=mark, block=[])
    block.become = checked_bool(entry, "become", context, mark)
    block.become_user = entry.get("become_user")
    block.become_method = checked_become_method(entry, context, mark)
    environment = entry.get("environment")
    if isinstance(environment, dict):
        block.environment = environment
    elif environment is not None:
        context.problem("a role entry's 'environment' must be a mapping", mark_of(entry, "environment", mark))
    block.ignore_errors = bool(checked_bool(entry, "ignore_errors", context, mark, default=False))
    block.delegate_to = entry.get("delegate_to")
    block.no_log = bool(checked_bool(entry, "no_log", context, mark, default=False))
    block.check_mode = checked_bool(entry, "check_mode", context, mark)
    return block


def load_role(entry: Any, context: LoadContext, mark: Mark, tasks_from: str = "main") -> list[Role]:
    """A role entry (name, or mapping with role:/name: + params) -> its dependencies, then itself."""
    if isinstance(entry, str):
        entry = {"role": entry}
    if not isinstance(entry, dict) or not (entry.get("role") or entry.get("name")):
        context.problem("a role entry must be a name or a mapping with 'role:'", mark)
        return []
    name = str(entry.get("role") or entry.get("name"))
    path = find_role(name, context)
    if path is None:
        searched = ", ".join([os.path.join(context.playbook_dir, "roles"), *context.roles_dirs])
        known = [role for folder in [os.path.join(context.playbook_dir, "roles"), *context.roles_dirs]
                 if os.path.isdir(folder) for role in os.listdir(folder)]
        context.problem(f"role '{name}' not found (searched {searched}){did_you_mean(name, known)}", mark)
        return []
    if path in context.role_stack:
        context.problem(f"role '{name}' depends on itself", mark)
        return []
    params = {key: value for key, value in entry.items() if key not in ROLE_ENTRY_KEYWORDS}
    if isinstance(entry.get("vars"), dict):
        params.update(entry["vars"])
    role = Role(name=os.path.basename(os.path.normpath(path)), path=path, params=params,
                when=as_list(entry.get("when")), tags=checked_tags(entry, context, mark), mark=mark,
                entry=_entry_keywords(entry, context, mark))
    context.role_stack.append(path)
    try:
        dependencies = _load_meta(role, context)
        _load_contents(role, context, tasks_from, entry)
    finally:
        context.role_stack.pop()
    role.dependencies = [dependency for dependency in dependencies if dependency.name != role.name]
    for dependency in dependencies:  # Ansible: a role entry's tags reach everything in its dependencies
        _add_role_tags(dependency, role.tags)
    return dependencies + [role]


def _load_vars_file(role: Role, context: LoadContext, folder: str) -> dict[str, Any]:
    path = main_file(role.path, folder)
    if path is None:
        return {}
    data = context.load(path, None)
    if data is None:
        return {}
    if not isinstance(data, dict):
        context.problem(f"{folder}/main of role '{role.name}' must be a mapping of variables",
                        mark_of(data, None, Mark(path, 1, 1)))
        return {}
    return data


def _load_meta(role: Role, context: LoadContext) -> list[Role]:
    path = main_file(role.path, "meta")
    data = context.load(path, None) if path else None
    if data is None:
        return []
    if not isinstance(data, dict):
        context.problem("meta/main must be a mapping", mark_of(data, None, Mark(path or role.path, 1, 1)))
        return []
    role.allow_duplicates = bool(data.get("allow_duplicates", False))
    entries = data.get("dependencies") or []
    if not isinstance(entries, list):
        context.problem("'dependencies' must be a list of roles", mark_of(data, "dependencies"))
        return []
    expanded: list[Role] = []
    for index, dependency in enumerate(entries):
        expanded.extend(load_role(dependency, context, mark_of(entries, index, mark_of(data, "dependencies"))))
    return expanded


def _load_contents(role: Role, context: LoadContext, tasks_from: str, entry: dict) -> None:
    role.defaults = _load_vars_file(role, context, "defaults")
    role.vars = _load_vars_file(role, context, "vars")
    tasks_path = main_file(role.path, "tasks", tasks_from)
    if tasks_path is None and tasks_from != "main":
        context.problem(f"role '{role.name}' has no tasks/{tasks_from}.yml", role.mark)
    if tasks_path is not None:
        context.file_stack.append(tasks_path)
        try:
            data = context.load(tasks_path, role.mark)
            role.tasks = load_task_list(data, context, Mark(tasks_path, 1, 1), role.path, role.name)
        finally:
            context.file_stack.pop()
    handlers_path = main_file(role.path, "handlers")
    if handlers_path is not None:
        data = context.load(handlers_path, role.mark)
        role.handlers = load_task_list(data, context, Mark(handlers_path, 1, 1), role.path, role.name,
                                       handlers=True, section="handlers")
    _add_role_tags(role, role.tags)


def _add_role_tags(role: Role, tags: set[str]) -> None:
    """Tags given where a role is listed go on the role, its tasks and its handlers, as in Ansible
    (which then runs a notified handler whatever --tags says: tags select tasks, not handlers)."""
    role.tags |= tags
    for task in role.tasks + role.handlers:
        _add_tags(task, tags)


def _add_tags(task: Task, tags: set[str]) -> None:
    """Role tags apply to every task of the role, so --tags can select them before running."""
    task.tags |= tags
    for child in (task.block or []) + task.rescue + task.always:
        _add_tags(child, tags)


def same_role(first: Role, second: Role) -> bool:
    return first.path == second.path and first.params == second.params and not first.allow_duplicates

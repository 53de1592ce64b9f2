"""import_tasks / include_tasks / import_role / include_role, resolved while loading.

Each becomes a block Task holding the included tasks (see provision.playbook.tasks). An include's
`loop` stays on that block: the runner runs the block once per item, with the loop variable set
(the file is still loaded once, before running). A role pulled
in this way is added to `play.all_roles`, and its handlers to the play's handlers, so the runner
finds its defaults and vars through `task.role` like any listed role.
"""
from __future__ import annotations

import glob
import os
import re
from typing import Any

from provision.errors import Mark
from provision.playbook.context import LoadContext
from provision.playbook.model import Task
from provision.templating import is_template
from provision.yamlsource import load_file_with_problems, mark_of

ROLE_INCLUDE_KEYS = frozenset({"name", "role", "tasks_from", "vars_from", "defaults_from", "handlers_from",
                               "public", "apply", "allow_duplicates", "rolespec_validate"})


def load_include(task: Task, value: Any, context: LoadContext, mark: Mark) -> Task:
    """Turn an include/import task into a block of the tasks it brings in."""
    kind = task.module or ""
    if task.loop is not None and kind.startswith("import"):
        context.problem(f"a loop on '{kind}' is not possible (an import is resolved before any loop runs, as in "
                        f"Ansible): use '{kind.replace('import', 'include')}'",
                        task.marks.get("loop", task.marks.get("with_items", mark)))
    task.module = None
    task.rescue, task.always = [], []
    task.dynamic = kind.startswith("include")
    if kind in ("import_role", "include_role"):
        task.block = _role_tasks(task, value, context, mark, kind)
    else:
        task.block = _file_tasks(task, value, context, mark, kind)
    return task


def _file_tasks(task: Task, value: Any, context: LoadContext, mark: Mark, kind: str) -> list[Task]:
    from provision.playbook.freeform import parse_kv
    from provision.playbook.tasks import load_task_list, resolve_task_file

    name = value.get("file") if isinstance(value, dict) else value
    if isinstance(value, dict) and "_raw_params" in value:
        name = value["_raw_params"]
    if isinstance(name, str) and name.strip().startswith("file="):
        # `include_tasks: file=x.yml`: Ansible reads key=value words in the free form
        words, rest = parse_kv(name.strip())
        name = words.get("file") if not rest else name
    if not isinstance(name, str) or not name.strip():
        context.problem(f"'{kind}' needs a file name", mark)
        return []
    name = name.strip()
    task.include = name
    task.name = task.name or f"{kind} {name}"
    if is_template(name):
        if not task.dynamic:
            context.problem(f"'{kind}' file name '{name}' is templated; an import is resolved before anything "
                            f"runs, so its name must be static (use '{kind.replace('import', 'include')}')", mark)
            return []
        return _candidate_tasks(task, name, context, mark, kind)
    path = resolve_task_file(name, context, mark.file, task.base_dir)
    if path is None:
        context.problem(f"'{kind}': tasks file '{name}' not found", mark)
        return []
    if path in context.file_stack:
        context.problem(f"'{kind}' of '{name}' {INCLUDES_ITSELF} ({' -> '.join(context.file_stack)})", mark)
        return []
    context.file_stack.append(path)
    try:
        data = context.load(path, mark)
        return load_task_list(data, context, Mark(path, 1, 1), task.base_dir, task.role)
    finally:
        context.file_stack.pop()


INCLUDES_ITSELF = "includes itself"
MAX_TEMPLATED_DEPTH = 3  # templated includes inside candidates of templated includes: each level multiplies
_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def candidate_key(name: str) -> str:
    """How a rendered include name is matched to a candidate file: normalised, as it was globbed."""
    return os.path.normpath(name)


def _candidate_tasks(task: Task, name: str, context: LoadContext, mark: Mark, kind: str) -> list[Task]:
    """An include_tasks whose file name is a template (`{{ ansible_os_family | lower }}.yml`): every
    tasks file the name could pick, found where a written-out name is looked up (beside the
    including file, the role's tasks/ and folder, the playbook's folder; the first folder holding
    a name wins, as for a static name), each template part a wildcard within one folder level,
    loaded and checked now; the host picks one when it reaches the include. YAML that is no tasks
    list (a playbook, an inventory, vars) or does not parse is not a candidate. The files are
    conditional tasks for validation: a module provision lacks in one is a warning."""
    from provision.playbook.tasks import load_task_list, task_file_folders

    task.templated_include = True
    if context.templated_depth >= MAX_TEMPLATED_DEPTH:
        context.problem(f"'{kind}' file name '{name}' is templated inside {MAX_TEMPLATED_DEPTH} templated includes "
                        "already; provision loads every file such a name could pick before the run, so it stops "
                        "here (write the name out, or include fewer levels)", mark)
        return []
    known = name
    if task.role:  # what is known while loading: where the role and the playbook are
        known = re.sub(r"\{\{\s*role_path\s*\}\}", lambda _: task.base_dir, known)
    known = re.sub(r"\{\{\s*playbook_dir\s*\}\}", lambda _: context.playbook_dir, known)
    pattern = _wildcards(known)
    folders = [""] if os.path.isabs(known) else task_file_folders(context, mark.file, task.base_dir)
    including = {os.path.abspath(path) for path in (*context.file_stack, mark.file)}
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(glob.escape(folder), pattern) if folder else pattern)):
            key = candidate_key(path if not folder else os.path.relpath(path, folder))
            if key not in found and os.path.isfile(path) and path.endswith((".yml", ".yaml")) and \
                    os.path.abspath(path) not in including:  # not the including file itself
                found[key] = os.path.abspath(path)
    blocks: list[Task] = []
    context.templated_depth += 1
    try:
        for key, path in found.items():
            data, problems = load_file_with_problems(path)
            if problems or not _task_list(data):
                continue  # not a tasks file: the name cannot mean it
            context.file_stack.append(path)
            recorded = len(context.problems)
            try:
                tasks = load_task_list(data, context, Mark(path, 1, 1), task.base_dir, task.role)
            finally:
                context.file_stack.pop()
            if any(INCLUDES_ITSELF in problem.message for problem in context.problems[recorded:]):
                del context.problems[recorded:]  # it leads back to the including file: not what the name picks
                continue
            blocks.append(Task(mark=Mark(path, 1, 1), block=tasks, include=key, base_dir=task.base_dir,
                               role=task.role))
    finally:
        context.templated_depth -= 1
    if not blocks:
        context.problem(f"'{kind}' file name '{name}' is templated, and no tasks file matches '{pattern}' where "
                        "includes are looked up (beside this file, the role's tasks/, the playbook's folder)", mark)
    return blocks


def _task_list(data: Any) -> bool:
    """Whether YAML looks like a tasks file: a list of mappings, none of them a play or an import
    of a playbook."""
    return isinstance(data, list) and all(
        isinstance(entry, dict) and not {"hosts", "import_playbook", "ansible.builtin.import_playbook"} & set(entry)
        for entry in data)


def _wildcards(name: str) -> str:
    """The name with each template part a `*` and everything else matched literally."""
    parts, last = [], 0
    for match in _TEMPLATE_PART.finditer(name):
        parts.append(glob.escape(name[last:match.start()]) + "*")
        last = match.end()
    parts.append(glob.escape(name[last:]))
    return re.sub(r"\*+", "*", "".join(parts))


def _role_tasks(task: Task, value: Any, context: LoadContext, mark: Mark, kind: str) -> list[Task]:
    from provision.playbook.roles import load_role

    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not (value.get("name") or value.get("role")):
        context.problem(f"'{kind}' needs 'name:' (the role)", mark)
        return []
    for key in value:
        if key not in ROLE_INCLUDE_KEYS:
            context.problem(f"unknown '{kind}' option '{key}'", mark_of(value, key, mark))
    name = str(value.get("name") or value.get("role"))
    task.include = f"role {name}"
    task.name = task.name or f"{kind} {name}"
    roles = load_role({"role": name}, context, mark, tasks_from=str(value.get("tasks_from") or "main"))
    if not roles:
        return []
    blocks: list[Task] = []
    for role in roles:  # dependencies first, each as its own block so it keeps its role name
        context.roles.setdefault(role.name, role)
        context.extra_handlers.extend(role.handlers)
        if role is roles[-1]:
            task.role, task.base_dir = role.name, role.path
            return blocks + role.tasks
        blocks.append(Task(mark=role.mark or mark, block=role.tasks, role=role.name, base_dir=role.path,
                           include=f"role {role.name}", vars=dict(role.params), when=list(role.when),
                           tags=set(role.tags)))
    return blocks

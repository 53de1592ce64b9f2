"""Playbook YAML -> Playbook/Play/Task dataclasses, roles and includes resolved, marks kept.

`load_playbook` is the entry point. With strict=True (the default) any problem raises
ValidationFailed listing all of them; with strict=False they are left in `playbook.problems` so
`validate()` can report them together with its own (what `provision lint` does).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from provision.errors import Mark, ValidationFailed
from provision.hostpatterns import pattern_problems
from provision.playbook.context import (
    PLAY_KEYWORDS, SSH_CONNECTIONS, UNSUPPORTED_KEYWORDS, LoadContext, ModuleLookup, did_you_mean, module_lookup)
from provision.playbook.model import Play, Playbook
from provision.playbook.roles import load_role, same_role
from provision.playbook.tasks import check_text, checked_become_method, checked_bool, checked_tags, load_task_list
from provision.templating import Templar, TemplateError, is_template
from provision.yamlsource import load_file_with_problems, mark_of, value_mark

_PERCENT = re.compile(r"^\s*\d+(\.\d+)?\s*%\s*$")


def load_playbook(path: str, project_roles_dir: str | list[str] | None = None,
                  modules: Mapping[str, Any] | ModuleLookup | None = None, strict: bool = True) -> Playbook:
    """Load a playbook file; `modules` defaults to provision.modules.get_module. Roles are found
    beside the playbook, then in `project_roles_dir` (one folder, or several in order: roles_path)."""
    if isinstance(project_roles_dir, str):
        roles_dirs = [project_roles_dir]
    else:
        roles_dirs = [folder for folder in project_roles_dir or [] if folder]
    context = LoadContext(os.path.abspath(path), roles_dirs, module_lookup(modules))
    playbook = Playbook(path=path)
    playbook.plays = _load_plays(path, context, [])
    playbook.problems = context.problems
    if strict and playbook.problems:
        raise ValidationFailed(playbook.problems)
    return playbook


def _load_plays(path: str, context: LoadContext, chain: list[str]) -> list[Play]:
    data, problems = load_file_with_problems(path)
    for each in problems:  # duplicate keys keep the data: the rest of the file is still checked
        context.add(each)
    if data is None and not problems or data == []:
        context.problem("the playbook has no plays: it is empty", Mark(path, 1, 1))
        return []
    if data is None:
        return []
    if not isinstance(data, list):
        context.problem("a playbook must be a list of plays (each starting with '- hosts:')",
                        mark_of(data, None, Mark(path, 1, 1)))
        return []
    plays: list[Play] = []
    for index, item in enumerate(data):
        mark = mark_of(data, index, Mark(path, 1, 1))
        if isinstance(item, dict) and "import_playbook" in item:
            plays.extend(_import_playbook(item, path, context, chain, mark))
        elif isinstance(item, dict):
            plays.append(_load_play(item, context, mark))
        else:
            context.problem(f"a play must be a mapping (hosts:, tasks:...), not {type(item).__name__}", mark)
    return plays


def _import_playbook(item: dict, path: str, context: LoadContext, chain: list[str], mark: Mark) -> list[Play]:
    name = item["import_playbook"]
    target = os.path.join(os.path.dirname(os.path.abspath(path)), str(name))
    if not os.path.isfile(target):
        context.problem(f"import_playbook: '{name}' not found", value_mark(item, "import_playbook", mark))
        return []
    if target in chain or target == os.path.abspath(path):
        context.problem(f"import_playbook: '{name}' imports itself", mark)
        return []
    return _load_plays(target, context, chain + [os.path.abspath(path)])


def _load_play(data: dict, context: LoadContext, mark: Mark) -> Play:
    context.roles, context.extra_handlers = {}, []
    marks = {str(key): mark_of(data, key, mark) for key in data}
    for key in data:
        if key not in PLAY_KEYWORDS:
            if key in UNSUPPORTED_KEYWORDS:
                context.problem(f"play keyword '{key}' is valid in Ansible but not supported by provision", marks[key])
            else:
                context.problem(f"unknown play keyword '{key}'{did_you_mean(key, PLAY_KEYWORDS)}", marks[key])
    connection = data.get("connection")
    if connection is not None and connection not in SSH_CONNECTIONS:
        context.problem(f"play keyword 'connection: {connection}' is not supported: a play always reaches its hosts "
                        "over SSH (ssh, smart and paramiko_ssh mean that); a host that runs here takes "
                        "`ansible_connection: local` in the inventory", marks["connection"])
    hosts = data.get("hosts")
    if hosts is None or hosts == "":
        context.problem("play has no 'hosts:' (a host pattern such as 'all' or 'web:!db')", mark)
        hosts = ""
    elif isinstance(hosts, dict) or isinstance(hosts, list) and any(isinstance(host, (dict, list)) for host in hosts):
        context.problem("'hosts' must be a host pattern (text, or a list of patterns), not a mapping",
                        value_mark(data, "hosts", mark))
        hosts = ""
    elif isinstance(hosts, list):
        hosts = ",".join(str(host) for host in hosts)
    check_text(data, ("name", "become_user", "become_method"), context, mark)
    for problem in pattern_problems(str(hosts)) if not is_template(str(hosts)) else []:
        context.problem(problem, value_mark(data, "hosts", mark))
    play = Play(mark=mark, hosts=str(hosts), name=data.get("name"), marks=marks)
    play.vars = _mapping(data, "vars", context, mark)
    environment = data.get("environment")
    # a mapping, or a template giving one per host (DeepOps: "{{ proxy_env if proxy_env is defined else {} }}")
    play.environment = environment if isinstance(environment, str) and is_template(environment) else \
        _mapping(data, "environment", context, mark)
    user = data.get("remote_user")
    if user is not None and (not isinstance(user, str) or is_template(user) or not user.strip()):
        context.problem("'remote_user' must be a user name (templates are not read here)", value_mark(data, "remote_user", mark))
    play.remote_user = user.strip() if isinstance(user, str) and user.strip() and not is_template(user) else None
    if data.get("strategy") not in (None, "linear", "free", "host_pinned"):
        # each host always goes through its tasks at its own pace (what `free` asks for)
        context.problem(f"strategy '{data['strategy']}' is not supported (linear, free and host_pinned are: "
                        "provision runs each host at its own pace)", value_mark(data, "strategy", mark))
    play.become = checked_bool(data, "become", context, mark)
    play.become_user = data.get("become_user")
    play.become_method = checked_become_method(data, context, mark)
    play.gather_facts = checked_bool(data, "gather_facts", context, mark, default=True)
    play.any_errors_fatal = checked_bool(data, "any_errors_fatal", context, mark, default=False)
    play.tags = checked_tags(data, context, mark)
    play.serial = _serial(data, context, mark)
    play.max_fail_percentage = _percentage(data, context, mark)
    play.vars_files, play.vars_from_files = _vars_files(data, play, context, mark)
    base_dir = context.playbook_dir
    for section in ("pre_tasks", "tasks", "post_tasks"):
        setattr(play, section, load_task_list(data.get(section), context, mark_of(data, section, mark),
                                              base_dir, None, section=section))
    play.handlers = load_task_list(data.get("handlers"), context, mark_of(data, "handlers", mark), base_dir, None,
                                   handlers=True, section="handlers")
    play.roles = _roles(data, context, mark)
    seen_handlers = {handler.mark for handler in play.handlers}
    for role in play.roles:
        context.roles.setdefault(role.name, role)
    for handler in [handler for role in play.roles for handler in role.handlers] + context.extra_handlers:
        if handler.mark not in seen_handlers:  # a role listed twice brings its handlers once
            seen_handlers.add(handler.mark)
            play.handlers.append(handler)
    play.all_roles = dict(context.roles)
    return play


def _mapping(data: dict, key: str, context: LoadContext, mark: Mark) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else type(value).__name__
        context.problem(f"'{key}' must be a mapping, not {kind}", mark_of(data, key, mark))
        return {}
    return value


def _serial(data: dict, context: LoadContext, mark: Mark) -> list[int | str]:
    value = data.get("serial")
    if value is None:
        return []
    batches = value if isinstance(value, list) else [value]
    good: list[int | str] = []
    for batch in batches:
        if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0:
            good.append(batch)
        elif isinstance(batch, str) and (_PERCENT.match(batch) or batch.strip().isdigit() or is_template(batch)):
            good.append(int(batch) if batch.strip().isdigit() else batch.strip())
        else:
            context.problem(f"bad serial value {batch!r}: use a positive number, a percentage such as '30%', "
                            "or a list of those", value_mark(data, "serial", mark))
            return []
    return good


def _percentage(data: dict, context: LoadContext, mark: Mark) -> float | None:
    value = data.get("max_fail_percentage")
    if value is None:
        return None
    try:
        number = float(str(value).rstrip("%"))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        context.problem(f"max_fail_percentage must be a number from 0 to 100, not {value!r}",
                        value_mark(data, "max_fail_percentage", mark))
        return None
    return number


def _vars_files(data: dict, play: Play, context: LoadContext, mark: Mark) -> tuple[list[str], dict]:
    """Load vars_files now; a name may use play vars; a list entry means 'first one found'."""
    entries = data.get("vars_files")
    if entries is None:
        return [], {}
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list):
        context.problem("'vars_files' must be a list of file names", mark_of(data, "vars_files", mark))
        return [], {}
    names: list[str] = []
    merged: dict = {}
    for index, entry in enumerate(entries):
        entry_mark = mark_of(entries, index, mark_of(data, "vars_files", mark))
        choices = [str(choice) for choice in (entry if isinstance(entry, list) else [entry])]
        try:
            choices = [Templar(play.vars).render(choice) for choice in choices]
        except TemplateError as error:
            context.problem(f"vars_files name cannot be resolved before running: {error.message}", entry_mark)
            continue
        paths = [choice if os.path.isabs(choice) else os.path.join(context.playbook_dir, choice) for choice in choices]
        found = next((path for path in paths if os.path.isfile(path)), None)
        if found is None:
            context.problem(f"vars_files: {' or '.join(choices)} not found", entry_mark)
            continue
        loaded = context.load(found, entry_mark)
        if loaded is not None and not isinstance(loaded, dict):
            context.problem("a vars file must hold a mapping of variables", mark_of(loaded, None, Mark(found, 1, 1)))
            continue
        names.append(found)
        merged.update(loaded or {})
    return names, merged


def _roles(data: dict, context: LoadContext, mark: Mark) -> list:
    entries = data.get("roles")
    if entries is None:
        return []
    if not isinstance(entries, list):
        context.problem("'roles' must be a list", mark_of(data, "roles", mark))
        return []
    ordered: list = []
    for index, entry in enumerate(entries):
        for role in load_role(entry, context, mark_of(entries, index, mark)):
            if not any(same_role(role, seen) for seen in ordered):
                ordered.append(role)
    return ordered

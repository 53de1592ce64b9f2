"""Variable precedence: which level of variables wins, and how levels merge.

PRECEDENCE below is the one statement of the order: TaskRun.variables() iterates it, the README
prints it (`precedence_markdown()`, tested against README.md), and the engine tests check each pair
of neighbours on a real run. Each level says which of Ansible's documented levels it stands for,
and where provision departs from Ansible's order on purpose, why.

Merging is Ansible's default (`hash_behaviour = replace`): a later level replaces a whole
top-level value, dictionaries are not merged key by key. Use the `combine` filter to merge.

The easy thing to get wrong: inventory is ONE level here, already resolved by provision.inventory
(group vars by depth and name, then group_vars/ files, then host vars, then host_vars/ files).
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_variables.html
# #understanding-variable-precedence, lowest first (ansible-core's VariableManager.get_vars).
ANSIBLE_PRECEDENCE: tuple[str, ...] = (
    "command line values", "role defaults", "inventory file or script group vars",
    "inventory group_vars/all", "playbook group_vars/all", "inventory group_vars/*", "playbook group_vars/*",
    "inventory file or script host vars", "inventory host_vars/*", "playbook host_vars/*",
    "host facts / cached set_facts", "play vars", "play vars_prompt", "play vars_files", "role vars",
    "block vars", "task vars", "include_vars", "set_facts / registered vars", "role (and include_role) params",
    "include params", "extra vars",
)
# Ansible levels provision has no counterpart for: `-u` and friends are not variables, and the
# vars_prompt keyword and the include_vars module are refused by validation.
ANSIBLE_ONLY: tuple[str, ...] = ("command line values", "play vars_prompt", "include_vars")


class TaskSources(Protocol):
    """What a level reads its dicts from: a TaskRun (the task, its scope, the host, the play)."""

    task: Any
    scope: Any
    state: Any
    play: Any


@dataclass(frozen=True)
class Level:
    """One level of precedence: its name and where its values come from, as the README prints them;
    `dicts` gives the level's dictionaries for one task on one host, lowest first."""

    name: str
    where: str
    dicts: Callable[[TaskSources], list[Mapping[str, Any] | None]]
    ansible: tuple[str, ...]  # the levels of ANSIBLE_PRECEDENCE this one stands for
    unlike_ansible: str = ""  # why provision puts it elsewhere in the order; empty: same as Ansible


def task_role(run: TaskSources) -> Any:
    """The role a task belongs to: the listed role it runs under, or the one it was included from."""
    play = run.play.play
    return run.scope.role or (play.all_roles.get(run.task.role) if run.task.role else None)


def _every_role(run: TaskSources, part: str) -> list[Mapping[str, Any] | None]:
    # Every role of the play first (Ansible's private_role_vars = false), then the task's own again
    # so that it wins over the others.
    own = task_role(run)
    return [getattr(role, part) for role in run.play.play.all_roles.values()] + [getattr(own, part) if own else None]


# Lowest first.
PRECEDENCE: tuple[Level, ...] = (
    Level("role defaults", "`roles/x/defaults/main.yml` of every role in the play, then the task's own role",
          lambda run: _every_role(run, "defaults"), ("role defaults",)),
    Level("inventory", "group vars in the inventory file by group depth (`all` first; then "
          "`ansible_group_priority`, then name); `group_vars/all` beside the inventory, then beside the "
          "playbook; the other groups' `group_vars/` files in the same order, all beside the inventory "
          "before any beside the playbook; host vars in the inventory file; `host_vars/` files (beside "
          "the inventory, then beside the playbook)",
          lambda run: [run.state.host.vars], ANSIBLE_PRECEDENCE[2:10]),
    Level("facts", "gathered from the host (`ansible_*`, `ansible_facts`)",
          lambda run: [run.state.facts], ("host facts / cached set_facts",)),
    Level("play vars", "the play's `vars:`", lambda run: [run.play.play.vars], ("play vars",)),
    Level("play vars_files", "the files in the play's `vars_files:`, in order",
          lambda run: [run.play.play.vars_from_files], ("play vars_files",)),
    Level("role vars", "`roles/x/vars/main.yml` of every role in the play, then the task's own role",
          lambda run: _every_role(run, "vars"), ("role vars",)),
    Level("role params", "where a role is listed: `- {role: x, name: value}` and its `vars:`",
          lambda run: [task_role(run).params if task_role(run) else None], ("role (and include_role) params",),
          unlike_ansible="Ansible puts inline role params above set_fact and task vars; here they are "
          "the role's outermost block vars, so a task's vars and set_fact inside the role override them"),
    Level("block and include vars", "`vars:` of enclosing blocks and of `import_tasks`, `include_tasks`, "
          "`import_role`, `include_role`, outermost first",
          lambda run: list(run.scope.vars_layers), ("block vars", "include params"),
          unlike_ansible="Ansible puts include parameters above set_fact and role params; provision "
          "resolves includes when loading, as blocks, so their vars are block vars: a task's vars and "
          "set_fact inside override them"),
    Level("task vars", "the task's own `vars:`",
          lambda run: [run.task.vars if isinstance(run.task.vars, dict) else None], ("task vars",)),
    Level("set_fact and registered", "`set_fact` and `register` results, from the earlier tasks on this host",
          lambda run: [run.state.registered], ("set_facts / registered vars",)),
    Level("extra vars", "`-e` / `--extra-vars`, which always win",
          lambda run: [run.play.options.extra_vars], ("extra vars",)),
)


def task_levels(run: TaskSources) -> list[Mapping[str, Any] | None]:
    """Every level's dicts for one task on one host, lowest first: what `layer()` merges."""
    return [found for level in PRECEDENCE for found in level.dicts(run)]


def precedence_markdown(width: int = 100) -> str:
    """The README's numbered list, generated from PRECEDENCE."""
    items = []
    for number, level in enumerate(PRECEDENCE, 1):
        text = f"{number}. {level.name}: {level.where}"
        if level.unlike_ansible:
            text += f". Unlike Ansible: {level.unlike_ansible}"
        items.append(textwrap.fill(text, width=width, subsequent_indent=" " * len(f"{number}. ")))
    return "\n".join(items) + "\n"


# Names the runner defines for every host; validation treats them as always known.
MAGIC_VARIABLES: frozenset[str] = frozenset({
    "hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
    "inventory_dir", "inventory_file", "play_hosts", "ansible_play_hosts", "ansible_play_batch",
    "ansible_play_hosts_all", "ansible_check_mode", "ansible_diff_mode", "omit", "role_path",
    "role_name", "playbook_dir", "ansible_facts", "ansible_loop", "ansible_run_tags",
    "ansible_skip_tags", "ansible_limit", "ansible_version", "ansible_play_name", "environment",
    "vars",
})


def layer(*levels: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge variable levels given lowest precedence first; a later level replaces whole values."""
    merged: dict[str, Any] = {}
    for level in levels:
        if level:
            merged.update(level)
    return merged


def is_fact_name(name: str) -> bool:
    """Facts and connection settings: known to exist only at run time, so never 'undefined'."""
    return name.startswith("ansible_")


def find_cycles(references: Mapping[str, set[str]]) -> list[list[str]]:
    """Variables whose values refer to each other in a ring (`a: "{{ b }}"`, `b: "{{ a }}"`), each
    ring once as a path ['a', 'b', 'a'] starting at its smallest name. `references` maps a name to
    the names its value uses; names outside the mapping end a path (they are plain values)."""
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for start in sorted(references):
        pending: list[list[str]] = [[start]]
        explored = 0
        while pending and explored < 10_000:  # simple paths can be many in a dense graph: rings are short
            path = pending.pop()
            explored += 1
            for following in sorted(references.get(path[-1], ())):
                if following == start:
                    ring = path[path.index(min(path)):] + path[:path.index(min(path))]
                    if tuple(ring) not in seen:
                        seen.add(tuple(ring))
                        cycles.append(ring + [ring[0]])
                elif following in references and following not in path and following > start:
                    pending.append(path + [following])
    return cycles

"""Variable precedence: which layer of variables wins, in Ansible's order, and how layers merge.

The runner builds a host's variables for a task by calling `layer()` on the levels below, lowest
first. Merging is Ansible's default (`hash_behaviour = replace`): a later level replaces a whole
top-level value, dictionaries are not merged key by key. Use the `combine` filter to merge.

The easy thing to get wrong: inventory is ONE level here, already resolved by provision.inventory
(group vars by depth and name, then group_vars/ files, then host vars, then host_vars/ files).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Lowest first. The README quotes this list.
PRECEDENCE: tuple[str, ...] = (
    "role defaults (roles/x/defaults/main.yml)",
    "inventory: group vars, then group_vars/ files, then host vars, then host_vars/ files",
    "facts gathered from the host (ansible_facts, ansible_*)",
    "play vars",
    "play vars_files",
    "role vars (roles/x/vars/main.yml) and role params",
    "block vars (outer blocks first)",
    "task vars",
    "include params (include_tasks / include_role vars)",
    "set_fact and registered variables",
    "extra vars (-e / --extra-vars), which always win",
)

# Names the runner defines for every host; validation treats them as always known.
MAGIC_VARIABLES: frozenset[str] = frozenset({
    "hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
    "inventory_dir", "inventory_file", "play_hosts", "ansible_play_hosts", "ansible_play_batch",
    "ansible_play_hosts_all", "ansible_check_mode", "ansible_diff_mode", "omit", "role_path",
    "role_name", "playbook_dir", "ansible_facts", "ansible_loop", "ansible_run_tags",
    "ansible_skip_tags", "ansible_limit", "ansible_version", "ansible_play_name", "environment",
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

"""Host patterns for `hosts:` and `--limit`, with Ansible's meaning.

`a:b` or `a,b` is a union, `&g` keeps hosts also in g, `!g` drops hosts in g; the order of the
terms does not matter (unions first, then intersections, then exclusions). A term is `all`/`*`,
a group, a host, a glob (`web*`), a regex (`~web\\d+`), a slice (`web[0]`, `web[1:3]`) or
`@file` (one host per line, as written by a retry file).

The easy thing to get wrong: the result keeps inventory order, not the order of the pattern, and
a pattern that matches nothing gives an empty list (the caller says so), never an exception.
"""
from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

from provision.errors import InputError, Mark

if TYPE_CHECKING:
    from provision.inventory import Host, Inventory

_SLICE = re.compile(r"^(?P<name>.+?)\[(?P<start>-?\d*)(?::(?P<end>-?\d*))?\]$")


def split_pattern(pattern: str) -> list[str]:
    """Split on ',' when present, else on ':' outside brackets (so web[1:3] stays one term)."""
    if "," in pattern:
        return [term.strip() for term in pattern.split(",") if term.strip()]
    terms, depth, current = [], 0, ""
    for char in pattern:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == ":" and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def compile_term(term: str) -> re.Pattern[str]:
    """The regular expression of a `~regex` term; a bad one is an InputError, not a crash."""
    try:
        return re.compile(term[1:])
    except re.error as error:
        raise InputError(f"host pattern {term!r}: bad regular expression: {error}") from None


def pattern_problems(pattern: str) -> list[str]:
    """What is wrong with a pattern before any inventory is looked at (bad regular expressions)."""
    problems = []
    for term in split_pattern(pattern):
        bare = term.lstrip("&!")
        if bare.startswith("~"):
            try:
                compile_term(bare)
            except InputError as error:
                problems.append(error.message)
    return problems


def group_members(inventory: Inventory, group_name: str) -> list[str]:
    """Hosts of a group and of all its descendant groups, in inventory order."""
    seen_groups: set[str] = set()
    members: set[str] = set()
    pending = [group_name]
    while pending:
        name = pending.pop()
        if name in seen_groups:
            continue
        seen_groups.add(name)
        group = inventory.groups[name]
        members.update(group.hosts)
        pending.extend(group.children)
    return [name for name in inventory.hosts if name in members]


def _read_host_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    except OSError as error:
        raise InputError(f"cannot read host list file: {error.strerror}", Mark(path)) from None


def match_term(inventory: Inventory, term: str) -> list[str]:
    """Host names matched by one term, in inventory order."""
    if term in ("all", "*"):
        return list(inventory.hosts)
    if term.startswith("@"):
        wanted = set(_read_host_file(term[1:]))
        return [name for name in inventory.hosts if name in wanted]
    if term in inventory.groups:
        return group_members(inventory, term)
    if term in inventory.hosts:
        return [term]
    sliced = _SLICE.match(term)
    if sliced and sliced.group("name") in inventory.groups:
        members = group_members(inventory, sliced.group("name"))
        start = int(sliced.group("start") or 0)
        if sliced.group("end") is None:
            return members[start:start + 1] if -len(members) <= start < len(members) else []
        end = int(sliced.group("end")) + 1 if sliced.group("end") else len(members)
        return members[start:end]  # Ansible slices include their end
    if term.startswith("~"):
        regex = compile_term(term)
        test = lambda name: regex.match(name) is not None  # noqa: E731
    else:
        test = lambda name: fnmatch.fnmatchcase(name, term)  # noqa: E731
    matched: set[str] = {name for name in inventory.hosts if test(name)}
    for group_name in inventory.groups:
        if test(group_name):
            matched.update(group_members(inventory, group_name))
    return [name for name in inventory.hosts if name in matched]


def select_hosts(inventory: Inventory, pattern: str) -> list[Host]:
    """Hosts matching a pattern (see module docstring), in inventory order; may be empty."""
    union: set[str] = set()
    intersections: list[set[str]] = []
    exclusions: set[str] = set()
    for term in split_pattern(pattern.strip()):
        if term.startswith("!"):
            exclusions.update(match_term(inventory, term[1:]))
        elif term.startswith("&"):
            intersections.append(set(match_term(inventory, term[1:])))
        else:
            union.update(match_term(inventory, term))
    selected = union
    for other in intersections:
        selected &= other
    selected -= exclusions
    return [host for name, host in inventory.hosts.items() if name in selected]


def targeted_hosts(inventory: Inventory, pattern: str, limit: str | None) -> list[str]:
    """The names `pattern` selects, narrowed by --limit (both Ansible host patterns)."""
    names = [host.name for host in select_hosts(inventory, pattern)]
    if limit:
        allowed = {host.name for host in select_hosts(inventory, limit)}
        names = [name for name in names if name in allowed]
    return names


def slice_of(names: list[str], number: int, count: int) -> list[str]:
    """The `number`-th (from 1) of `count` slices of `names`, in their (inventory) order: every
    count-th host from the number-th, so slices differ in size by one at most and a host's slice
    depends only on its place in the targeted list."""
    return names[number - 1::count]

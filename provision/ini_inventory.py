"""Ansible's INI inventory format, read into the shape of a YAML inventory.

`[group]` sections of host lines (`web1 ansible_host=10.0.0.1 ansible_port=2222`, host ranges
`gpu[01:16]` too), `[group:vars]` of `key=value` lines, `[group:children]` of group names, hosts
before any section in `ungrouped`. As Ansible reads it: a value on a host line is a Python literal
where it reads as one (`2222` a number, `True` a boolean, `"[1, 2]"` a list), else a string; a value
in a `:vars` section is always a string (`var=FALSE` is the string "FALSE"). What comes out is the
mapping a YAML inventory gives (all:, children:, hosts:, vars:), so one builder makes both, with the
line of each problem.
"""
from __future__ import annotations

import ast
import re
import shlex
from typing import Any

from provision.errors import InputError, Mark
from provision.yamlsource import input_error

SECTION = re.compile(r"^\[([^\]\s]+)\]\s*$")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def looks_like_ini(text: str) -> bool:
    """The file's first meaningful line is a `[section]` or a `host key=value` line (a vault file,
    whose first line is a bare word too, is not)."""
    if text.lstrip().startswith("$ANSIBLE_VAULT;"):
        return False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return bool(SECTION.match(stripped)) or (not stripped.endswith(":") and ":" not in stripped.split()[0]
                                                      and all("=" in word for word in stripped.split()[1:])
                                                      and not stripped.startswith(("-", "{", "[")))
    return False


def parse_ini(text: str, path: str) -> tuple[dict[str, Any], list[InputError]]:
    """The inventory as a YAML inventory's mapping, and every problem with its line."""
    groups: dict[str, dict[str, Any]] = {"all": {"hosts": {}, "vars": {}, "children": {}}}
    problems: list[InputError] = []
    group, kind = "all", "hosts"  # hosts before any section: ungrouped, as a YAML all: hosts:

    def section(name: str) -> dict[str, Any]:
        return groups.setdefault(name, {"hosts": {}, "vars": {}, "children": {}})

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        mark = Mark(path, number, 1)
        if not line or line.startswith(("#", ";")):
            continue
        header = SECTION.match(line)
        if header:
            name, _, kind = header.group(1).partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                problems.append(input_error(f"unknown section kind ':{kind}' (expected :vars or :children)", mark))
                kind = "ignored"
            group = name
            section(group)
            continue
        if kind == "ignored":
            continue
        if kind == "vars":
            key, equals, value = line.partition("=")
            if not equals or not KEY.match(key.strip()):
                problems.append(input_error(f"[{group}:vars] lines are key=value, not {line!r}", mark))
                continue
            section(group)["vars"][key.strip()] = value.strip()  # always a string, as Ansible reads it
        elif kind == "children":
            child = line.split()[0]
            section(child)
            section(group)["children"][child] = None
        else:
            try:
                words = shlex.split(line, comments=True)
            except ValueError as error:
                problems.append(input_error(f"cannot read host line: {error}", mark))
                continue
            if not words:
                continue
            host, variables = words[0], {}
            for word in words[1:]:
                key, equals, value = word.partition("=")
                if not equals or not KEY.match(key):
                    problems.append(input_error(f"host {host}: {word!r} is not key=value", mark))
                    continue
                variables[key] = literal(value)
            section(group)["hosts"][host] = variables or None
    return _nested(groups), problems


def literal(value: str) -> Any:
    """A host line's value: a Python literal when it reads as one, else the text."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def _nested(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every group at the top (the builder links each to all), with its hosts, vars and children;
    empty parts left out, as a YAML inventory would leave them."""
    data: dict[str, Any] = {}
    for name, parts in groups.items():
        entry = {key: value for key, value in parts.items() if value}
        data[name] = entry or None
    return data

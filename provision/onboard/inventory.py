"""The inventory file, edited in place for `provision onboard`: a host added under a group.

Comments, key order and layout are kept: where the host goes is a plain block mapping, its entry is
inserted as new lines and every other byte stays as it was; elsewhere ruamel.yaml's round trip
dumps the document (comments and order kept, a few scalars may be respelt). Either result is
checked to mean exactly "the old inventory plus this host" before it is used.

The easy thing to get wrong: a half-written inventory. The file is replaced by one rename.
"""
from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from provision.errors import InputError
from provision.inventory import Inventory, load_inventory


def _yaml(text: str) -> YAML:
    mapping, offset = guess_indent(text)
    yaml = YAML()  # round trip: comments, key order, quotes and flow style survive
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    yaml.width = 4096  # never re-wrap a long line
    yaml.preserve_quotes = True
    return yaml


def guess_indent(text: str) -> tuple[int, int]:
    """(mapping indent, dash offset of block sequences) as the file writes them; (2, 0) if unknown."""
    lines = [line.split(" #")[0].rstrip() for line in text.splitlines()]
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith(("#", "---", "..."))]
    mapping = offset = None
    for parent, child in zip(lines, lines[1:]):
        if not parent.endswith(":") or parent.lstrip().startswith("- "):
            continue
        step = (len(child) - len(child.lstrip())) - (len(parent) - len(parent.lstrip()))
        if child.lstrip().startswith("- "):
            offset = step if offset is None and step >= 0 else offset
        elif step > 0 and mapping is None:
            mapping = step
    return mapping or 2, offset or 0


def find_group(data: Any, group: str) -> CommentedMap | None:
    """The mapping of GROUP wherever it is defined (top level or under some `children:`)."""
    if not isinstance(data, dict):
        return None
    for name, body in data.items():
        if name == group:
            if body is None:
                body = data[name] = CommentedMap()
            return body if isinstance(body, dict) else None
        found = find_group((body or {}).get("children") if isinstance(body, dict) else None, group)
        if found is not None:
            return found
    return None


def add_host_text(text: str, group: str, host: str, variables: dict[str, Any]) -> tuple[str, bool]:
    """The inventory text with HOST under GROUP's hosts (the group made under `all` if missing).

    A host already listed there keeps its entry; only connection variables that differ are set.
    Returns (text, changed); an unchanged inventory is returned byte for byte. The new entry is
    inserted as lines into the original text when the place is a plain block mapping (every other
    byte stays as it was); otherwise the document is dumped by ruamel.yaml's round trip, which
    keeps comments and order but may respell a few scalars (`null` as nothing, for one).
    """
    yaml = _yaml(text)
    data = yaml.load(text) if text.strip() else None
    if data is None:
        data = CommentedMap([("all", CommentedMap())])
    if not isinstance(data, dict):
        raise InputError("the inventory is not a YAML mapping of groups")
    body = find_group(data, group)
    hosts = body.get("hosts") if body is not None else None
    listed = isinstance(hosts, dict) and host in hosts
    entry = hosts.get(host) if listed else None
    if isinstance(entry, dict) and all(entry.get(key) == value for key, value in variables.items()):
        return text, False
    if not listed:
        inserted = insert_entry_lines(text, data, group, host, variables)
        if inserted is not None:
            return inserted, True
    _add_to_data(data, group, host, variables)
    output = io.StringIO()
    yaml.dump(data, output)
    return output.getvalue(), output.getvalue() != text


def _add_to_data(data: dict, group: str, host: str, variables: dict[str, Any]) -> None:
    body = find_group(data, group)
    if body is None:
        top = data.get("all")
        if isinstance(top, dict):
            if not isinstance(top.get("children"), dict):
                top["children"] = CommentedMap()
            body = top["children"][group] = CommentedMap()
        else:
            body = data[group] = CommentedMap()
    hosts = body.get("hosts")
    if not isinstance(hosts, dict):
        hosts = body["hosts"] = CommentedMap()
    if isinstance(hosts, CommentedMap) and not hosts:
        hosts.fa.set_block_style()
    if isinstance(hosts.get(host), dict):
        hosts[host].update(variables)
    else:
        hosts[host] = CommentedMap(variables)


def insert_entry_lines(text: str, data: dict, group: str, host: str, variables: dict[str, Any]) -> str | None:
    """The text with the host's entry inserted as new lines, or None where that is not simple
    (no such group, flow style `{...}`); the result is checked to mean exactly the intended change."""
    body = find_group(data, group)
    if not isinstance(body, CommentedMap) or not body or body.fa.flow_style():
        return None
    lines = text.splitlines(keepends=True)
    step = guess_indent(text)[0]
    hosts = body.get("hosts")
    if isinstance(hosts, CommentedMap) and hosts and not hosts.fa.flow_style():
        column = hosts.lc.key(next(iter(hosts)))[1]
        at, block = _block_end(lines, body.lc.key("hosts")[0], column), _entry(host, variables, column, step)
    elif "hosts" in body and hosts is None:
        line, column = body.lc.key("hosts")
        at, block = line + 1, _entry(host, variables, column + step, step)
    elif "hosts" not in body:
        line, column = body.lc.key(next(iter(body)))
        at = _block_end(lines, line - 1, column)
        block = " " * column + "hosts:\n" + _entry(host, variables, column + step, step)
    else:
        return None
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    result = "".join(lines[:at]) + block + "".join(lines[at:])
    expected = _plain(text)
    _add_to_data(expected, group, host, variables)
    return result if _plain(result) == expected else None


def _block_end(lines: list[str], start: int, column: int) -> int:
    """Index just after the last content line below line `start` indented at least `column`."""
    end = start + 1
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(lines[index]) - len(lines[index].lstrip()) < column:
            break
        end = index + 1
    return end


def _entry(host: str, variables: dict[str, Any], column: int, step: int) -> str:
    yaml = YAML()
    yaml.indent(mapping=step, sequence=step, offset=0)
    yaml.width = 4096
    output = io.StringIO()
    yaml.dump({host: dict(variables)}, output)
    return "".join(" " * column + line for line in output.getvalue().splitlines(keepends=True))


def _plain(text: str) -> Any:
    """The document as plain data (no comments), to compare what two texts mean."""
    import yaml as pyyaml

    return pyyaml.safe_load(text) or {"all": {}}


def load_inventory_text(path: str, text: str, playbook_dir: str | None) -> Inventory:
    """Load inventory text as if it were the file at `path` (group_vars/ beside it apply)."""
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".onboard-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        inventory = load_inventory(temporary, playbook_dir)
    finally:
        os.unlink(temporary)
    inventory.path = path
    return inventory


def write_atomically(path: str, text: str) -> None:
    """Replace the file in one rename, keeping its permissions: a reader sees old or new, never half."""
    folder = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
    descriptor, temporary = tempfile.mkstemp(prefix=".onboard-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise

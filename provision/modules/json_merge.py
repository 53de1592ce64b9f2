"""json_merge: set or remove named top-level keys of a JSON file, leaving every other key alone.

Made for files several tools share, like /etc/docker/daemon.json (the NVIDIA runtime is one key
among the user's own). The easy thing to get wrong: comparing text instead of data — a file that
already holds the wanted values in another layout or key order is converged and is not rewritten.
"""
from __future__ import annotations

import json
import re
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState


def merge_keys(current: dict[str, Any], keys: dict[str, Any], remove: list[str]) -> dict[str, Any]:
    """A new mapping: existing key order kept, new keys appended, removed keys dropped (pure)."""
    merged = {key: value for key, value in current.items() if key not in remove}
    merged.update(keys)
    return merged


def as_json_data(keys: dict[str, Any]) -> dict[str, Any]:
    """The wanted keys as JSON would read them back (YAML's int keys become strings, tuples lists)."""
    try:
        return json.loads(json.dumps(keys, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ModuleFailed(f"json_merge: keys cannot be written as JSON ({error})") from error


def same_data(left: Any, right: Any) -> bool:
    """Equal as JSON, key order of objects aside. Not `==`: Python says 1 == True == 1.0, but a
    file holding `1` where `true` is wanted is not converged."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def file_indent(text: str) -> int | str:
    """The indentation a JSON file already uses, so a merge does not reformat every line of it."""
    match = re.search(r'^([ \t]+)"', text, re.MULTILINE)
    if not match:
        return 2
    return "\t" if match.group(1).startswith("\t") else len(match.group(1))


def parse_json_object(text: str, path: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModuleFailed(f"{path} is not valid JSON ({error}); refusing to overwrite it") from error
    if not isinstance(data, dict):
        raise ModuleFailed(f"{path} holds a JSON {type(data).__name__}, not an object")
    return data


class JsonMerge(ContentModule):
    name = "json_merge"
    spec = {
        "path": Arg("path", required=True, aliases=("dest",)),
        "keys": Arg("dict", default={}, help="top-level keys to set (whole values replaced)"),
        "remove": Arg("list", elements="str", default=[], help="top-level keys to delete"),
        "create": Arg("bool", default=True),
        "indent": Arg("int", help="spaces per level; default: the file's own indentation, else 2"),
        "backup": Arg("bool", default=False),
        "validate": Arg("str", help="e.g. 'dockerd --validate --config-file %s'"),
        **ATTRIBUTE_ARGS,
    }

    def wanted_content(self, state: FileState) -> bytes | None:
        if not state.exists:
            if not self.args["create"]:
                raise ModuleFailed(f"{self.path} does not exist (use create: true)")
            if not self.args["keys"]:
                return None
        elif state.content is None:
            raise ModuleFailed(f"{self.path} is too large to merge")
        current = parse_json_object(state.content or "", self.path)
        merged = merge_keys(current, as_json_data(self.args["keys"] or {}), self.args["remove"] or [])
        if state.exists and same_data(merged, current):
            return None
        indent = self.args["indent"] if self.args["indent"] is not None else file_indent(state.content or "")
        return (json.dumps(merged, indent=indent, ensure_ascii=False) + "\n").encode()

    def result_data(self, current: FileState, plan: Any) -> dict[str, Any]:
        return {**super().result_data(current, plan), "path": self.path}

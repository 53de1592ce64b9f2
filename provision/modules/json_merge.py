"""json_merge: set or remove named top-level keys of a JSON file, leaving every other key alone.

Made for files several tools share, like /etc/docker/daemon.json (the NVIDIA runtime is one key
among the user's own). The easy thing to get wrong: comparing text instead of data — a file that
already holds the wanted values in another layout or key order is converged and is not rewritten.
"""
from __future__ import annotations

import json
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState


def merge_keys(current: dict[str, Any], keys: dict[str, Any], remove: list[str]) -> dict[str, Any]:
    """A new mapping: existing key order kept, new keys appended, removed keys dropped (pure)."""
    merged = {key: value for key, value in current.items() if key not in remove}
    merged.update(keys)
    return merged


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
        "indent": Arg("int", default=2),
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
        merged = merge_keys(current, self.args["keys"] or {}, self.args["remove"] or [])
        if state.exists and merged == current and list(merged) == list(current):
            return None
        return (json.dumps(merged, indent=self.args["indent"]) + "\n").encode()

    def result_data(self, current: FileState, plan: Any) -> dict[str, Any]:
        return {**super().result_data(current, plan), "path": self.path}

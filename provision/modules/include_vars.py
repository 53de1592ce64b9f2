"""include_vars: variables from a YAML/JSON file (or every file of a folder) set on the host.

Ansible's `include_vars`, run on the controller: the file is found as Ansible finds it (the role's
`vars/`, the task's folder, the playbook's folder), read with the same size limits and YAML rules
as the playbook, and its variables become the host's for the rest of the run (the set_fact level:
Ansible puts include_vars just below it). `name:` puts them under one variable. Templates in
the values are rendered when the file is included, with the variables of that moment and the
file's own (and the files included before it in the same task), so a value may name another of
the same file (Ansible renders them on use: a value naming a variable set later differs).
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from typing import Any

from provision.errors import ProvisionError
from provision.modules.base import Arg, Module, ModuleFailed, ModuleResult

EXTENSIONS = ("yaml", "yml", "json")


class IncludeVars(Module):
    name = "include_vars"
    free_form = True
    read_only = True
    spec = {
        "file": Arg("path"),
        "dir": Arg("path"),
        "name": Arg("str", help="put the variables under this one variable"),
        "files_matching": Arg("str", help="dir: only file names matching this regular expression"),
        "ignore_files": Arg("list", elements="str", default=[]),
        "extensions": Arg("list", elements="str", default=list(EXTENSIONS)),
        "depth": Arg("int", default=0, help="dir: how deep to look (0: all the way)"),
        "ignore_unknown_extensions": Arg("bool", default=False),
        "hash_behaviour": Arg("str", choices=("replace", "merge"), help="merge: mappings loaded twice are merged"),
    }
    mutually_exclusive = (("file", "dir", "_raw_params"),)
    required_one_of = (("file", "dir", "_raw_params"),)

    def files(self) -> list[str]:
        name = self.args.get("file") or self.args.get("_raw_params")
        if name:
            return [self.context.find_file("vars", str(name).strip())]
        folder = self.find_folder(self.args["dir"])
        pattern = re.compile(self.args["files_matching"]) if self.args["files_matching"] else None
        found = []
        for root, folders, names in os.walk(folder):
            folders.sort()
            depth = root[len(folder):].count(os.sep)
            if self.args["depth"] and depth >= self.args["depth"]:
                folders[:] = []
            for file_name in sorted(names):
                if any(fnmatch.fnmatch(file_name, ignored) for ignored in self.args["ignore_files"]) or (
                        pattern is not None and not pattern.search(file_name)):
                    continue
                # os.path.splitext, as Ansible: a file without one has the extension '' (listable)
                if os.path.splitext(file_name)[1][1:] in self.args["extensions"]:
                    found.append(os.path.join(root, file_name))
                elif not self.args["ignore_unknown_extensions"]:  # as Ansible: said, not passed over
                    raise ModuleFailed(f"{os.path.join(root, file_name)} does not have a valid extension: "
                                       f"{', '.join(self.args['extensions'])}")
        return found

    def find_folder(self, name: str) -> str:
        for base in [*getattr(self.context, "search_dirs", []), ""]:
            for candidate in (os.path.join(base, "vars", name), os.path.join(base, name)):
                if os.path.isdir(candidate):
                    return candidate
        raise ModuleFailed(f"include_vars: folder {name!r} not found")

    def run(self) -> ModuleResult:
        from provision.yamlsource import load_file

        try:
            if "file" in self.args and self.args["file"] in (None, ""):  # e.g. a first_found that found none
                raise ModuleFailed("Could not find file on the controller (include_vars file: is empty)")
            self.args = self.check_args(self.args)
            variables: dict[str, Any] = {}
            files = self.files()
            for path in files:
                try:
                    data = load_file(path)
                except ProvisionError as error:
                    raise ModuleFailed(f"include_vars: {error}") from None
                if data is None:
                    continue
                if not isinstance(data, dict):
                    raise ModuleFailed(f"include_vars: {path} must hold a mapping of variables, "
                                       f"not a {type(data).__name__}")
                resolved = self.context.resolve_values({**variables, **data})
                # what could not render against the others is rendered alone: its error is the task's
                data = {key: self.rendered(value) if resolved[key] == value else resolved[key]
                        for key, value in data.items()}
                variables.update(data)  # across the files of one task a later one replaces, merge or not
            if self.args["hash_behaviour"] == "merge" and not self.args["name"]:
                # as Ansible: merged into the value the host already has (ansible-core's own test)
                existing = self.context.evaluate("{{ vars }}")
                variables = {key: merged(existing[key], value)
                             if isinstance(existing, Mapping) and isinstance(existing.get(key), dict)
                             and isinstance(value, dict) else value for key, value in variables.items()}
        except ModuleFailed as failure:
            # Ansible's include_vars reports its failure under `message` (not `msg`)
            return ModuleResult("failed", msg=failure.msg, data={**failure.data, "message": failure.msg})
        facts = {self.args["name"]: variables} if self.args["name"] else variables
        return ModuleResult("ok", data={"ansible_facts": facts, "ansible_included_var_files": files})

    def rendered(self, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
                return self.context.evaluate(text)  # one expression: its value stays native (a list...)
            return self.context.render(value) if "{{" in value or "{%" in value else value
        if isinstance(value, dict):
            return {key: self.rendered(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.rendered(item) for item in value]
        return value


def merged(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """hash_behaviour: merge: mappings merged key by key, all the way down; anything else replaced."""
    result = dict(base)
    for key, value in more.items():
        result[key] = merged(result[key], value) if isinstance(result.get(key), dict) and isinstance(value, dict) \
            else value
    return result

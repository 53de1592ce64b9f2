"""copy: put content (inline or a local file) at a path on the host.

The easy thing to get wrong: `dest` ending in "/" (or naming a directory) means "into that
directory", keeping the source's file name, as Ansible does.
"""
from __future__ import annotations

import posixpath
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState


class Copy(ContentModule):
    name = "copy"
    path_arg = "dest"
    needs_content = False
    reports_md5 = True
    spec = {
        "dest": Arg("path", required=True),
        "content": Arg("raw", help="text to write; mutually exclusive with src"),
        "src": Arg("path", help="local file, looked up in files/ of the role or playbook"),
        "force": Arg("bool", default=True, help="false: only create, never replace"),
        "backup": Arg("bool", default=False),
        "validate": Arg("str", help="command run on the new file before it replaces dest; %s is its path"),
        **ATTRIBUTE_ARGS,
    }
    # Ansible's copy action: "src and content are mutually exclusive", "src (or content) is
    # required". `content: ""` (an empty flag file) counts as given.
    mutually_exclusive = (("content", "src"),)
    required_one_of = (("content", "src"),)

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_args(args)
        dest, source = checked["dest"], checked["src"]
        if dest.endswith("/") and source:  # into that folder: known before reading, so reads batch
            checked["dest"] = posixpath.join(dest, posixpath.basename(source))
        return checked

    def source_bytes(self) -> bytes:
        content, source = self.args.get("content"), self.args.get("src")  # one of them: the rules
        if content is not None:
            if not isinstance(content, str):
                import json

                content = json.dumps(content, indent=2) + "\n"  # as Ansible does for a dict content
            return content.encode()
        with open(self.context.find_file("files", source), "rb") as stream:
            return stream.read()

    def wanted_content(self, state: FileState) -> bytes | None:
        if state.exists and not self.args["force"]:
            return None
        return self.source_bytes()

    def read(self) -> FileState:
        try:
            return super().read()
        except ModuleFailed as failure:
            if self.args.get("src") and "is a directory" in failure.msg:  # copy into it
                self.args["dest"] = posixpath.join(self.path, posixpath.basename(self.args["src"]))
                return super().read()
            raise

"""copy: put content (inline or a local file) at a path on the host.

The easy thing to get wrong: `dest` ending in "/" (or naming a directory) means "into that
directory", keeping the source's file name, as Ansible does.
"""
from __future__ import annotations

import os
import posixpath
from typing import Any

from provision.modules.base import Arg, ModuleFailed, ModuleResult
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.copy_tree import CopyTree, local_bytes
from provision.modules.file import File
from provision.modules.remote_file import CONTENT_LIMIT, FileState, host_path, read_state, sha1


class Copy(ContentModule):
    supports_async = False  # as Ansible's action plugin
    name = "copy"
    path_arg = "dest"
    needs_content = False
    reports_md5 = True
    reports_src = True
    replaces_links = True  # follow: false (the default), as Ansible's copy
    spec = {
        "dest": Arg("path"),  # required: "dest is required", in the words of Ansible's copy action
        "content": Arg("raw", help="text to write; mutually exclusive with src"),
        "src": Arg("path", help="local file, looked up in files/ of the role or playbook"),
        "force": Arg("bool", default=True, help="false: only create, never replace"),
        "backup": Arg("bool", default=False),
        "validate": Arg("str", help="command run on the new file before it replaces dest; %s is its path"),
        "remote_src": Arg("bool", default=False, help="src is a file on the host, copied there"),
        "follow": Arg("bool", default=False, help="a link at dest: write the file it points to"),
        "local_follow": Arg("bool", default=True, help="a link as src: copy the file it points to"),
        "directory_mode": Arg("raw", help="a folder src: the mode of the folders this run makes"),
        "decrypt": Arg("bool", default=True, help="an ansible-vault src file is decrypted (--vault-password-file)"),
        **ATTRIBUTE_ARGS,
    }
    # src, content and dest are checked by check_args, as Ansible's copy action does (not its
    # module's argument spec). `content: ""` (an empty flag file) counts as given.
    _remote_mode: str | None = None  # remote_src: the source's mode, read with its bytes (mode: preserve)
    _into_folder: bool = False  # dest was written ending in "/": a folder, made when missing (Ansible's)

    @classmethod
    def action_problems(cls, args: dict[str, Any]) -> list[str]:
        """Ansible's copy action's checks, in its order and words (`src: ''` counts as none)."""
        source, content = args.get("src"), args.get("content")
        if not source and content is None:
            return ["src (or content) is required"]
        if not args.get("dest"):
            return ["dest is required"]
        if source and content is not None:
            return ["src and content are mutually exclusive"]
        if content is not None and str(args["dest"]).endswith("/"):
            return ["can not use content with a dir as dest"]
        return []

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_args(args)
        dest, source = checked["dest"], checked["src"]
        if dest.endswith("/") and source:  # into that folder: known before reading, so reads batch
            checked["dest"] = posixpath.join(dest, posixpath.basename(source))
        return checked

    def run(self) -> ModuleResult:
        """A folder as src (here, or on the host with remote_src) is copied as a tree
        (copy_tree.py); everything else as one file."""
        source = self.args.get("src")
        if not source or self.args.get("content") is not None:
            return super().run()
        dest = self.args.get("dest")  # as written: check_args puts a file's name under a dest ending in /
        self._into_folder = str(dest or "").endswith("/")
        try:
            checked = self.check_args(self.args)
        except ModuleFailed:
            return super().run()  # the argument problem, reported as every module's
        try:
            self.args = checked
            remote = bool(self.args["remote_src"])
            if remote:
                folder = self.context.run(f"[ -d {host_path(source)} ]").rc == 0
                found = source
            else:
                found = self.context.find_file("files", source.rstrip("/") or "/", folders=True)
                folder = os.path.isdir(found)
            if folder:
                status, diff, data = CopyTree(self.args, self.context, found, str(dest), remote).run()
                return ModuleResult(status, msg="would change" if self.context.check and status == "changed"
                                    else "", diff=diff or None, data=data)
            if not remote and not self.args["local_follow"] and os.path.islink(found):
                # a link copied as a link, as Ansible's copy action does it: by the file module
                link = {"path": self.args["dest"], "src": os.readlink(found), "state": "link", "force": True}
                return File(link, self.context).run()
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg, data=failure.data)
        return super().run()

    def makes_parents(self) -> bool:
        """`dest: new/dir/` makes the folders, as Ansible's copy; a file path in a missing folder fails."""
        return self._into_folder

    def source_bytes(self) -> bytes:
        content, source = self.args.get("content"), self.args.get("src")  # one of them: the rules
        if self.args.get("remote_src") and content is None:
            return self.remote_source()
        if content is not None:
            if not isinstance(content, str):
                import json

                content = json.dumps(content, indent=2) + "\n"  # as Ansible does for a dict content
            return content.encode()
        path = self.context.find_file("files", source)
        return local_bytes(path, self.args["decrypt"])

    def remote_source(self) -> bytes:
        """remote_src: the source file's bytes, read from the host (within the content limit, as
        every file provision edits; a bigger one is refused by name rather than half-copied)."""
        if not hasattr(self, "_remote"):
            state = read_state(self.context, self.args["src"], CONTENT_LIMIT)
            if state.kind != "file":
                raise ModuleFailed(f"copy: remote_src {self.args['src']} is "
                                   f"{'missing' if not state.exists else 'a ' + state.kind}, not a file")
            if state.content is None or sha1(state.content.encode()) != state.checksum:
                raise ModuleFailed(f"copy: remote_src {self.args['src']} is larger than {CONTENT_LIMIT:,} bytes "
                                   "or not UTF-8 text: copy it with a command")
            self._remote = state.content.encode()
            self._remote_mode = state.mode
        return self._remote

    def wanted_content(self, state: FileState) -> bytes | None:
        if state.exists and not self.args["force"]:
            return None
        content = self.source_bytes()
        if str(self.args.get("mode") or "").strip() == "preserve":
            self.args["mode"] = self.source_mode()
        return content

    def source_mode(self) -> str | None:
        """mode: preserve: the source file's mode (on the host for remote_src), as Ansible's copy."""
        if self.args.get("content") is not None:
            return None  # no source file: the default mode, as Ansible
        if self.args.get("remote_src"):
            return self._remote_mode or None
        return format(os.stat(self.context.find_file("files", self.args["src"])).st_mode & 0o7777, "04o")

    def elsewhere(self, state: FileState) -> str | None:
        """As Ansible's copy: a folder at dest takes the source's name inside it; with `follow`, a
        link at dest is written through to the file it points to."""
        if state.kind == "directory" and self.args.get("src"):
            return posixpath.join(self.path, posixpath.basename(self.args["src"]))
        if state.kind == "directory" and self.args.get("content") is not None:
            raise ModuleFailed("can not use content with a dir as dest")  # Ansible's words
        if state.kind == "link" and self.args["follow"] and state.link_source:
            return state.link_source
        return None

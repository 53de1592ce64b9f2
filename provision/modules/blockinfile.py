"""blockinfile: a block of lines between two marker lines, managed as a whole.

The easy thing to get wrong: the markers identify the block, so two blockinfile tasks on one file
need different `marker` texts or they overwrite each other; an empty block removes the markers too.
"""
from __future__ import annotations

import re
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.lineinfile import compile_pattern, join_lines, split_lines
from provision.modules.remote_file import FileState


def edit_block(text: str, args: dict) -> str:
    """The file's new text (pure)."""
    marker = args["marker"]
    if "{mark}" not in marker:
        raise ModuleFailed("marker must contain {mark}")
    begin = marker.replace("{mark}", args["marker_begin"])
    end = marker.replace("{mark}", args["marker_end"])
    lines = split_lines(text)
    bare = [line.rstrip("\r\n") for line in lines]
    start = next((index for index, line in enumerate(bare) if line == begin), None)
    stop = next((index for index, line in enumerate(bare) if line == end and start is not None and index > start), None)
    block = args.get("block") or ""
    wanted: list[str] = []
    if args["state"] == "present" and block:
        wanted = [begin + "\n"] + [line + "\n" for line in block.rstrip("\n").split("\n")] + [end + "\n"]
    if start is not None and stop is not None:
        del lines[start:stop + 1]
        position = start
    elif not wanted:
        return text
    else:
        position = len(lines)
        after, before = args.get("insertafter"), args.get("insertbefore")
        if before == "BOF" or after == "BOF":
            position = 0
        elif before or (after and after != "EOF"):
            pattern = compile_pattern(before or after, "insertbefore" if before else "insertafter")
            if pattern.flags & re.MULTILINE:  # `(?m)`: matched across lines, against the whole text
                match = pattern.search(text)
                position = (text.count("\n", 0, match.start()) if before else
                            text.count("\n", 0, match.end()) + 1) if match else len(lines)
            else:  # the last line that matches
                hits = [index for index, line in enumerate(bare) if pattern.search(line)]
                position = (hits[-1] if before else hits[-1] + 1) if hits else len(lines)
    if wanted:
        # prepend_newline/append_newline (Ansible 2.16): a blank line between the block and a
        # neighbouring line that is not blank, never at the file's start or end
        if args.get("prepend_newline") and position > 0 and lines[position - 1].rstrip("\r\n") != "":
            if not lines[position - 1].endswith("\n"):
                lines[position - 1] += "\n"
            lines.insert(position, "\n")
            position += 1
        lines[position:position] = wanted
        following = position + len(wanted)
        if args.get("append_newline") and following < len(lines) and lines[following].rstrip("\r\n") != "":
            lines.insert(following, "\n")
    return join_lines(lines)


class BlockInFile(ContentModule):
    name = "blockinfile"
    follow_links = True
    spec = {
        "path": Arg("path", required=True, aliases=("dest", "destfile", "name")),
        "block": Arg("str", default="", aliases=("content",)),
        "marker": Arg("str", default="# {mark} ANSIBLE MANAGED BLOCK"),
        "marker_begin": Arg("str", default="BEGIN"),
        "marker_end": Arg("str", default="END"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "insertafter": Arg("str"),
        "insertbefore": Arg("str"),
        "create": Arg("bool", default=False),
        "append_newline": Arg("bool", default=False, help="a blank line after the block, unless one is there"),
        "prepend_newline": Arg("bool", default=False, help="a blank line before the block, unless one is there"),
        "backup": Arg("bool", default=False),
        "validate": Arg("str"),
        **ATTRIBUTE_ARGS,
    }
    mutually_exclusive = (("insertbefore", "insertafter"),)  # ansible.builtin.blockinfile's

    def wanted_content(self, state: FileState) -> bytes | None:
        if not state.exists:
            if self.args["state"] == "absent" or not self.args["block"]:
                return None
            if not self.args["create"]:
                raise ModuleFailed(f"Path {self.path} does not exist ! (use create: true)")
        elif state.content is None:
            raise ModuleFailed(f"{self.path} is too large to edit")
        after = edit_block(state.content or "", self.args)
        if not state.exists:
            self.message = "File created"
        elif after != state.content:
            self.message = "Block inserted" if self.args["state"] == "present" and self.args["block"] else "Block removed"
        return after.encode()

    message = ""  # Ansible's msg for the edit

    def makes_parents(self) -> bool:
        return bool(self.args["create"])

    def ansible_data(self) -> dict[str, Any]:
        return {"msg": self.message} if self.message else {}

"""lineinfile: make sure one line is (or is not) in a text file, with Ansible's exact rules.

The easy thing to get wrong: with `regexp`, the LAST matching line is replaced, and the regexp
must also match the new line or every run appends another copy; insertafter/insertbefore apply
only when nothing matched.
"""
from __future__ import annotations

import re
from typing import Any

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState


def compile_pattern(pattern: str, what: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ModuleFailed(f"invalid {what} {pattern!r}: {error}") from error


_LINE = re.compile(r"[^\n]*\n|[^\n]+")


def split_lines(text: str) -> list[str]:
    """Lines with their endings. Only \n ends a line, as for Ansible, which reads bytes:
    str.splitlines would also break at form feeds, \x85 or U+2028 and then rewrite them as \n."""
    return _LINE.findall(text)


def join_lines(lines: list[str]) -> str:
    # a line added after a last line without newline must not glue onto it
    fixed = [line if line.endswith(("\n", "\r")) or index == len(lines) - 1 else line + "\n"
             for index, line in enumerate(lines)]
    return "".join(fixed)


def edit_line(text: str, args: dict) -> str:
    """The file's new text (pure: the tests drive it with tables)."""
    lines = split_lines(text)
    bare = [line.rstrip("\r\n") for line in lines]
    regexp = compile_pattern(args["regexp"], "regexp") if args.get("regexp") is not None else None
    search = args.get("search_string")
    line = args.get("line")

    def matches(candidate: str) -> bool:
        if regexp is not None:
            return bool(regexp.search(candidate))
        if search is not None:
            return search in candidate
        return candidate == line

    if args["state"] == "absent":
        if regexp is None and search is None and line is None:
            raise ModuleFailed("state=absent needs one of line, regexp or search_string")
        return "".join(original for original, stripped in zip(lines, bare) if not matches(stripped))

    if line is None:
        raise ModuleFailed("line is required with state=present")
    if args.get("backrefs") and regexp is None:
        raise ModuleFailed("regexp is required with backrefs=true")
    found = [index for index, stripped in enumerate(bare) if matches(stripped)]
    if found:
        index = found[0] if args.get("firstmatch") else found[-1]
        new_line = line
        if args.get("backrefs") and regexp is not None:
            new_line = regexp.search(bare[index]).expand(line)
        ending = lines[index][len(bare[index]):] or "\n"
        lines[index] = new_line + ending
        return join_lines(lines)
    if args.get("backrefs"):
        return text  # backrefs: no match means no change
    if regexp is not None or search is not None:
        if line in bare:
            return text  # the wanted line is already there, only written differently
    position = _insert_position(bare, args)
    lines.insert(position, line + "\n")
    return join_lines(lines)


def _insert_position(bare: list[str], args: dict) -> int:
    after, before = args.get("insertafter"), args.get("insertbefore")
    if before == "BOF" or after == "BOF":
        return 0
    if before is not None:
        pattern = compile_pattern(before, "insertbefore")
        hits = [index for index, text in enumerate(bare) if pattern.search(text)]
        if hits:
            return hits[0] if args.get("firstmatch") else hits[-1]
        return len(bare)
    if after in (None, "EOF"):
        return len(bare)
    pattern = compile_pattern(after, "insertafter")
    hits = [index for index, text in enumerate(bare) if pattern.search(text)]
    if hits:
        return (hits[0] if args.get("firstmatch") else hits[-1]) + 1
    return len(bare)


class LineInFile(ContentModule):
    name = "lineinfile"
    follow_links = True
    spec = {
        "path": Arg("path", required=True, aliases=("dest", "destfile", "name")),
        "line": Arg("str", aliases=("value",)),
        "regexp": Arg("str", aliases=("regex",)),
        "search_string": Arg("str"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "insertafter": Arg("str"),
        "insertbefore": Arg("str"),
        "firstmatch": Arg("bool", default=False),
        # no default (false when not given): a rule counts a default as given
        "backrefs": Arg("bool", help="false when not given"),
        "create": Arg("bool", default=False),
        "backup": Arg("bool", default=False),
        "validate": Arg("str"),
        **ATTRIBUTE_ARGS,
    }
    # ansible.builtin.lineinfile's AnsibleModule(mutually_exclusive=...) and its check of state=present
    mutually_exclusive = (("insertbefore", "insertafter"), ("regexp", "search_string"), ("backrefs", "search_string"))
    required_if = (("state", "present", ("line",)),)

    def wanted_content(self, state: FileState) -> bytes | None:
        if not state.exists:
            if self.args["state"] == "absent":
                return None
            if not self.args["create"]:
                raise ModuleFailed(f"Destination {self.path} does not exist ! (use create: true)")
        elif state.content is None:
            raise ModuleFailed(f"{self.path} is too large to edit line by line")
        before = state.content or ""
        after = edit_line(before, self.args)
        removed = len(split_lines(before)) - len(split_lines(after))
        if self.args["state"] == "absent":
            self.message = f"{removed} line(s) removed"
        elif after != before:
            self.message = "line added" if removed < 0 else "line replaced"
        return after.encode()

    message = ""  # Ansible's msg for the edit

    def makes_parents(self) -> bool:
        return bool(self.args["create"])

    def ansible_data(self) -> dict[str, Any]:
        """Ansible's lineinfile returns msg, and the backup's path as `backup`."""
        return {**({"msg": self.message} if self.message else {}), **self.warnings()}

    def warnings(self) -> dict[str, Any]:
        """Ansible's warnings for an empty regexp or search_string (each matches every line)."""
        found = []
        if self.args.get("regexp") == "":
            found.append("The regular expression is an empty string, which will match every line in the file. "
                         "This may have unintended consequences, such as replacing the last line in the file rather "
                         "than appending. If this is desired, use '^' to match every line in the file and avoid "
                         "this warning.")
        if self.args.get("search_string") == "":
            found.append("The search string is an empty string, which will match every line in the file. This may "
                         "have unintended consequences, such as replacing the last line in the file rather than "
                         "appending.")
        return {"warnings": found} if found else {}

    def result_data(self, current, plan) -> dict[str, Any]:
        return {**super().result_data(current, plan), **self.warnings()}

    def apply(self, plan) -> dict[str, Any]:
        data = super().apply(plan)
        if "backup_file" in data:
            data["backup"] = data["backup_file"]
        return data

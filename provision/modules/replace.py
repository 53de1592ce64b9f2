"""replace: every match of a regular expression in a file replaced, as Ansible's `replace`.

Python's `re` with MULTILINE, as Ansible's module uses it, so `^`/`$` match at each line and `\\1`
backreferences work in `replace`; `after`/`before` limit the edit to the text between their first
matches. The file is read and written like every content module (atomic, checked on arrival,
`backup`, `validate`). The easy thing to get wrong: a missing file is an error, never created.
"""
from __future__ import annotations

import re

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS, ContentModule
from provision.modules.remote_file import FileState


class SectionNotFound(Exception):
    """`after`/`before` did not match: nothing is replaced, and Ansible says so in msg."""


def replaced(text: str, regexp: str, replacement: str, after: str | None, before: str | None) -> tuple[str, int]:
    """The text with the section between `after` and `before` edited, and how many matches (pure).
    Raises SectionNotFound when either does not match (Ansible leaves the file alone then)."""
    start, end = 0, len(text)
    try:
        if after:
            match = re.search(after, text, re.MULTILINE)
            if not match:
                raise SectionNotFound(after)
            start = match.end()
        if before:
            match = re.search(before, text[start:], re.MULTILINE)
            if not match:
                raise SectionNotFound(before)
            end = start + match.start()
        pattern = re.compile(regexp, re.MULTILINE)
        section, count = pattern.subn(replacement, text[start:end])
    except (re.error, IndexError) as error:
        raise ModuleFailed(f"Unable to process replace due to error: {error}") from None
    return text[:start] + section + text[end:], count


class Replace(ContentModule):
    name = "replace"
    follow_links = True
    spec = {
        "path": Arg("path", required=True, aliases=("dest", "destfile", "name")),
        "regexp": Arg("str", required=True),
        "replace": Arg("str", default=""),
        "after": Arg("str"),
        "before": Arg("str"),
        "backup": Arg("bool", default=False),
        "validate": Arg("str"),
        "encoding": Arg("str", default="utf-8"),
        **ATTRIBUTE_ARGS,
    }
    message = ""

    def read(self) -> FileState:
        # a regular expression or replacement Python cannot use fails first, whatever the path is
        # (Ansible's words; its test replaces in /dev/null)
        try:
            re.compile(self.args["regexp"], re.MULTILINE).subn(self.args["replace"], "")
        except (re.error, IndexError) as error:
            raise ModuleFailed(f"Unable to process replace due to error: {error}") from None
        return super().read()

    def wanted_content(self, state: FileState) -> bytes | None:
        if not state.exists:
            raise ModuleFailed(f"Path {self.path} does not exist !")
        if state.content is None:
            raise ModuleFailed(f"{self.path} is too large to edit here")
        if self.args["encoding"].lower().replace("-", "") != "utf8":
            raise ModuleFailed(f"replace: only utf-8 files are edited (encoding {self.args['encoding']!r})")
        try:
            text, count = replaced(state.content, self.args["regexp"], self.args["replace"], self.args["after"],
                                   self.args["before"])
        except SectionNotFound as missing:
            self.message = f"Pattern for before/after params did not match the given file: {missing}"
            return None
        self.message = f"{count} replacements made" if count and text != state.content else ""
        return text.encode()

    def ansible_data(self) -> dict:
        return {"msg": self.message}

    def result_data(self, current: FileState, plan) -> dict:
        return {**super().result_data(current, plan), "msg": self.message}

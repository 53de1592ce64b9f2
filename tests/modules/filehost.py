"""A fake host for the file modules' data tables: what a path looks like to the read command, and
a context that records every command sent and every byte written on stdin. No host is contacted.

`on_host(...)` builds the exact output of remote_file.read_command for a path; `FileHost` answers
each command by the first needle it contains (tests.support.fakehost.FakeContext), and a command
that changes the host gets `written` followed by the state after (`then_read`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from provision.errors import ProvisionError
from provision.modules import get_module
from provision.modules.base import ModuleFailed
from provision.modules.remote_file import AFTER_MARK, sha1
from provision.transport.base import CommandResult
from tests.support.fakehost import FakeContext

TYPE_BITS = {"file": 0o100000, "directory": 0o040000, "link": 0o120000, "other": 0o010000}
READ_NEEDLE = "stat -c '"  # the read command's stat format, and only it, is in single quotes


def on_host(kind: str = "file", content: str | bytes = "", *, mode: str = "644", owner: str = "root",
            group: str = "root", uid: int = 0, gid: int = 0, link: str = "", resolved: str = "",
            access: str = "rw-", checksum: str | None = None, size: int | None = None) -> str:
    """What read_command prints for a path (content is sent for files)."""
    if kind in ("absent", "denied"):
        return kind + "\n"
    data = content.encode() if isinstance(content, str) else content
    text = data.decode("utf-8", "replace")  # as the transport decodes it
    size = len(data) if size is None else size
    checksum = (sha1(data) if kind == "file" else "-") if checksum is None else checksum
    raw_mode = format(TYPE_BITS[kind] | int(mode, 8), "x")
    stat = f"{mode} {uid} {gid} {owner} {group} {size} 1700000000 1700000100 1700000200 4242 2049 1 {raw_mode}"
    output = f"{kind}\n{stat} {access}\n{link}\n{checksum}\n"
    if kind == "file":
        output += text
    if kind == "link" and resolved:
        output += resolved + "\n"
    return output


@dataclass
class FileHost(FakeContext):
    """FakeContext plus what the content modules use: stdin recorded, local files, rendering."""

    stdin: list[bytes | str | None] = field(default_factory=list)
    local_files: dict[str, str] = field(default_factory=dict)  # name -> local path
    render_text: Callable[[str], str] | None = None

    def run(self, command, *, stdin=None, timeout=None) -> CommandResult:
        self.stdin.append(stdin)
        return super().run(command, stdin=stdin, timeout=timeout)

    def find_file(self, kind: str, name: str, folders: bool = False) -> str:
        if name not in self.local_files:
            raise ModuleFailed(f"could not find {kind[:-1]} {name!r} (looked in: {kind}/{name})")
        return self.local_files[name]

    def render(self, text: str, **options: bool) -> str:
        if self.render_text is None:
            raise ModuleFailed("templating is not available in this context")
        try:
            return self.render_text(text, **options)
        except ProvisionError as error:  # as TaskContext.render: a template error fails the task
            raise ModuleFailed(str(error)) from error

    @property
    def writes(self) -> list[str]:
        """Commands sent after the first read that can change the host (empty in check mode): a
        link's source check (`test -e`) only reads."""
        return [command for command in self.commands[1:] if not command.startswith("test -e ")]


def host(read: str, *, after: str | None = None, written: str = "", failed: CommandResult | None = None,
         reads: dict[str, str] | None = None, **options) -> FileHost:
    """A host whose path reads as `read`; a change answers `written` then `after` (the state after),
    or fails with `failed`. `reads`: other read outputs by a needle in their command (a second path)."""
    responses: list[tuple[str, CommandResult]] = []
    change = failed or CommandResult(0, written + (f"{AFTER_MARK}\n{after}" if after is not None else ""), "")
    responses.append((AFTER_MARK, change))
    responses += [(needle, CommandResult(0, output, "")) for needle, output in (reads or {}).items()]
    responses.append((READ_NEEDLE, CommandResult(0, read, "")))
    return FileHost(responses=responses, **options)


def run(name: str, args: dict, context: FileHost):
    return get_module(name)(dict(args), context).run()

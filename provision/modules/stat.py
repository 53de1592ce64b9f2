"""stat: report a path's state for `register` (exists, isdir, mode, owner, checksum...).

Read-only, so it runs in check mode too. `mode` is an octal string ("0644") like Ansible's.
"""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module
from provision.modules.remote_file import FileState, read_command, state_from
from provision.transport.base import CommandResult


def stat_data(state: FileState, with_checksum: bool) -> dict[str, Any]:
    if not state.exists:
        return {"exists": False, "path": state.path}
    data = {
        "exists": True,
        "path": state.path,
        "isdir": state.kind == "directory",
        "isreg": state.kind == "file",
        "islnk": state.kind == "link",
        "mode": state.mode,
        "uid": state.uid,
        "gid": state.gid,
        "pw_name": state.owner,
        "gr_name": state.group,
        "size": state.size,
        "mtime": state.mtime,
    }
    if state.kind == "link":
        data["lnk_source"] = data["lnk_target"] = state.link_target
    if with_checksum and state.kind == "file" and state.checksum:
        data["checksum"] = state.checksum
    return data


class Stat(Module):
    name = "stat"
    read_only = True
    spec = {
        "path": Arg("path", required=True, aliases=("dest", "name")),
        "get_checksum": Arg("bool", default=True),
        "checksum_algorithm": Arg("str", default="sha1", choices=("sha1",)),
    }

    def read_command(self) -> str | None:
        return read_command(self.args["path"], content_limit=None)

    def parse(self, result: CommandResult | None) -> FileState:
        # an unreadable file is still there: stat reports it without a checksum, as Ansible does
        return state_from(self.args["path"], result, content_limit=None, must_read=False)

    def result_data(self, current: FileState, plan: Any) -> dict[str, Any]:
        return {"stat": stat_data(current, self.args["get_checksum"])}

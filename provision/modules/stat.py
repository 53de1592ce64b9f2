"""stat: report a path's state for `register` (exists, isdir, mode, owner, checksum...).

Read-only, so it runs in check mode too. `mode` is an octal string ("0644") like Ansible's.
"""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module
from provision.modules.remote_file import FileState, read_command, state_from
from provision.transport.base import CommandResult


# st_mode's file type bits (S_IFMT) -> Ansible's key for that type
_TYPES = {0o020000: "ischr", 0o060000: "isblk", 0o010000: "isfifo", 0o140000: "issock"}
# permission bits -> Ansible's keys: the reading of `mode`, nothing more
_BITS = {"rusr": 0o400, "wusr": 0o200, "xusr": 0o100, "rgrp": 0o040, "wgrp": 0o020, "xgrp": 0o010,
         "roth": 0o004, "woth": 0o002, "xoth": 0o001, "isuid": 0o4000, "isgid": 0o2000}


def stat_data(state: FileState, with_checksum: bool) -> dict[str, Any]:
    """Ansible's stat keys that the read gives (mimetype, charset, attributes and version would
    need tools a host may not have: left out, not guessed)."""
    if not state.exists:
        return {"exists": False, "path": state.path}
    data: dict[str, Any] = {
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
    if state.type_bits is not None:
        data.update({key: state.type_bits == bits for bits, key in _TYPES.items()})
    mode = int(state.mode, 8)
    data.update({key: bool(mode & bit) for key, bit in _BITS.items()})
    for key in ("atime", "ctime", "inode", "dev", "nlink"):
        if getattr(state, key) is not None:
            data[key] = getattr(state, key)
    if state.access:
        data.update(readable="r" in state.access, writeable="w" in state.access, executable="x" in state.access)
    if state.kind == "link":
        data["lnk_target"] = state.link_target
        if state.link_source:
            data["lnk_source"] = state.link_source
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

"""stat: report a path's state for `register` (exists, isdir, mode, owner, checksum...).

Read-only, so it runs in check mode too. `mode` is an octal string ("0644") like Ansible's.
"""
from __future__ import annotations

import os
from typing import Any

from provision.modules.base import Arg, Module
from provision.modules.remote_file import FileState, read_command, state_from
from provision.shell import quote
from provision.transport.base import CommandResult

EXTRA_MARK = "\n@@provision-stat@@\n"
SUM_MARK = "\n@@provision-stat-sum@@\n"  # checksum_algorithm other than sha1: its sum after this
# lsattr's letters -> Ansible's attribute names
ATTRIBUTE_NAMES = {"A": "noatime", "a": "append", "c": "compressed", "C": "nocow", "d": "nodump", "D": "dirsync",
                   "e": "extents", "E": "encrypted", "h": "blocksize", "i": "immutable", "I": "indexed",
                   "j": "journalled", "N": "inline", "s": "zero", "S": "synchronous", "t": "notail",
                   "T": "blockroot", "u": "undelete", "X": "compressedraw", "Z": "compresseddirty"}


# st_mode's file type bits (S_IFMT) -> Ansible's key for that type
_TYPES = {0o020000: "ischr", 0o060000: "isblk", 0o010000: "isfifo", 0o140000: "issock"}
# permission bits -> Ansible's keys: the reading of `mode`, nothing more
_BITS = {"rusr": 0o400, "wusr": 0o200, "xusr": 0o100, "rgrp": 0o040, "wgrp": 0o020, "xgrp": 0o010,
         "roth": 0o004, "woth": 0o002, "xoth": 0o001, "isuid": 0o4000, "isgid": 0o2000}


def stat_data(state: FileState, with_checksum: bool) -> dict[str, Any]:
    """Ansible's stat keys that the shared file read gives (the stat module adds the rest)."""
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
        "checksum_algorithm": Arg("str", default="sha1", aliases=("checksum", "checksum_algo"),
                                  choices=("md5", "sha1", "sha224", "sha256", "sha384", "sha512")),
        "get_mime": Arg("bool", default=True, aliases=("mime", "mime_type", "mime-type")),
        "get_attributes": Arg("bool", default=True, aliases=("attr", "attributes")),
        "follow": Arg("bool", default=False),
    }

    def read_command(self) -> str | None:
        """The shared file read, then what only stat reports: blocks, block size and device of
        stat(1), the MIME type and charset of file(1) ("unknown" where file is not installed, as
        Ansible says) and lsattr's attributes, each only where asked (get_mime, get_attributes)."""
        path = quote(self.args["path"])
        extra = [f"p={path}", '[ -e "$p" ] || [ -L "$p" ] || exit 0', f"printf '{EXTRA_MARK.strip()}\\n'",
                 "stat -c '%b %o %t %T' -- \"$p\" 2>/dev/null || echo"]
        if self.args["get_mime"]:
            extra.append('if command -v file >/dev/null 2>&1; then file -b --mime-type -- "$p" 2>/dev/null || echo unknown;'
                         ' file -b --mime-encoding -- "$p" 2>/dev/null || echo unknown; else echo unknown; echo unknown; fi')
        else:
            extra.append("echo; echo")
        if self.args["get_attributes"]:
            extra.append('lsattr -vd -- "$p" 2>/dev/null || echo')
        algorithm = self.args["checksum_algorithm"]
        if self.args["get_checksum"] and algorithm != "sha1":  # sha1 comes with the shared read
            extra.append(f"printf '{SUM_MARK.strip()}\\n'; "
                         f'if [ -f "$p" ] && [ -r "$p" ]; then {algorithm}sum < "$p" | cut -d" " -f1; fi')
        return "(\n" + read_command(self.args["path"], content_limit=None) + ")\n" + "\n".join(extra) + "\n"

    def parse(self, result: CommandResult | None) -> FileState:
        # an unreadable file is still there: stat reports it without a checksum, as Ansible does
        output, found, extra = (result.stdout if result is not None else "").partition(EXTRA_MARK)
        self.extra = extra if found else None
        shared = CommandResult(result.rc, output, result.stderr) if result is not None else None
        return state_from(self.args["path"], shared, content_limit=None, must_read=False)

    extra: str | None = None  # the stat-only part of the read (None: the host sent none)

    def read(self) -> FileState:
        state = super().read()
        if self.args["follow"] and state.kind == "link" and state.link_source:
            # follow: the link's target, reported under the path as given (Ansible's os.stat)
            given = self.args["path"]
            self.args["path"] = state.link_source
            try:
                state = super().read()
            finally:
                self.args["path"] = given
            state.path = given
        return state

    def result_data(self, current: FileState, plan: Any) -> dict[str, Any]:
        data = stat_data(current, self.args["get_checksum"])
        if current.exists and self.extra is not None:
            extra, _, checksum = self.extra.partition(SUM_MARK)
            data.update(extra_data(extra, self.args["get_mime"], self.args["get_attributes"]))
            if self.args["checksum_algorithm"] != "sha1" and "checksum" in data:
                checksum = checksum.strip()
                if checksum:
                    data["checksum"] = checksum  # in the algorithm asked for, as Ansible's
                else:
                    data.pop("checksum")
        return {"stat": data}


def extra_data(text: str, mime: bool, attributes: bool) -> dict[str, Any]:
    """blocks, block_size, device_type; mimetype, charset; attributes, version (pure)."""
    lines = text.split("\n") + ["", "", "", ""]
    data: dict[str, Any] = {}
    numbers = lines[0].split()
    if len(numbers) == 4:
        data.update(blocks=int(numbers[0]), block_size=int(numbers[1]),
                    device_type=os.makedev(int(numbers[2], 16), int(numbers[3], 16)))
    if mime:
        data.update(mimetype=lines[1].strip() or "unknown", charset=lines[2].strip() or "unknown")
    words = lines[3].split()
    if attributes and len(words) >= 3:  # "VERSION FLAGS PATH"; lsattr failing (overlayfs...): left out
        data.update(version=words[0], attributes=[ATTRIBUTE_NAMES[flag] for flag in words[1] if flag in ATTRIBUTE_NAMES])
    return data

"""kernel_blacklist: `blacklist NAME` in a modprobe.d file, as community.general.kernel_blacklist.

The line is added (the file made when missing) or removed, every other line kept; the GPU roles use
it to keep nouveau from loading before the NVIDIA driver. Written like every content module
(atomic, checked on arrival, check mode, --diff). modprobe's `blacklist:` argument does the same in
a file of its own; this is the module NVIDIA's and DeepOps' roles call.
"""
from __future__ import annotations

import re

from provision.modules.base import Arg, ModuleFailed
from provision.modules.content import ContentModule
from provision.modules.remote_file import FileState

MODULE_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


class KernelBlacklist(ContentModule):
    name = "kernel_blacklist"
    path_arg = "blacklist_file"
    spec = {
        "name": Arg("str", required=True),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "blacklist_file": Arg("path", default="/etc/modprobe.d/blacklist-ansible.conf"),  # community.general's
    }

    def wanted_content(self, state: FileState) -> bytes | None:
        name = self.args["name"]
        if not MODULE_NAME.match(name):
            raise ModuleFailed(f"kernel_blacklist: {name!r} is not a kernel module name")
        if state.exists and state.content is None:
            raise ModuleFailed(f"{self.path} is too large to edit")
        lines = (state.content or "").splitlines()
        listed = [line for line in lines if line.split() == ["blacklist", name]]
        if self.args["state"] == "present":
            if listed:
                return None
            return "".join(f"{line}\n" for line in [*lines, f"blacklist {name}"]).encode()
        if not listed:
            return None
        return "".join(f"{line}\n" for line in lines if line.split() != ["blacklist", name]).encode()

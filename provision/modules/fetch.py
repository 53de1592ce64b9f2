"""fetch: a file of the host copied to this machine, as Ansible's fetch.

By default to `dest/<inventory_hostname>/<src>` (one folder per host, so a fleet's files never
overwrite each other), with `flat: true` to `dest` itself. One round trip reads the file's SHA-1 and
bytes (base64); the local copy is replaced only when its checksum differs, atomically. Check mode
says what would be fetched and writes nothing. The easy thing to get wrong: a missing source fails
the task unless `fail_on_missing: false`, and a source bigger than provision reads is refused.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed, ModuleResult
from provision.shell import quote
from provision.transport.base import CommandResult

MAX_BYTES = 64 * 1024 * 1024


class Fetch(Module):
    supports_async = False  # as Ansible's action plugin
    name = "fetch"
    spec = {
        "src": Arg("str", required=True),
        "dest": Arg("path", required=True),
        "flat": Arg("bool", default=False),
        "fail_on_missing": Arg("bool", default=True),
        "validate_checksum": Arg("bool", default=True),
    }

    def local_path(self) -> str:
        src, dest = self.args["src"], os.path.expanduser(self.args["dest"])
        if self.args["flat"]:
            return os.path.join(dest, os.path.basename(src)) if dest.endswith("/") else dest
        host = self.context.render("{{ inventory_hostname }}")
        return os.path.join(dest, host, src.lstrip("/"))

    def read_command(self) -> str:
        path = quote(self.args["src"])
        return ("s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }\n"
                f"if [ -f {path} ] && [ -r {path} ]; then s size; stat -c %s -- {path}; "
                f"if [ \"$(stat -c %s -- {path})\" -le {MAX_BYTES} ]; then s data; base64 < {path}; fi; "
                f"elif [ -e {path} ]; then s other; else s missing; fi\ns end\n")

    def parse(self, result: CommandResult | None) -> bytes | str:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            raise ModuleFailed(f"fetch: cannot read {self.args['src']}: {(result.stderr if result else '').strip()}")
        if "missing" in sections:
            return "missing"
        if "other" in sections:
            raise ModuleFailed(f"fetch: {self.args['src']} is not a readable file (a folder, or permission denied)")
        if "data" not in sections:
            raise ModuleFailed(f"fetch: {self.args['src']} is larger than {MAX_BYTES:,} bytes")
        try:
            return base64.b64decode("".join(sections["data"].split()), validate=True)
        except (binascii.Error, ValueError):
            raise ModuleFailed(f"fetch: {self.args['src']} arrived damaged") from None

    def run(self) -> ModuleResult:
        try:
            self.args = self.check_args(self.args)
            content = self.read()
            path = self.local_path()
            if content == "missing":
                message = f"the remote file does not exist: {self.args['src']}"
                if self.args["fail_on_missing"]:
                    return ModuleResult("failed", msg=message)
                return ModuleResult("ok", msg=message, data={"file": self.args["src"]})
            checksum = hashlib.sha1(content).hexdigest()
            data = {"checksum": checksum, "dest": path, "file": self.args["src"], "remote_checksum": checksum}
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    if hashlib.sha1(handle.read()).hexdigest() == checksum:
                        return ModuleResult("ok", data=data)
            if self.context.check:
                return ModuleResult("changed", msg="would change", diff=f"fetch {self.args['src']} -> {path}\n", data=data)
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".fetch-")
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            os.replace(temporary, path)
            return ModuleResult("changed", diff=f"fetch {self.args['src']} -> {path}\n", data=data)
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg, data=failure.data)
        except OSError as error:
            return ModuleResult("failed", msg=f"fetch: cannot write {self.args['dest']}: {error.strerror or error}")

"""unarchive: an archive unpacked into a folder of the host, as Ansible's unarchive.

The archive is a local file (the role's files/, sent to the host), a file of the host
(`remote_src`), or a URL the host fetches (`remote_src` with a URL). tar archives (.tar, .tar.gz,
.tgz, .tar.bz2, .tar.xz) are compared with the folder first (`tar --diff`): a folder that already
holds the same files is left alone, as Ansible's unarchive leaves it; zip archives are unpacked
unless `creates` names a path that exists. `dest` must already be a folder. Check mode says what
would be unpacked and unpacks nothing.
"""
from __future__ import annotations

import os
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote
from provision.transport.base import CommandResult

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst")


class Unarchive(Module):
    supports_async = False  # as Ansible's action plugin
    name = "unarchive"
    spec = {
        "src": Arg("str", required=True),
        "dest": Arg("path", required=True),
        "remote_src": Arg("bool", default=False, aliases=("copy",)),
        "creates": Arg("path"),
        "extra_opts": Arg("list", elements="str", default=[]),
        "owner": Arg("str"),
        "group": Arg("str"),
        "mode": Arg("str"),
        "keep_newer": Arg("bool", default=False),
        "list_files": Arg("bool", default=False),
        "validate_certs": Arg("bool", default=True),
    }

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        if "copy" in args:  # the old spelling means the opposite: copy: false is remote_src: true
            args = {**{key: value for key, value in args.items() if key != "copy"}, "remote_src": not args["copy"]}
        return super().check_args(args)

    @property
    def is_tar(self) -> bool:
        return self.args["src"].split("?")[0].endswith(TAR_SUFFIXES)

    def fetch(self) -> str:
        """Shell text leaving the archive at $a (a temporary file for a local one or a URL)."""
        src = self.args["src"]
        if not self.args["remote_src"]:
            return 'a=$(mktemp) && trap \'rm -f "$a"\' EXIT && cat > "$a"'
        if src.startswith(("http://", "https://", "ftp://")):
            get = join(["curl", "-fsSL", *([] if self.args["validate_certs"] else ["-k"]), "-o"]) + ' "$a" -- ' + quote(src)
            return f'a=$(mktemp) && trap \'rm -f "$a"\' EXIT && {get}'
        return f"a={quote(src)}"

    def local_bytes(self) -> bytes | None:
        if self.args["remote_src"]:
            return None
        with open(self.context.find_file("files", self.args["src"]), "rb") as handle:
            return handle.read()

    def read_command(self) -> str | None:
        if not self.args["remote_src"]:
            return None  # the archive comes on stdin: the read is done in read()
        return self._read_script()

    def _read_script(self) -> str:
        dest = quote(self.args["dest"])
        lines = ["s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }", "s dest; [ -d " + dest + " ] && echo yes"]
        if self.args["creates"]:
            lines.append(f"s creates; [ -e {quote(self.args['creates'])} ] && echo yes")
        if self.is_tar:
            lines.append(f"s diff; ( {self.fetch()} && tar -d -f \"$a\" -C {dest} >/dev/null 2>&1 && echo same )")
        lines.append("s end")
        return "\n".join(lines) + "\n"

    def read(self) -> dict[str, bool]:
        data = self.local_bytes()
        command = self._read_script() if data is not None else self.read_command()
        result: CommandResult = self.context.run(command, stdin=data)
        sections = split_sections(result.stdout)
        if "end" not in sections:
            raise ModuleFailed(f"unarchive: cannot read {self.args['dest']}: {result.stderr.strip()}")
        return {"dest": sections.get("dest") == "yes", "creates": sections.get("creates") == "yes",
                "same": sections.get("diff") == "same"}

    def diff(self, current: dict[str, bool]) -> str | None:
        if not current["dest"]:
            raise ModuleFailed(f"dest '{self.args['dest']}' must be an existing dir")
        if current["creates"] or current["same"]:
            return None
        return "unpack"

    def describe(self, current: dict[str, bool], plan: str) -> str:
        return f"unpack {os.path.basename(self.args['src'])} into {self.args['dest']}\n"

    def apply(self, plan: str) -> dict[str, Any]:
        dest = quote(self.args["dest"])
        extra = join(self.args["extra_opts"])
        if self.is_tar:
            keep = " --keep-newer-files" if self.args["keep_newer"] else ""
            unpack = f'tar -x -f "$a" -C {dest}{keep} {extra}'.rstrip()
        else:
            unpack = f'unzip -o {extra} "$a" -d {dest}'.replace("  ", " ")
        script = f"{self.fetch()} && {unpack}"
        ownership = [join(["chown", "-R", f"{self.args['owner'] or ''}{':' + self.args['group'] if self.args['group'] else ''}",
                           "--", self.args["dest"]])] if self.args["owner"] or self.args["group"] else []
        if self.args["mode"]:
            ownership.append(join(["chmod", "-R", self.args["mode"], "--", self.args["dest"]]))
        result = self.context.run(" && ".join([script, *ownership]), stdin=self.local_bytes())
        if result.rc != 0:
            raise ModuleFailed(f"unarchive: {(result.stderr or result.stdout).strip()[-500:] or 'failed'}",
                               {"rc": result.rc})
        return {"dest": self.args["dest"], "src": self.args["src"], "extract_results": {"rc": result.rc}}

    def result_data(self, current: dict[str, bool], plan: Any) -> dict[str, Any]:
        return {"dest": self.args["dest"], "src": self.args["src"]}

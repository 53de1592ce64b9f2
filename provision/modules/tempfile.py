"""tempfile: a new temporary file or directory on the host, its path registered (Ansible's keys).

`mktemp` under `path` (default the host's $TMPDIR or /tmp) with Ansible's `ansible.` prefix. Every
run makes a new one, so it is always "changed"; in check mode nothing is made and the task is
skipped, as Ansible's tempfile (no check mode support) is.
"""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote


class Tempfile(Module):
    name = "tempfile"
    check_mode_skip = True
    spec = {
        "state": Arg("str", default="file", choices=("file", "directory")),
        "path": Arg("path", help="where to make it (default: $TMPDIR, else /tmp)"),
        "prefix": Arg("str", default="ansible."),
        "suffix": Arg("str", default=""),
    }

    def diff(self, current: Any) -> str:
        return "make"

    def describe(self, current: Any, plan: str) -> str:
        return f"create temporary {self.args['state']}\n"

    def apply(self, plan: str) -> dict[str, Any]:
        template = f"{self.args['prefix']}XXXXXXXXXX{self.args['suffix']}"
        for part in ("prefix", "suffix"):  # Ansible's words
            if "/" in self.args[part]:
                raise ModuleFailed(f"{part} must be a valid file name component (it has a '/')")
        folder = quote(self.args["path"]) if self.args["path"] else '"${TMPDIR:-/tmp}"'
        words = join(["mktemp", *(["-d"] if self.args["state"] == "directory" else []), "-p"])
        result = self.context.run(f"{words} {folder} {quote(template)}")
        if result.rc != 0:
            raise ModuleFailed(f"tempfile: {result.stderr.strip() or 'mktemp failed'}", {"rc": result.rc})
        return {"path": result.stdout.strip(), "state": self.args["state"]}

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        return {"state": self.args["state"]}

"""modprobe: a kernel module loaded or not, loaded at boot, and blacklisted (nouveau before a driver).

One round trip reads whether the module is loaded or built in and the three files this module may
own: /etc/modules-load.d/NAME.conf and /etc/modprobe.d/NAME.conf (`persistent`: load at boot with
`params`) and the blacklist file. Files are written first, so a blacklist is in place before an
unload. The easy thing to get wrong: a built-in module is "loaded" but can never be unloaded, and
a host without CAP_SYS_MODULE (a container) can write the files but not load anything; both fail
with a message that says so instead of modprobe's bare error.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.modules.remote_file import unified_diff, write_file
from provision.shell import join, quote
from provision.transport.base import CommandResult

MODULE_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
FILE_MARK = "@@provision-file:"


@dataclass
class KernelModuleState:
    loaded: bool  # loadable module in /proc/modules
    builtin: bool
    can_load: bool  # the kernel has module support (/proc/modules exists)
    files: dict[str, str | None]  # path -> content, None when absent

    @property
    def present(self) -> bool:
        return self.loaded or self.builtin


@dataclass
class ModprobePlan:
    files: dict[str, str | None] = field(default_factory=dict)  # path -> new content, None: remove
    command: list[str] | None = None  # modprobe argv
    summary: list[str] = field(default_factory=list)


def parse_files(output: str) -> dict[str, str | None]:
    """Verbatim file contents after `@@provision-file:PATH@@` marks (`@@absent` when missing)."""
    files: dict[str, str | None] = {}
    for chunk in output.split("\n" + FILE_MARK)[1:]:
        header, _, body = chunk.partition("\n")
        path = header.removesuffix("@@")
        files[path] = None if body.rstrip("\n") == "@@absent" else body
    return files


class Modprobe(Module):
    name = "modprobe"
    spec = {
        "name": Arg("str", required=True),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "params": Arg("str", default="", help="module parameters: 'modeset=0 foo=1'"),
        "persistent": Arg("str", default="disabled", choices=("disabled", "present", "absent"),
                          help="present: load at boot (modules-load.d) with params (modprobe.d)"),
        "blacklist": Arg("bool", help="true: never auto-load (modprobe.d blacklist file); false: remove it"),
        "blacklist_file": Arg("path", help="default /etc/modprobe.d/blacklist-NAME.conf"),
    }

    @property
    def module(self) -> str:
        return self.args["name"]

    def paths(self) -> dict[str, str]:
        name = self.module
        return {
            "load": f"/etc/modules-load.d/{name}.conf",
            "options": f"/etc/modprobe.d/{name}.conf",
            "blacklist": self.args["blacklist_file"] or f"/etc/modprobe.d/blacklist-{name}.conf",
        }

    def read_command(self) -> str:
        if not MODULE_NAME.match(self.module):
            raise ModuleFailed(f"modprobe: {self.module!r} is not a valid module name")
        if self.args["state"] == "present" and self.args["blacklist"]:
            raise ModuleFailed("modprobe: a blacklisted module cannot be wanted present (state: absent?)")
        kernel_name = self.module.replace("-", "_")  # the kernel lists modules with underscores
        script = [
            f"n={quote(kernel_name)}",
            "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
            's module; if [ -e /proc/modules ]; then echo can_load; grep -q "^$n " /proc/modules && echo loaded; fi',
            'if [ -d "/sys/module/$n" ] && [ ! -e "/sys/module/$n/initstate" ]; then echo builtin; fi',
            'grep -qE "/$n\\.ko" "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null && echo builtin',
            "s end",
        ]
        for path in self.paths().values():
            script.append(f"printf '\\n{FILE_MARK}%s@@\\n' {quote(path)}; "
                          f"if [ -f {quote(path)} ]; then cat {quote(path)}; else echo @@absent; fi")
        return "\n".join(script) + "\n"

    def parse(self, result: CommandResult | None) -> KernelModuleState:
        output = result.stdout if result is not None else ""
        sections = split_sections(output.split("\n" + FILE_MARK, 1)[0])
        if "end" not in sections:
            error = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"modprobe: cannot read the module state: {error}")
        words = sections.get("module", "").split()
        return KernelModuleState("loaded" in words, "builtin" in words, "can_load" in words, parse_files(output))

    def wanted_files(self) -> dict[str, str | None]:
        """path -> wanted content (None: absent); paths this task leaves alone are not listed."""
        name, params, paths = self.module, self.args["params"].strip(), self.paths()
        wanted: dict[str, str | None] = {}
        if self.args["persistent"] == "present":
            wanted[paths["load"]] = f"{name}\n"
            wanted[paths["options"]] = f"options {name} {params}\n" if params else None
        elif self.args["persistent"] == "absent":
            wanted[paths["load"]] = wanted[paths["options"]] = None
        if self.args["blacklist"] is True:
            wanted[paths["blacklist"]] = f"blacklist {name}\n"
        elif self.args["blacklist"] is False:
            wanted[paths["blacklist"]] = None
        return wanted

    def diff(self, current: KernelModuleState) -> ModprobePlan | None:
        self.current = current  # a failed load is explained by what was read (no module support)
        plan = ModprobePlan()
        for path, content in self.wanted_files().items():
            if current.files.get(path) != content:
                plan.files[path] = content
                plan.summary.append(f"{'remove' if content is None else 'write'} {path}")
        if self.args["state"] == "present" and not current.present:
            plan.command = ["modprobe", "--", self.module, *shlex.split(self.args["params"])]
            plan.summary.append(f"load {self.module}")
        elif self.args["state"] == "absent" and current.present:
            if current.builtin:
                raise ModuleFailed(f"modprobe: {self.module} is built into the kernel; it cannot be unloaded")
            plan.command = ["modprobe", "-r", "--", self.module]
            plan.summary.append(f"unload {self.module}")
        return plan if plan.files or plan.command else None

    def describe(self, current: KernelModuleState, plan: ModprobePlan) -> str:
        text = "".join(unified_diff(current.files.get(path), content, path) for path, content in plan.files.items())
        return text + "".join(line + "\n" for line in plan.summary if not line.startswith(("write", "remove")))

    def result_data(self, current: KernelModuleState, plan: Any) -> dict[str, Any]:
        return {"name": self.module, "loaded": current.present, "builtin": current.builtin}

    def apply(self, plan: ModprobePlan) -> dict[str, Any]:
        for path, content in plan.files.items():
            if content is None:
                result = self.context.run(join(["rm", "-f", "--", path]))
                if not result.ok:
                    raise ModuleFailed(f"modprobe: cannot remove {path}: {result.stderr.strip()}")
            else:
                folder = path.rsplit("/", 1)[0] or "/"
                self.context.run(join(["mkdir", "-p", "--", folder]))
                write_file(self.context, path, content.encode(), mode="0644")
        data = {"name": self.module, "files": sorted(plan.files), "actions": plan.summary}
        if plan.command:
            result = self.context.run(join(plan.command))
            if not result.ok:
                raise ModuleFailed(self.explain(plan, result.stderr.strip() or result.stdout.strip()),
                                   {**data, "rc": result.rc})
        return data

    def explain(self, plan: ModprobePlan, error: str) -> str:
        verb = "unload" if "-r" in (plan.command or []) else "load"
        written = "the files were written, but " if plan.files else ""
        if not self.current.can_load:
            why = "this kernel has no loadable module support (no /proc/modules)"
        elif "not permitted" in error.lower() or "operation not permitted" in error.lower():
            why = "not permitted (no CAP_SYS_MODULE: a container or sandbox host?)"
        else:
            why = "modprobe failed"
        return f"modprobe: {written}could not {verb} {self.module}: {why}: {error}"

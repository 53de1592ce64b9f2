"""sysctl: a kernel parameter in a sysctl file and, with `reload`, in the running kernel.

One round trip reads the running value (/proc/sys) and the file. The file is rewritten atomically
with only this key's line changed. The easy thing to get wrong: the file and the kernel are two
places. `reload: false` only writes the file (applied at next boot), and when the kernel refuses a
value (read-only /proc/sys in a container, an unknown key) the file is still written and the task
fails saying so, rather than pretending the value is live.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.modules.remote_file import unified_diff, write_file
from provision.shell import join, quote
from provision.transport.base import CommandResult

KEY = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-*:]+)*$")


@dataclass
class SysctlState:
    runtime: str | None  # None: no such key in /proc/sys
    file_text: str | None  # None: the file does not exist
    folder_exists: bool


@dataclass
class SysctlPlan:
    file_text: str | None  # new file content, or None when the file is right
    set_runtime: bool


def normalise(value: Any) -> str:
    """Compare as the kernel prints: '4096  87380\\t6291456' == '4096 87380 6291456'."""
    return " ".join(str(value).split())


def key_line(name: str) -> re.Pattern[str]:
    return re.compile(r"^\s*-?\s*" + re.escape(name) + r"\s*=")


def file_value(text: str | None, name: str) -> str | None:
    """The value the file gives `name` (the last assignment wins, as `sysctl -p` reads it)."""
    value = None
    pattern = key_line(name)
    for line in (text or "").splitlines():
        if pattern.match(line):
            value = normalise(line.split("=", 1)[1])
    return value


def edit_file(text: str | None, name: str, value: str | None) -> str:
    """The file with `name` set to `value` (None removes it): first line replaced, duplicates gone."""
    pattern = key_line(name)
    lines, placed = [], False
    for line in (text or "").splitlines():
        if pattern.match(line):
            if value is not None and not placed:
                lines.append(f"{name}={value}")
                placed = True
            continue
        lines.append(line)
    if value is not None and not placed:
        lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n" if lines else ""


class Sysctl(Module):
    name = "sysctl"
    spec = {
        "name": Arg("str", required=True, aliases=("key",)),
        "value": Arg("str", aliases=("val",)),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "sysctl_file": Arg("path", default="/etc/sysctl.conf"),
        "reload": Arg("bool", default=True, help="also set the value in the running kernel"),
        "sysctl_set": Arg("bool", default=False, help="same as reload (Ansible's name for it)"),
        "ignoreerrors": Arg("bool", default=False, help="an unknown key is not an error"),
    }
    # ansible.posix.sysctl: required_if=[('state', 'present', ['value'])]
    required_if = (("state", "present", ("value",)),)

    @property
    def key(self) -> str:
        return self.args["name"].replace("/", ".")

    @property
    def live(self) -> bool:
        return self.args["state"] == "present" and (self.args["reload"] or self.args["sysctl_set"])

    def read_command(self) -> str:
        if not KEY.match(self.key):
            raise ModuleFailed(f"sysctl: {self.key!r} is not a valid key")
        path = self.args["sysctl_file"]
        proc = "/proc/sys/" + self.key.replace(".", "/")
        return (
            "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }\n"
            f"s runtime; cat {quote(proc)} 2>/dev/null || echo @@missing\n"
            f"s folder; [ -d {quote(posixpath.dirname(path) or '.')} ] && echo yes\n"
            f"s exists; [ -f {quote(path)} ] && echo yes\n"
            # the file comes last and verbatim, so rewriting it keeps every byte of the other lines
            f"s file; [ ! -f {quote(path)} ] || cat {quote(path)}\n"
        )

    def parse(self, result: CommandResult | None) -> SysctlState:
        marker = "\n@@provision:file@@\n"
        if result is None or not result.ok or marker not in result.stdout:
            error = result.stderr.strip() if result is not None else ""
            raise ModuleFailed(f"sysctl: cannot read {self.args['sysctl_file']}: {error}")
        head, file_text = result.stdout.split(marker, 1)
        sections = split_sections(head)
        runtime = sections.get("runtime", "")
        return SysctlState(
            runtime=None if runtime == "@@missing" else normalise(runtime),
            file_text=file_text if sections.get("exists") == "yes" else None,
            folder_exists=sections.get("folder") == "yes",
        )

    def diff(self, current: SysctlState) -> SysctlPlan | None:
        wanted = normalise(self.args["value"]) if self.args["state"] == "present" else None
        if self.live and current.runtime is None and not self.args["ignoreerrors"]:
            raise ModuleFailed(f"sysctl: this kernel has no key {self.key} (/proc/sys has none)")
        new_text: str | None = None
        if file_value(current.file_text, self.key) != wanted or self._duplicates(current.file_text):
            new_text = edit_file(current.file_text, self.key, wanted)
            if current.file_text is None and wanted is None:
                new_text = None
        set_runtime = self.live and current.runtime is not None and current.runtime != wanted
        if new_text is None and not set_runtime:
            return None
        return SysctlPlan(new_text, set_runtime)

    def _duplicates(self, text: str | None) -> bool:
        pattern = key_line(self.key)
        return sum(1 for line in (text or "").splitlines() if pattern.match(line)) > 1

    def describe(self, current: SysctlState, plan: SysctlPlan) -> str:
        text = ""
        if plan.file_text is not None:
            text += unified_diff(current.file_text, plan.file_text, self.args["sysctl_file"])
        if plan.set_runtime:
            text += f"running kernel: {self.key} = {current.runtime} -> {normalise(self.args['value'])}\n"
        return text

    def result_data(self, current: SysctlState, plan: Any) -> dict[str, Any]:
        return {"name": self.key, "value": current.runtime, "sysctl_file": self.args["sysctl_file"]}

    def apply(self, plan: SysctlPlan) -> dict[str, Any]:
        path = self.args["sysctl_file"]
        data: dict[str, Any] = {"name": self.key, "sysctl_file": path, "file_changed": plan.file_text is not None}
        if plan.file_text is not None:
            folder = posixpath.dirname(path) or "."
            made = self.context.run(join(["mkdir", "-p", "--", folder]))
            if not made.ok:
                raise ModuleFailed(f"sysctl: cannot create {folder}: {made.stderr.strip()}")
            write_file(self.context, path, plan.file_text.encode())
        if plan.set_runtime:
            value = normalise(self.args["value"])
            result = self.context.run(join(["sysctl", "-w", f"{self.key}={value}"]))
            if not result.ok:
                reason = result.stderr.strip() or result.stdout.strip() or f"rc {result.rc}"
                written = f"{path} now sets it, but " if plan.file_text is not None else ""
                raise ModuleFailed(
                    f"sysctl: {written}the running kernel refused {self.key}={value}: {reason}"
                    " (read-only /proc/sys, as in a container? use reload: false to only write the file)",
                    {**data, "rc": result.rc})
        data["value"] = normalise(self.args["value"]) if self.args["value"] is not None else None
        return data

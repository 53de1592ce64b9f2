"""group: a local group present with the wanted gid, or absent (Ansible's `group` on Linux).

Done with shadow-utils (groupadd, groupmod, groupdel) as Ansible does; one batched read of the
group database entry. The easy thing to get wrong: removing a group that is some user's primary
group fails in groupdel, and says so, rather than leaving the user without one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote
from provision.transport.base import CommandResult


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


class Group(Module):
    name = "group"
    spec = {
        "name": Arg("str", required=True),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "gid": Arg("int"),
        "system": Arg("bool", default=False),
        "non_unique": Arg("bool", default=False, help="allow a gid another group has"),
        "force": Arg("bool", default=False, help="absent: remove even when it is a user's primary group"),
    }

    def read_command(self) -> str:
        name = self.args["name"]
        if not name or name.startswith("-") or ":" in name or any(char.isspace() for char in name):
            raise ModuleFailed(f"group: {name!r} is not a valid group name")
        return (f"n={quote(name)}\n" "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }\n"
                's group; getent group "$n"\ns end\n')

    def parse(self, result: CommandResult | None) -> GroupEntry | None:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            raise ModuleFailed(f"group: cannot read the group: {(result.stderr if result else '').strip() or 'no output'}")
        fields = sections.get("group", "").split(":")
        if len(fields) < 4 or not fields[2].isdigit():
            return None
        return GroupEntry(fields[0], int(fields[2]), tuple(member for member in fields[3].split(",") if member))

    def diff(self, current: GroupEntry | None) -> list[str] | None:
        args = self.args
        if args["state"] == "absent":
            return ["groupdel", *(["-f"] if args["force"] else []), args["name"]] if current else None
        if current is None:
            argv = ["groupadd"]
            if args["gid"] is not None:
                argv += ["-g", str(args["gid"])] + (["-o"] if args["non_unique"] else [])
            return argv + (["-r"] if args["system"] else []) + [args["name"]]
        if args["gid"] is not None and args["gid"] != current.gid:
            return ["groupmod", "-g", str(args["gid"]), *(["-o"] if args["non_unique"] else []), args["name"]]
        return None

    def describe(self, current: GroupEntry | None, plan: list[str]) -> str:
        if plan[0] == "groupdel":
            return f"remove group {self.args['name']} (gid {current.gid if current else '?'})\n"
        if plan[0] == "groupadd":
            return f"create group {self.args['name']}" + (f" gid {self.args['gid']}" if self.args["gid"] is not None
                                                          else "") + "\n"
        return f"group {self.args['name']}: gid {current.gid if current else '?'} -> {self.args['gid']}\n"

    def apply(self, plan: list[str]) -> dict[str, Any]:
        result = self.context.run(join(plan))
        if result.rc != 0:
            raise ModuleFailed(f"group: {join(plan)} failed (rc={result.rc}): {(result.stderr or result.stdout).strip()}",
                               {"rc": result.rc})
        return self.result_data(self.read(), None)

    def result_data(self, current: GroupEntry | None, plan: Any) -> dict[str, Any]:
        """Ansible's keys: name, state, gid and system for a group that exists."""
        data: dict[str, Any] = {"name": self.args["name"], "state": self.args["state"]}
        if current is not None and self.args["state"] == "present":
            data.update(gid=current.gid, system=self.args["system"])
        return data

"""file: a path's type (file, directory, link, hard, absent, touch) and its owner, group and mode.

The easy thing to get wrong: `state: file` never creates a file (Ansible fails on a missing path;
use touch or copy), and `recurse` applies owner/group/mode to everything below a directory.
"""
from __future__ import annotations

import posixpath

import re
from dataclasses import dataclass, field
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.modules.content import ATTRIBUTE_ARGS
from provision.modules.remote_file import (
    FileState,
    attribute_changes,
    attribute_command,
    attribute_data,
    attribute_steps,
    describe_attributes,
    desired_mode,
    read_command,
    split_after,
    state_from,
    then_read,
)
from provision.modules.stat import stat_data
from provision.shell import join, quote
from provision.transport.base import CommandResult


def _is_symbolic(mode: Any) -> bool:
    return isinstance(mode, str) and not re.fullmatch(r"\s*(0o)?[0-7]{1,4}\s*", mode) and mode.strip() != "preserve"


@dataclass
class FilePlan:
    commands: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


class File(Module):
    name = "file"
    spec = {
        "path": Arg("path", required=True, aliases=("dest", "name")),
        "state": Arg("str", choices=("file", "directory", "link", "hard", "absent", "touch")),
        "src": Arg("path", help="link target for state=link"),
        "recurse": Arg("bool", default=False),
        "force": Arg("bool", default=False, help="link: replace a file or empty directory at path"),
        "modification_time": Arg("str", help="'preserve' keeps touch idempotent"),
        "access_time": Arg("str"),
        **ATTRIBUTE_ARGS,
    }
    # Ansible fails "src is required for creating new symlinks" unless a link is already there;
    # provision never adopts an existing link's target, so without src the task fails on every host.
    required_if = (("state", "link", ("src",)),)

    @property
    def path(self) -> str:
        return self.args["path"]

    def read_command(self) -> str | None:
        return read_command(self.path, content_limit=None)  # never reads content

    def parse(self, result: CommandResult | None) -> FileState:
        return state_from(self.path, result, content_limit=None, must_read=False)

    def read(self) -> dict[str, Any]:
        state = super().read()
        recurse_differs = False
        if self.args["recurse"] and state.kind == "directory":
            recurse_differs = self._tree_differs()
        source = None
        if self.wanted_state(state) == "hard" and posixpath.isabs(self.args.get("src") or ""):
            # a hard link is converged when both names are one inode: the source's is read too
            source = state_from(self.args["src"], self.context.run(read_command(self.args["src"], content_limit=None)),
                                content_limit=None, must_read=False)
        return {"state": state, "recurse_differs": recurse_differs, "missing_source": self._missing_source(state),
                "source": source}

    def _missing_source(self, state: FileState) -> str | None:
        """A link to be made whose source does not exist, as Ansible resolves it (relative to the
        link's folder, or to the path itself when that is a directory): the path, else None. Read
        only when a link would be made without `force`, so a converged link costs nothing more."""
        source = self.args.get("src")
        if (self.wanted_state(state) != "link" or self.args["force"] or not source
                or (state.kind == "link" and state.link_target == source)):
            return None
        base = self.path if state.kind == "directory" else posixpath.dirname(self.path)
        absolute = posixpath.join(base, source)
        return None if self.context.run(join(["test", "-e", absolute])).rc == 0 else absolute

    def _tree_differs(self) -> bool:
        """Does anything below the directory have another owner/group/mode? One round trip.

        Modes are compared here, not with `find -perm`, because a symbolic mode (u=rwX) wants
        different bits for files and directories and depends on each entry's current mode.
        """
        tests = []
        if self.args.get("owner"):
            tests.append(join(["!", "-user", self.args["owner"]]))
        if self.args.get("group"):
            tests.append(join(["!", "-group", self.args["group"]]))
        path = quote(self.path)
        command = ""
        if tests:
            command += f'[ -n "$(find {path} \\( ' + " -o ".join(tests) + ' \\) -print -quit)" ] && echo owner\n'
        if self.args.get("mode") is not None:
            # links are skipped: chmod -R leaves them alone
            command += f"find {path} ! -type l -printf '%y %m\\n' | sort -u\n"
        if not command:
            return False
        lines = self.context.run(command + "true").stdout.splitlines()
        for line in lines:
            if line == "owner":
                return True
            kind, _, mode = line.partition(" ")
            current = format(int(mode, 8), "04o")
            if desired_mode(self.args["mode"], current, kind == "d") != current:
                return True
        return False

    def wanted_state(self, state: FileState) -> str:
        if self.args["state"]:
            return self.args["state"]
        if self.args.get("src"):
            return "link"
        return "file" if state.kind in ("absent", "other") else state.kind

    def diff(self, current: dict[str, Any]) -> FilePlan | None:
        state: FileState = current["state"]
        wanted = self.wanted_state(state)
        plan = FilePlan()
        path = self.path
        if wanted == "absent":
            if state.exists:
                plan.commands.append(join(["rm", "-rf", "--", path]))
                plan.summary.append(f"remove {state.kind} {path}")
            return plan if plan.commands else None
        if wanted == "file" and state.kind == "absent":
            raise ModuleFailed(f"file {path} does not exist (use state: touch to create it)")
        if wanted in ("file", "directory") and state.exists and state.kind != wanted:
            raise ModuleFailed(f"{path} is a {state.kind}, not a {wanted}")
        new_folders = wanted == "directory" and not state.exists
        if new_folders:
            plan.summary.append(f"create directory {path}")
        if wanted == "touch":
            preserve = self.args.get("modification_time") == "preserve" and self.args.get("access_time") in (None, "preserve")
            if not state.exists or not preserve:
                plan.commands.append(join(["touch", "--", path]))
                plan.summary.append(f"touch {path}")
        if wanted == "link":
            source = self.args.get("src")
            if not source:
                raise ModuleFailed("state=link needs src")
            if current.get("missing_source"):
                raise ModuleFailed(f'src file does not exist, use "force=yes" if you really want to create the link: '
                                   f'{current["missing_source"]}', {"path": path, "src": source})
            if state.kind == "directory" or (state.kind == "file" and not self.args["force"]):
                raise ModuleFailed(f"{path} exists as a {state.kind}; set force: true to replace it with a link")
            if state.kind != "link" or state.link_target != source:
                plan.commands.append(join(["ln", "-sfn", "--", source, path]))
                plan.summary.append(f"link {path} -> {source}")
            return plan if plan.commands else None  # a link's own owner/mode are left alone
        if wanted == "hard":
            self._plan_hard_link(state, current.get("source"), plan)
            state = FileState(path, "absent") if plan.commands else state  # a new name: set what is asked
        owner, group = self.args.get("owner"), self.args.get("group")
        if state.exists and not current["recurse_differs"]:
            changes = attribute_changes(state, owner, group, self.args.get("mode"))
        else:  # new path, or something below the directory differs: set everything asked for
            mode = desired_mode(self.args.get("mode"), state.mode, wanted == "directory")
            changes = {key: value for key, value in (("owner", owner), ("group", group), ("mode", mode)) if value}
        if "mode" in changes and self.args["recurse"] and _is_symbolic(self.args["mode"]):
            # chmod -R with the symbolic text: X means x for directories only, per entry
            changes["mode"] = str(self.args["mode"]).strip()
        if new_folders:
            plan.commands.append(make_folders(path, changes))
            if changes:
                plan.summary.append(describe_attributes(state, changes).rstrip())
        elif changes:
            plan.commands.append(attribute_command(path, changes, recurse=self.args["recurse"]))
            plan.summary.append(describe_attributes(state, changes).rstrip())
        return plan if plan.commands else None

    def _plan_hard_link(self, state: FileState, source: FileState | None, plan: FilePlan) -> None:
        """`ln SRC PATH` unless PATH is already SRC's inode; Ansible's refusals and messages."""
        src = self.args.get("src")
        if not src:
            raise ModuleFailed("src is required for creating new hard links")
        if not posixpath.isabs(src):
            raise ModuleFailed("absolute paths are required")
        if source is None or not source.exists:
            raise ModuleFailed(f"src does not exist: {src}", {"path": self.path, "src": src})
        if state.exists and (state.inode, state.dev) == (source.inode, source.dev):
            return
        if state.kind == "directory":
            raise ModuleFailed(f"{self.path} is a directory; it cannot be made a hard link")
        if state.exists and not self.args["force"]:
            raise ModuleFailed(f"Cannot link, {state.kind} exists at destination", {"path": self.path, "src": src})
        plan.commands.append(join(["ln", "-f", "--", src, self.path]))
        plan.summary.append(f"hard link {self.path} -> {src}")

    def describe(self, current: dict[str, Any], plan: FilePlan) -> str:
        return "\n".join(line for line in plan.summary if line) + "\n"

    def apply(self, plan: FilePlan) -> dict[str, Any]:
        result = self.context.run(then_read(" && ".join(plan.commands), self.path))
        if not result.ok:
            raise ModuleFailed(f"{self.path}: {result.stderr.strip() or 'failed'}", {"rc": result.rc})
        _, after = split_after(self.path, result.stdout)
        return self.data(after) if after is not None else {"path": self.path}

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return self.data(current["state"])

    def data(self, state: FileState) -> dict[str, Any]:
        """Ansible's keys (path, or dest and src for a link or touch; state, mode, owner, group,
        uid, gid, size) and stat's (isdir, exists...), from the path's state."""
        data: dict[str, Any] = {"path": self.path, **stat_data(state, False), **attribute_data(state)}
        if self.args["state"] in ("link", "hard", "touch"):
            data["dest"] = self.path
        if state.kind == "link":
            data["src"] = state.link_target
        elif self.args["state"] == "hard":
            data["src"] = self.args["src"]
        return data


def make_folders(path: str, changes: dict[str, str]) -> str:
    """`mkdir -p PATH`, and the owner, group and mode asked for set on every folder it made, not
    only the last: Ansible's file module does so for the parents it creates (a folder that already
    existed keeps its own)."""
    command = join(["mkdir", "-p", "--", path])
    if not changes:
        return command
    steps = attribute_steps(changes, '"$d"')
    made = f'new=$(p={quote(path)}; while [ ! -e "$p" ]; do printf \'%s\\n\' "$p"; p=$(dirname -- "$p"); done)'
    return (f"{made} && {command} && printf '%s\\n' \"$new\" | "
            f"while IFS= read -r d; do [ -z \"$d\" ] || {{ {' && '.join(steps)}; }} || exit 1; done")

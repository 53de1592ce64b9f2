"""The shape shared by every module that manages a file's content (copy, template, lineinfile,
blockinfile, json_merge): read the file once, compute the wanted bytes, write atomically if the
checksum differs, else only fix owner/group/mode.

A subclass implements `wanted_content(state)`; returning None leaves the content alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join
from provision.transport.base import CommandResult
from provision.modules.remote_file import (
    CONTENT_LIMIT,
    FileState,
    attribute_changes,
    attribute_command,
    describe_attributes,
    desired_mode,
    read_command,
    read_state,
    sha1,
    state_from,
    unified_diff,
    write_file,
)

ATTRIBUTE_ARGS = {
    "owner": Arg("str", help="user name or uid"),
    "group": Arg("str", help="group name or gid"),
    "mode": Arg("raw", help="octal string ('0644'), YAML int (0644) or symbolic (u+rw)"),
}


@dataclass
class ContentPlan:
    content: bytes | None  # None: content is right
    attributes: dict[str, str] = field(default_factory=dict)
    after_text: str | None = None  # for the diff
    mode: str | None = None  # octal, resolved against the current mode (symbolic modes)


class ContentModule(Module):
    path_arg: ClassVar[str] = "path"
    needs_content: ClassVar[bool] = True  # fetch current content (lineinfile needs it; copy only for diff)
    follow_links: ClassVar[bool] = False  # True: a link at path means its target (editing modules)

    @property
    def path(self) -> str:
        return self.args[self.path_arg]

    def wanted_content(self, state: FileState) -> bytes | None:
        raise NotImplementedError

    @property
    def content_limit(self) -> int | None:
        return CONTENT_LIMIT if self.needs_content or self.diff_wanted else None

    def read_command(self) -> str | None:
        return read_command(self.path, self.content_limit)

    def parse(self, result: CommandResult | None) -> FileState:
        return state_from(self.path, result, self.content_limit)

    def read(self) -> FileState:
        limit = self.content_limit
        state = super().read()
        if state.kind == "link" and self.follow_links:
            # edit the file the link points to and keep the link (/etc/resolv.conf), as Ansible does
            target = self.context.run(join(["readlink", "-f", "--", self.path])).stdout.strip()
            if target:
                self.args[self.path_arg] = target
                state = read_state(self.context, target, limit)
        if state.kind not in ("absent", "file"):
            raise ModuleFailed(f"{self.path} is a {state.kind}, not a regular file")
        if state.content is not None and sha1(state.content.encode()) != state.checksum:
            # The text came back decoded with replacement characters: it is not the file's bytes,
            # so editing it would corrupt every line the task did not mean to touch.
            if self.needs_content:
                raise ModuleFailed(f"{self.path} is not UTF-8 text; {self.name} cannot edit it safely")
            state.content = None  # the diff shows checksums instead
        return state

    @property
    def diff_wanted(self) -> bool:
        return True  # the runner shows diffs only under --diff; reading small files costs nothing extra

    def diff(self, current: FileState) -> ContentPlan | None:
        content = self.wanted_content(current)
        if content is not None and current.exists and sha1(content) == current.checksum:
            content = None
        if content is None and not current.exists:
            return None  # nothing to create (e.g. lineinfile absent on a missing file)
        attributes = attribute_changes(current, self.args.get("owner"), self.args.get("group"), self.args.get("mode"))
        if content is None and not attributes:
            return None
        after = content.decode("utf-8", "replace") if content is not None else None
        mode = desired_mode(self.args.get("mode"), current.mode, False)
        return ContentPlan(content, attributes, after, mode)

    def apply(self, plan: ContentPlan) -> dict[str, Any]:
        if plan.content is None:
            result = self.context.run(attribute_command(self.path, plan.attributes))
            if not result.ok:
                raise ModuleFailed(f"could not set attributes of {self.path}: {result.stderr.strip()}")
            return {"path": self.path, **plan.attributes}
        return write_file(
            self.context,
            self.path,
            plan.content,
            owner=self.args.get("owner"),
            group=self.args.get("group"),
            mode=plan.mode,
            backup=bool(self.args.get("backup")),
            validate=self.args.get("validate"),
        )

    def describe(self, current: FileState, plan: ContentPlan) -> str | None:
        text = ""
        if plan.content is not None:
            if current.exists and current.content is None or b"\0" in plan.content:
                text += f"content of {self.path}: sha1 {current.checksum or '(none)'} -> {sha1(plan.content)}\n"
            else:
                text += unified_diff(current.content if current.exists else None, plan.after_text, self.path)
        if plan.attributes:
            text += describe_attributes(current, plan.attributes)
        return text or None

    def result_data(self, current: FileState, plan: ContentPlan | None) -> dict[str, Any]:
        data: dict[str, Any] = {self.path_arg: self.path}
        if current.exists:
            data.update(checksum=current.checksum, size=current.size, mode=current.mode,
                        owner=current.owner, group=current.group)
        return data

"""The shape shared by every module that manages a file's content (copy, template, lineinfile,
blockinfile, json_merge): read the file once, compute the wanted bytes, write atomically if the
checksum differs, else only fix owner/group/mode.

A subclass implements `wanted_content(state)`; returning None leaves the content alone.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from provision.modules.base import Arg, Module, ModuleFailed
from provision.transport.base import CommandResult
from provision.modules.remote_file import (
    CONTENT_LIMIT,
    FileState,
    attribute_changes,
    attribute_command,
    attribute_data,
    describe_attributes,
    desired_mode,
    read_command,
    read_state,
    sha1,
    split_after,
    state_from,
    then_read,
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
    before: FileState | None = None  # the file as it was (Ansible's registered diff)


class ContentModule(Module):
    path_arg: ClassVar[str] = "path"
    needs_content: ClassVar[bool] = True  # fetch current content (lineinfile needs it; copy only for diff)
    follow_links: ClassVar[bool] = False  # True: a link at path means its target (editing modules)
    reports_md5: ClassVar[bool] = False  # Ansible documents md5sum for copy and template
    replaces_links: ClassVar[bool] = False  # a link at path (not followed) is replaced by the file
    reports_src: ClassVar[bool] = False  # copy and template: `src`, the file the content arrived in on the host
    known_content: bytes | None = None  # the bytes the file holds once converged, when known

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

    def elsewhere(self, state: FileState) -> str | None:
        """The path the module works on instead of what is at its path, or None: a link's target
        for the editing modules (/etc/resolv.conf: edit the file, keep the link), as Ansible does."""
        if state.kind == "link" and self.follow_links and state.link_source:
            return state.link_source
        return None

    def read(self) -> FileState:
        limit = self.content_limit
        state = super().read()
        other = self.elsewhere(state)
        if other is not None:
            self.args[self.path_arg] = other
            state = read_state(self.context, other, limit)
        if state.kind == "link" and self.replaces_links:
            # copy and template without follow: the new file takes the link's place (the rename
            # replaces the link itself), as Ansible's atomic move does
            return FileState(self.path, "absent")
        if state.kind not in ("absent", "file"):
            if state.kind == "directory":  # Ansible's words for the editing modules
                raise ModuleFailed(f"Path {self.path} is a directory !")
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
            self.known_content = content  # what the file holds: its md5 is known without a read
            content = None
        if content is None and not current.exists:
            return None  # nothing to create (e.g. lineinfile absent on a missing file)
        attributes = attribute_changes(current, self.args.get("owner"), self.args.get("group"), self.args.get("mode"))
        if content is None and not attributes:
            return None
        after = content.decode("utf-8", "replace") if content is not None else None
        mode = desired_mode(self.args.get("mode"), current.mode, False)
        return ContentPlan(content, attributes, after, mode, current)

    def apply(self, plan: ContentPlan) -> dict[str, Any]:
        data: dict[str, Any] = {self.path_arg: self.path}
        if plan.content is None:
            result = self.context.run(then_read(attribute_command(self.path, plan.attributes), self.path))
            if not result.ok:
                raise ModuleFailed(f"could not set attributes of {self.path}: {result.stderr.strip()}")
            _, after = split_after(self.path, result.stdout)
            if after is not None:
                data.update(checksum=after.checksum, **attribute_data(after))
            return data
        self.known_content = plan.content
        written = write_file(
            self.context,
            self.path,
            plan.content,
            owner=self.args.get("owner"),
            group=self.args.get("group"),
            mode=plan.mode,
            backup=bool(self.args.get("backup")),
            validate=self.args.get("validate"),
            parents=self.makes_parents(),
        )
        written.pop("dest")
        if not self.reports_src:
            written.pop("src", None)
        return {**data, **written, **self.ansible_data(), **self.registered_diff(plan)}

    def makes_parents(self) -> bool:
        """Whether missing folders above the file are made (Ansible's `create` for line and block
        editing does; copy and template fail instead)."""
        return False

    def ansible_data(self) -> dict[str, Any]:
        """Keys Ansible returns for this module beyond the file's own (msg, md5sum...)."""
        return self.md5_data()

    def md5_data(self) -> dict[str, Any]:
        if self.reports_md5 and self.known_content is not None:
            return {"md5sum": hashlib.md5(self.known_content).hexdigest()}
        return {}

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
        """Unchanged (or check mode): the file as it is."""
        data: dict[str, Any] = {self.path_arg: self.path}
        if current.exists:
            data.update(checksum=current.checksum, **attribute_data(current), **self.md5_data())
        return {**data, **self.registered_diff(plan)}

    def registered_diff(self, plan: ContentPlan | None) -> dict[str, Any]:
        """copy's and template's `diff` as Ansible registers it (a list of one: before and after
        texts with their headers; a binary side flagged); the runner keeps it in diff mode only."""
        if not self.reports_src or plan is None or plan.content is None:
            return {}
        entry: dict[str, Any] = {}
        before = plan.before
        if before is None or not before.exists:
            entry["before"] = ""
        elif before.content is None:
            entry["dst_binary"] = 1
        else:
            entry.update(before_header=self.path, before=before.content)
        if b"\x00" in plan.content:
            entry["src_binary"] = 1
        else:
            source = self.args.get("src")
            entry.update(after_header=self.path if self.args.get("content") is not None or not source else source,
                         after=plan.content.decode("utf-8", "replace"))
        return {"diff": [entry]}

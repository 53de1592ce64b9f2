"""copy with a local directory as src: the tree copied to the host, as Ansible's copy does.

`src: conf` puts the folder itself under dest (dest/conf/...); `src: conf/` puts what is inside it
(dest/...). Files on the host that the source does not have are left alone. One round trip reads
every path the source names; one more writes: the changed files travel as one tar on stdin,
unpack into a temporary folder inside the destination, and each is renamed over its path, so a
file on the host is always either the old one or the new one, never half-written.

The easy things to get wrong: `mode` applies to the files, `directory_mode` to the folders this
run makes (existing folders keep theirs), and an existing file keeps its own mode and owner unless
the task names them (as a single-file copy).
"""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Any

from provision.modules.base import ModuleContext, ModuleFailed
from provision.modules.remote_file import TEMP_PREFIX, attribute_steps, desired_mode, host_path
from provision.shell import quote


@dataclass
class LocalEntry:
    """A file or folder of the source tree, by its path relative to the tree's top."""

    path: str
    kind: str  # file, directory
    content: bytes = b""
    mode: int = 0o644

    @property
    def checksum(self) -> str:
        return hashlib.sha1(self.content).hexdigest()


@dataclass
class TreePlan:
    folders: list[str] = field(default_factory=list)  # to make, parents first
    files: list[tuple[LocalEntry, str | None, dict[str, str]]] = field(default_factory=list)  # entry, mode, owner/group
    fixes: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path: attribute changes only
    summary: list[str] = field(default_factory=list)


def local_tree(top: str, follow: bool) -> list[LocalEntry]:
    """The source folder's folders and files (links followed when `follow`, as local_follow),
    sorted so a folder comes before what is in it."""
    entries: list[LocalEntry] = []
    for folder, folders, files in os.walk(top, followlinks=follow):
        relative = os.path.relpath(folder, top)
        prefix = "" if relative == "." else relative + "/"
        for name in sorted(folders):
            path = os.path.join(folder, name)
            if os.path.islink(path) and not follow:
                raise ModuleFailed(f"copy: {prefix}{name} in the source is a link; copying links as links "
                                   "(local_follow: false) is not supported")
            entries.append(LocalEntry(prefix + name, "directory"))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if os.path.islink(path) and not follow:
                raise ModuleFailed(f"copy: {prefix}{name} in the source is a link; copying links as links "
                                   "(local_follow: false) is not supported")
            try:
                with open(path, "rb") as stream:
                    content = stream.read()
            except OSError as error:
                raise ModuleFailed(f"copy: cannot read {path}: {error.strerror}") from None
            entries.append(LocalEntry(prefix + name, "file", content, os.stat(path).st_mode & 0o7777))
    if any("\n" in entry.path for entry in entries):
        raise ModuleFailed("copy: a name in the source folder holds a newline; provision cannot copy it")
    return sorted(entries, key=lambda entry: entry.path.split("/"))


def read_tree_command(root: str, entries: list[LocalEntry]) -> str:
    """For the top and each path the source names: 'KIND MODE UID GID USER GROUP [SHA1] PATH' (a, absent)."""
    names = " ".join(quote(entry.path) for entry in entries)
    return (
        f"cd {host_path(root)} 2>/dev/null || {{ echo @@absent@@; exit 0; }}\n"
        f"for p in {names}; do\n"
        '  if [ -L "$p" ]; then k=link; elif [ -d "$p" ]; then k=directory; elif [ -f "$p" ]; then k=file;'
        ' elif [ -e "$p" ]; then k=other; else echo "absent - - - - - - $p"; continue; fi\n'
        '  s=-; [ "$k" = file ] && s=$(sha1sum < "$p" | cut -c1-40)\n'
        '  echo "$k $(stat -c \'%a %u %g %U %G\' -- "$p") $s $p"\n'
        "done\n"
    )


def parse_tree(output: str) -> dict[str, dict[str, Any]] | None:
    """{path: {kind, mode, uid, gid, owner, group, checksum}} from read_tree_command; None: no top."""
    if output.strip() == "@@absent@@":
        return None
    found: dict[str, dict[str, Any]] = {}
    for line in output.splitlines():
        words = line.split(" ", 7)
        if len(words) < 8:
            continue
        kind, mode, uid, gid, owner, group, checksum, path = words
        found[path] = {"kind": kind, "mode": mode.rjust(4, "0"), "uid": uid, "gid": gid, "owner": owner,
                       "group": group, "checksum": checksum}
    return found


class CopyTree:
    """copy's work for a folder source: read, plan, apply (Copy.run hands over to it)."""

    def __init__(self, args: dict[str, Any], context: ModuleContext, source: str, dest: str):
        self.args, self.context, self.source = args, context, source
        # `src: conf` copies the folder itself into dest; `src: conf/` only what is inside it
        name = "" if args["src"].endswith("/") else posixpath.basename(args["src"].rstrip("/"))
        self.root = posixpath.join(dest, name) if name else dest.rstrip("/") or "/"

    def read(self) -> tuple[list[LocalEntry], dict[str, dict[str, Any]] | None]:
        entries = local_tree(self.source, self.args["local_follow"])
        result = self.context.run(read_tree_command(self.root, entries))
        if not result.ok:
            raise ModuleFailed(f"cannot read {self.root}: {result.stderr.strip()}")
        return entries, parse_tree(result.stdout)

    def plan(self, entries: list[LocalEntry], on_host: dict[str, dict[str, Any]] | None) -> TreePlan:
        plan = TreePlan()
        owner, group, mode = self.args.get("owner"), self.args.get("group"), self.args.get("mode")
        if on_host is None:
            plan.folders.append("")
            plan.summary.append(f"create directory {self.root}")
        for entry in entries:
            there = (on_host or {}).get(entry.path, {"kind": "absent"})
            target = posixpath.join(self.root, entry.path)
            if entry.kind == "directory":
                if there["kind"] == "absent":
                    plan.folders.append(entry.path)
                    plan.summary.append(f"create directory {target}")
                elif there["kind"] != "directory":
                    raise ModuleFailed(f"{target} is a {there['kind']} on the host; the source has a folder there")
                continue
            if there["kind"] not in ("absent", "file"):
                raise ModuleFailed(f"{target} is a {there['kind']} on the host, not a regular file")
            wanted_mode = desired_mode(mode, there.get("mode", ""), False) if mode is not None else None
            if str(mode or "").strip() == "preserve":
                wanted_mode = format(entry.mode, "04o")
            changes = _attribute_changes(there, owner, group, wanted_mode)
            if there["kind"] == "absent" or (there["checksum"] != entry.checksum and self.args["force"]):
                keep = {} if there["kind"] == "absent" else {"mode": there["mode"], "owner": there["uid"],
                                                              "group": there["gid"]}
                settled = {**keep, **{key: value for key, value in (("owner", owner), ("group", group),
                                                                    ("mode", wanted_mode)) if value}}
                plan.files.append((entry, settled.pop("mode", None), settled))
                plan.summary.append(f"copy {target} ({'new' if there['kind'] == 'absent' else 'content differs'})")
            elif changes:
                plan.fixes.append((entry.path, changes))
                plan.summary.append(f"{target}: " + ", ".join(f"{key} -> {value}" for key, value in changes.items()))
        return plan

    def command(self, plan: TreePlan) -> str:
        """Shell text: folders made (with directory_mode), files unpacked from the tar on stdin
        into a temporary folder inside the top, each renamed over its path, attributes fixed."""
        root = host_path(self.root)
        folder_mode = desired_mode(self.args.get("directory_mode"), "", True)
        lines = ["set -e", f"mkdir -p -- {root}"]
        for folder in plan.folders:
            path = root if not folder else f"{root}/{quote(folder)}"
            lines.append(f"mkdir -p -- {path}")
            if folder_mode:
                lines.append(f"chmod {folder_mode} -- {path}")
        if plan.files:
            lines += [f"stage=$(mktemp -d {root}/{TEMP_PREFIX}XXXXXX)", "trap 'rm -rf -- \"$stage\"' EXIT",
                      'tar -x -C "$stage" --no-same-owner --no-same-permissions -f -']
            for entry, mode, owners in plan.files:
                staged = f'"$stage"/{quote(entry.path)}'
                if mode:  # else the umask's default for a new file, as Ansible's copy
                    lines.append(f"chmod {mode} -- {staged}")
                who = {key: value for key, value in owners.items() if value}
                lines += attribute_steps(who, staged)
                lines.append(f"mv -f -- {staged} {root}/{quote(entry.path)}")
        for path, changes in plan.fixes:
            lines += attribute_steps(changes, f"{root}/{quote(path)}")
        return "\n".join(lines) + "\n"

    def archive(self, plan: TreePlan) -> bytes:
        """The files to write as one tar: 0666 less the host's umask on unpacking (a new file's
    default); other modes and owners are set by the command."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            made: set[str] = set()
            for entry, _, _ in plan.files:
                parts = entry.path.split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    folder = "/".join(parts[:depth])
                    if folder not in made:
                        made.add(folder)
                        info = tarfile.TarInfo(folder)
                        info.type, info.mode = tarfile.DIRTYPE, 0o777
                        tar.addfile(info)
                info = tarfile.TarInfo(entry.path)
                info.size, info.mode = len(entry.content), 0o666
                tar.addfile(info, io.BytesIO(entry.content))
        return buffer.getvalue()

    def run(self) -> tuple[str, str, dict[str, Any]]:
        """(status, diff text, registered data), for Copy.run to wrap in its result."""
        entries, on_host = self.read()
        plan = self.plan(entries, on_host)
        data = {"dest": self.root.rstrip("/") + "/", "src": self.args["src"]}
        if not (plan.folders or plan.files or plan.fixes):
            return "ok", "", data
        diff = "\n".join(plan.summary) + "\n"
        if self.context.check:
            return "changed", diff, data
        result = self.context.run(self.command(plan), stdin=self.archive(plan) if plan.files else None)
        if not result.ok:
            raise ModuleFailed(f"copy to {self.root} failed: {result.stderr.strip() or 'rc ' + str(result.rc)}",
                               {"rc": result.rc})
        return "changed", diff, data


def _attribute_changes(there: dict[str, Any], owner: str | None, group: str | None,
                       mode: str | None) -> dict[str, str]:
    if there["kind"] != "file":
        return {}
    changes: dict[str, str] = {}
    if owner is not None and owner not in (there["owner"], there["uid"]):
        changes["owner"] = owner
    if group is not None and group not in (there["group"], there["gid"]):
        changes["group"] = group
    if mode is not None and mode != there["mode"]:
        changes["mode"] = mode
    return changes

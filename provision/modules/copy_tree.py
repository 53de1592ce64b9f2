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

from provision.errors import Mark
from provision.modules.base import ModuleContext, ModuleFailed
from provision.modules.remote_file import TEMP_PREFIX, attribute_steps, desired_mode, host_path
from provision.shell import quote
from provision.vault import HEADER, NO_PASSWORD, VaultError, active


def local_bytes(path: str, decrypt: bool) -> bytes:
    """A local source file's bytes; an ansible-vault file decrypted when `decrypt` (copy's
    default, as Ansible's), with the run's vault passwords, and its text kept out of sight."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise ModuleFailed(f"copy: cannot read {path}: {error.strerror}") from None
    if not decrypt or not data.startswith(HEADER.encode()):
        return data
    vault = active()
    if vault is None or not vault.passwords:
        # Ansible's words last: playbooks assert on them
        raise ModuleFailed(f"{NO_PASSWORD}. A vault password or secret must be specified to decrypt {path}")
    try:
        plain = vault.decrypt_bytes(data.decode("ascii", "replace"), Mark(path))
    except VaultError as error:
        raise ModuleFailed(f"{error.message}: {path}") from None
    try:
        vault.remember(plain.decode("utf-8"))
    except UnicodeDecodeError:
        pass  # binary: never shown as text anyway
    return plain


@dataclass
class LocalEntry:
    """A file or folder of the source tree, by its path relative to the tree's top: on this
    machine (its bytes here), or on the host for remote_src (its checksum only)."""

    path: str
    kind: str  # file, directory
    content: bytes = b""
    mode: int = 0o644
    sha1: str = ""  # remote_src: read on the host
    link: str = ""  # a link copied as a link (local_follow: false): what it points to

    @property
    def checksum(self) -> str:
        """sha1 of a file's bytes; of a link's target and a newline (as `readlink | sha1sum`)."""
        if self.kind == "link":
            return hashlib.sha1(self.link.encode() + b"\n").hexdigest()
        return self.sha1 or hashlib.sha1(self.content).hexdigest()


@dataclass
class TreePlan:
    folders: list[str] = field(default_factory=list)  # to make, parents first
    files: list[tuple[LocalEntry, str | None, dict[str, str]]] = field(default_factory=list)  # entry, mode, owner/group
    fixes: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path: attribute changes only
    links: list[LocalEntry] = field(default_factory=list)  # to make or point anew
    summary: list[str] = field(default_factory=list)


def local_tree(top: str, follow: bool, decrypt: bool = True) -> list[LocalEntry]:
    """The source folder's folders, files and links, sorted so a folder comes before what is in
    it. With `follow` (local_follow, the default) a link is copied as what it points to, except
    a link to nothing and a link to a folder it is inside of (it would never end): those stay
    links, as in Ansible's copy; vault files are decrypted when `decrypt`."""
    entries: list[LocalEntry] = []

    def walk(folder: str, prefix: str, inside: frozenset[tuple[int, int]]) -> None:
        below = []  # a folder's files are read before its subfolders, as os.walk (Ansible's) does
        for name in sorted(os.listdir(folder)):
            path, relative = os.path.join(folder, name), prefix + name
            if "\n" in relative:
                raise ModuleFailed("copy: a name in the source folder holds a newline; provision cannot copy it")
            linked = os.path.islink(path)
            if linked and (not follow or not os.path.exists(path)):
                entries.append(LocalEntry(relative, "link", link=os.readlink(path)))
            elif os.path.isdir(path):
                found = os.stat(path)
                key = (found.st_dev, found.st_ino)
                if linked and key in inside:
                    entries.append(LocalEntry(relative, "link", link=os.readlink(path)))
                    continue
                entries.append(LocalEntry(relative, "directory"))
                below.append((path, relative + "/", inside | {key}))
            else:
                entries.append(LocalEntry(relative, "file", local_bytes(path, decrypt), os.stat(path).st_mode & 0o7777))
        for folder_below in below:
            walk(*folder_below)

    top_stat = os.stat(top)
    walk(top, "", frozenset({(top_stat.st_dev, top_stat.st_ino)}))
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
        '  [ "$k" = link ] && s=$(readlink -- "$p" | sha1sum | cut -c1-40)\n'
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


# remote_src: the folder's entries on the host, and whether dest is a folder there already
REMOTE_TREE = (
    "cd {src} || exit 3\n"
    "[ -d {dest} ] && echo @@dest-folder@@\n"
    "find . -mindepth 1 -type d -printf 'directory %m - %P\\n'\n"
    "find . -mindepth 1 -type f -exec sh -c 'for f; do printf \"file %s %s %s\\n\" \"$(stat -c %a -- \"$f\")\" "
    "\"$(sha1sum < \"$f\" | cut -c1-40)\" \"${{f#./}}\"; done' sh {{}} +\n"
    # links: with local_follow, one to a file is that file; else (or to a folder) its target, in hex
    "find . -mindepth 1 -type l -exec sh -c 'm=$1; shift; for f; do if [ \"$m\" = follow ] && [ -f \"$f\" ]; then "
    "printf \"file %s %s %s\\n\" \"$(stat -L -c %a -- \"$f\")\" \"$(sha1sum < \"$f\" | cut -c1-40)\" \"${{f#./}}\"; "
    "else printf \"link 777 %s %s\\n\" \"$(readlink -- \"$f\" | od -An -tx1 | tr -d \" \\\\n\")\" \"${{f#./}}\"; fi; "
    "done' sh {follow} {{}} +\n"
)


def remote_tree(context: ModuleContext, source: str, dest: str, follow: bool) -> tuple[list[LocalEntry], bool]:
    """(the entries of a folder on the host, dest is a folder there): remote_src's source."""
    result = context.run(REMOTE_TREE.format(src=host_path(source), dest=host_path(dest),
                                            follow="follow" if follow else "keep"))
    if result.rc == 3:
        raise ModuleFailed(f"Source {source} not found")
    if not result.ok:
        raise ModuleFailed(f"cannot read {source}: {result.stderr.strip()}")
    entries, dest_folder = [], False
    for line in result.stdout.splitlines():
        if line == "@@dest-folder@@":
            dest_folder = True
            continue
        kind, mode, checksum, path = (line.split(" ", 3) + ["", "", ""])[:4]
        if path and kind == "link":
            entries.append(LocalEntry(path, kind, link=bytes.fromhex(checksum).decode("utf-8", "replace").rstrip("\n")))
        elif path:
            entries.append(LocalEntry(path, kind, mode=int(mode, 8), sha1=checksum if kind == "file" else ""))
    return sorted(entries, key=lambda entry: entry.path.split("/")), dest_folder


class CopyTree:
    """copy's work for a folder source: read, plan, apply (Copy.run hands over to it). `remote`:
    the folder is on the host (remote_src), its files copied there without passing through here."""

    def __init__(self, args: dict[str, Any], context: ModuleContext, source: str, dest: str, remote: bool = False):
        self.args, self.context, self.source, self.dest, self.remote = args, context, source, dest, remote
        # `src: conf` copies the folder itself into dest; `src: conf/` only what is inside it
        name = "" if args["src"].endswith("/") else posixpath.basename(args["src"].rstrip("/"))
        self.root = posixpath.join(dest, name) if name else dest.rstrip("/") or "/"

    def read(self) -> tuple[list[LocalEntry], dict[str, dict[str, Any]] | None]:
        if self.remote:
            entries, _ = remote_tree(self.context, self.source, self.dest, self.args["local_follow"])
        else:
            entries = local_tree(self.source, self.args["local_follow"], self.args["decrypt"])
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
                else:
                    changes = _attribute_changes(there, owner, group, None)
                    if changes:
                        plan.fixes.append((entry.path, changes))
                        plan.summary.append(f"{target}: " + ", ".join(f"{key} -> {value}"
                                                                      for key, value in changes.items()))
                continue
            if entry.kind == "link":
                if there["kind"] not in ("absent", "link"):
                    raise ModuleFailed(f"{target} is a {there['kind']} on the host; the source has a link there")
                if there["kind"] == "absent" or there["checksum"] != entry.checksum:
                    plan.links.append(entry)
                    plan.summary.append(f"link {target} -> {entry.link}")
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
        # the task's owner and group go on the folders too, as Ansible's copy gives them to each
        owners = {key: self.args[key] for key in ("owner", "group") if self.args.get(key)}
        lines = ["set -e", f"mkdir -p -- {root}"]
        for folder in plan.folders:
            path = root if not folder else f"{root}/{quote(folder)}"
            lines.append(f"mkdir -p -- {path}")
            if folder_mode:
                lines.append(f"chmod {folder_mode} -- {path}")
            lines += attribute_steps(owners, path)
        if plan.files:
            lines += [f"stage=$(mktemp -d {root}/{TEMP_PREFIX}XXXXXX)", "trap 'rm -rf -- \"$stage\"' EXIT"]
            if not self.remote:
                lines.append('tar -x -C "$stage" --no-same-owner --no-same-permissions -f -')
            for entry, mode, owners in plan.files:
                staged = f'"$stage"/{quote(entry.path)}'
                if self.remote:  # the host's own file, copied into the stage with its mode
                    lines.append(f'mkdir -p -- "$(dirname -- {staged})" && '
                                 f"cp -p -- {host_path(self.source)}/{quote(entry.path)} {staged}")
                if mode:  # else the umask's default for a new file, as Ansible's copy
                    lines.append(f"chmod {mode} -- {staged}")
                who = {key: value for key, value in owners.items() if value}
                lines += attribute_steps(who, staged)
                lines.append(f"mv -f -- {staged} {root}/{quote(entry.path)}")
        for path, changes in plan.fixes:
            lines += attribute_steps(changes, f"{root}/{quote(path)}")
        for entry in plan.links:  # made beside, then renamed over: never a moment without it
            link = f"{root}/{quote(entry.path)}"
            lines.append(f"ln -sfn -- {quote(entry.link)} {link}{TEMP_PREFIX}link && "
                         f"mv -fT -- {link}{TEMP_PREFIX}link {link}")
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
        if not (plan.folders or plan.files or plan.fixes or plan.links):
            return "ok", "", data
        diff = "\n".join(plan.summary) + "\n"
        if self.context.check:
            return "changed", diff, data
        archive = self.archive(plan) if plan.files and not self.remote else None
        result = self.context.run(self.command(plan), stdin=archive)
        if not result.ok:
            raise ModuleFailed(f"copy to {self.root} failed: {result.stderr.strip() or 'rc ' + str(result.rc)}",
                               {"rc": result.rc})
        return "changed", diff, data


def _attribute_changes(there: dict[str, Any], owner: str | None, group: str | None,
                       mode: str | None) -> dict[str, str]:
    if there["kind"] not in ("file", "directory"):
        return {}
    changes: dict[str, str] = {}
    if owner is not None and owner not in (there["owner"], there["uid"]):
        changes["owner"] = owner
    if group is not None and group not in (there["group"], there["gid"]):
        changes["group"] = group
    if mode is not None and mode != there["mode"]:
        changes["mode"] = mode
    return changes

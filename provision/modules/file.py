"""file: a path's type (file, directory, link, hard, absent, touch) and its owner, group and mode.

The easy thing to get wrong: `state: file` never creates a file (Ansible fails on a missing path;
use touch or copy), and `recurse` applies owner/group/mode to everything below a directory.
"""
from __future__ import annotations

import posixpath
import re
import time
from dataclasses import dataclass, field
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed, ModuleResult
from provision.modules.content import ATTRIBUTE_ARGS
from provision.modules.remote_file import (
    FileState,
    attribute_changes,
    attribute_command,
    attribute_data,
    attribute_steps,
    describe_attributes,
    desired_mode,
    host_path,
    read_command,
    read_state,
    split_after,
    state_from,
    then_read,
)
from provision.modules.stat import stat_data
from provision.shell import join, quote
from provision.transport.base import CommandResult


def _is_symbolic(mode: Any) -> bool:
    return isinstance(mode, str) and not re.fullmatch(r"\s*(0o)?[0-7]{1,4}\s*", mode) and mode.strip() != "preserve"


# Ansible's default modification_time_format and access_time_format (time.strptime's directives)
TIME_FORMAT = "%Y%m%d%H%M.%S"
# a followed link to nothing: Ansible's warning, word for word
DANGLING_WARNING = ("Cannot set fs attributes on a non-existent symlink target. follow should be set to False "
                    "to avoid this.")


@dataclass
class FilePlan:
    commands: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)  # Ansible's diff: what differed, before
    after: dict[str, Any] = field(default_factory=dict)
    created: str = ""  # state=touch makes this file: removed again if setting its attributes fails


class File(Module):
    name = "file"
    warned: tuple[str, ...] = ()  # Ansible's warnings for the result, set by read() and diff()
    _followed_path: str = ""  # set by diff(): the link's target that file/directory acted on
    spec = {
        "path": Arg("path", required=True, aliases=("dest", "name")),
        "state": Arg("str", choices=("file", "directory", "link", "hard", "absent", "touch")),
        "src": Arg("path", help="link target for state=link"),
        "recurse": Arg("bool", default=False),
        "force": Arg("bool", default=False, help="link: replace a file or empty directory at path"),
        "follow": Arg("bool", default=True, help="a link at path: set owner, mode... on its target, as Ansible"),
        "modification_time": Arg("str", help="'preserve', 'now' or a time in modification_time_format"),
        "modification_time_format": Arg("str", default=TIME_FORMAT),
        "access_time": Arg("str", help="'preserve', 'now' or a time in access_time_format"),
        "access_time_format": Arg("str", default=TIME_FORMAT),
        "attributes": Arg("str", aliases=("attr",), help="chattr's letters: 'A', '+i', '-a'"),
        # Ansible's action plugins call the module with these; playbooks may too
        "_diff_peek": Arg("bool", help="only say whether the file looks binary"),
        "_original_basename": Arg("str", help="the name to take inside a directory at path"),
        **ATTRIBUTE_ARGS,
    }

    @property
    def path(self) -> str:
        return self.args["path"]

    def read_command(self) -> str | None:
        return read_command(self.path, content_limit=None)  # never reads content

    def parse(self, result: CommandResult | None) -> FileState:
        return state_from(self.path, result, content_limit=None, must_read=False)

    def run(self) -> ModuleResult:
        result = super().run()
        if self.warned and result.status == "failed":  # a failure keeps what was warned before it
            result.data = {**result.data, "warnings": list(self.warned)}
        return result

    def read(self) -> dict[str, Any]:
        path = self.path
        if path.startswith("~") or "$" in path:
            # Ansible's module expands `~` and $VARS on the host, as the user it runs as: so
            # does the host's shell here, once, and the commands below get the plain path
            found = self.context.run(f"printf '%s\\n' {host_path(path)}")
            if found.ok and found.stdout.strip():
                self.args["path"] = found.stdout.rstrip("\n")
        state = super().read()
        if self.args["_diff_peek"] is not None:
            return {"peek": self._appears_binary()}
        basename = self.args["_original_basename"] or posixpath.basename(self.args.get("src") or "")
        if state.kind == "directory" and self.args["state"] not in ("link", "absent") and basename:
            # Ansible's rule: a directory at path stands for the name inside it
            self.args["path"] = posixpath.join(self.path, basename)
            state = read_state(self.context, self.path, content_limit=None, must_read=False)
        wanted = self.wanted_state(state)
        if self.context.check and wanted != "absent":
            self._look_up_owners()
        subject = self._subject(state, wanted)
        recurse_differs = False
        if self.args["recurse"] and subject is not None and subject.kind == "directory":
            recurse_differs = self._tree_differs(subject.path)
        source = None
        if wanted == "hard" and self.args.get("src"):
            # a hard link is converged when both names are one inode: the source's is read too (a
            # relative one from the login's folder, where Ansible's module runs)
            source = read_state(self.context, self.args["src"], content_limit=None, must_read=False)
        return {"state": state, "subject": subject, "recurse_differs": recurse_differs, "source": source,
                "missing_source": self._missing_source(state, wanted),
                "occupied": wanted == "link" and state.kind == "directory" and self.args["force"] and self._occupied(),
                "times": self._times(wanted), "flags": self._flags(subject),
                "content": self._walk() if wanted == "absent" and state.kind == "directory" else None}

    def _walk(self) -> dict[str, list[str]]:
        """What removing a directory takes with it, as Ansible's diff lists it (os.walk: links to
        folders count as folders, and are not entered)."""
        found = self.context.run(f"find {host_path(self.path)} -mindepth 1 \\( -type d -o -xtype d \\) "
                                 "-printf 'd %p\\n' -o -printf 'f %p\\n'")
        walked: dict[str, list[str]] = {"directories": [], "files": []}
        for line in found.stdout.splitlines():
            kind, _, path = line.partition(" ")
            walked["directories" if kind == "d" else "files"].append(path)
        return walked

    def _look_up_owners(self) -> None:
        """Check mode: an owner or group the host does not know yet is a warning, as Ansible's (an
        earlier task of the play may create it)."""
        steps = [f"getent {database} {quote(str(name))} >/dev/null || echo {database}"
                 for database, name in (("passwd", self.args.get("owner")), ("group", self.args.get("group")))
                 if name not in (None, "")]
        if not steps:
            return
        missing = self.context.run("; ".join(steps) + "; true").stdout.split()
        for database, word in (("passwd", "user"), ("group", "group")):
            if database in missing:
                name = str(self.args["owner" if word == "user" else "group"])
                named = f"with {'uid' if word == 'user' else 'gid'} {name}" if name.isdigit() else name
                self.warned += (f"failed to look up {word} {named}. Create {word} up to this point in real play",)

    def _appears_binary(self) -> bool:
        """Ansible's guess for _diff_peek: a NUL byte in the first 8 KiB (unreadable: text)."""
        head = f"head -c 8192 -- {host_path(self.path)} 2>/dev/null"
        found = self.context.run(f'[ "$({head} | wc -c)" = "$({head} | tr -d \'\\000\' | wc -c)" ] '
                                 "&& echo text || echo binary")
        return found.stdout.strip() == "binary"

    def _subject(self, state: FileState, wanted: str) -> FileState | None:
        """The path that owner, group, mode, attributes and times apply to: the path itself, or a
        link's target where Ansible follows it (follow is on by default); None: nothing there to
        set (a new link to nothing)."""
        if wanted == "absent" or not self.args["follow"]:
            return state
        if wanted == "link":
            source = self.args.get("src") or (state.link_target if state.kind == "link" else "")
            if not self._asks_attributes() and self.args.get("modification_time") in (None, "preserve") \
                    and self.args.get("access_time") in (None, "preserve"):
                return None  # nothing to set on what the link points to: not read
            if not source:
                return None
            base = self.path if state.kind == "directory" else posixpath.dirname(self.path)
            return self._followed(posixpath.join(base, source))
        if state.kind == "link" and wanted in ("file", "directory", "touch"):
            return self._followed(self.path)
        return state

    def _followed(self, path: str) -> FileState | None:
        """The state at a path with every link in it resolved (realpath), None when nothing is there."""
        found = self.context.run(join(["readlink", "-f", "--", path]))
        real = found.stdout.strip() if found.ok else ""
        if not real:
            return None
        return read_state(self.context, real, content_limit=None, must_read=False)

    def _missing_source(self, state: FileState, wanted: str) -> str | None:
        """A link to be made whose source does not exist, as Ansible resolves it (relative to the
        link's folder, or to the path itself when that is a directory): the path, else None. Read
        only when a link would be made without `force`, so a converged link costs nothing more."""
        source = self.args.get("src")
        if (wanted != "link" or self.args["force"] or not source
                or (state.kind == "link" and state.link_target == source)):
            return None
        base = self.path if state.kind == "directory" else posixpath.dirname(self.path)
        absolute = posixpath.join(base, source)
        return None if self.context.run(join(["test", "-e", absolute])).rc == 0 else absolute

    def _occupied(self) -> bool:
        """Ansible replaces only an empty directory with a link (force: true)."""
        return bool(self.context.run(f"ls -A -- {host_path(self.path)}").stdout.strip())

    def _times(self, wanted: str) -> dict[str, Any]:
        """{'mtime': epoch | 'now' | None, 'atime': ...}: what modification_time and access_time
        ask for. A time is read in its format on the controller (time.strptime, as Ansible's module
        does) and made seconds since the epoch on the host, in the host's time zone as Ansible's
        time.mktime there. Unset means 'preserve', or 'now' for touch."""
        stamps: dict[str, str | None] = {}
        for key, name in (("mtime", "modification_time"), ("atime", "access_time")):
            value = self.args.get(name)
            if value is None:
                value = "now" if wanted == "touch" else "preserve"
            if value in ("preserve", "now"):
                stamps[key] = None if value == "preserve" else "now"
                continue
            time_format = self.args[f"{name}_format"]
            try:
                parsed = time.strptime(value, time_format)
            except (ValueError, OverflowError) as error:
                raise ModuleFailed(f"Error while obtaining timestamp for time {value} using format {time_format}: "
                                   f"{error}") from None
            stamps[key] = time.strftime("%Y-%m-%d %H:%M:%S", parsed)
        concrete = {key: text for key, text in stamps.items() if text not in (None, "now")}
        if concrete and wanted != "absent":
            found = self.context.run("; ".join(join(["date", "-d", text, "+%s"]) for text in concrete.values()))
            values = found.stdout.split()
            if not found.ok or len(values) != len(concrete):
                raise ModuleFailed(f"the host's date could not read {', '.join(concrete.values())}: "
                                   f"{found.stderr.strip()}")
            stamps.update(zip(concrete, (int(value) for value in values)))
        return stamps

    def _flags(self, subject: FileState | None) -> str | None:
        """lsattr's letters of the path (without dashes), when attributes are asked for."""
        if not self.args.get("attributes") or subject is None or not subject.exists:
            return None
        found = self.context.run(f"lsattr -d -- {quote(subject.path)} 2>/dev/null")
        return found.stdout.split()[0].replace("-", "") if found.ok and found.stdout.split() else ""

    def _tree_differs(self, path: str) -> bool:
        """Does anything below the directory have another owner/group/mode? One round trip.
        Following links (Ansible's default), what links inside point to counts too.

        Modes are compared here, not with `find -perm`, because a symbolic mode (u=rwX) wants
        different bits for files and directories and depends on each entry's current mode.
        """
        tests = []
        if self.args.get("owner"):
            tests.append(join(["!", "-user", self.args["owner"]]))
        if self.args.get("group"):
            tests.append(join(["!", "-group", self.args["group"]]))
        find = f"find {'-L ' if self.args['follow'] else ''}{quote(path)}"
        command = ""
        if tests:
            command += f'[ -n "$({find} ! -type l \\( ' + " -o ".join(tests) + ' \\) -print -quit 2>/dev/null)" ] ' \
                       "&& echo owner\n"
        if self.args.get("mode") is not None:
            # links are skipped: chmod -R leaves them alone
            command += f"{find} ! -type l -printf '%y %m\\n' 2>/dev/null | sort -u\n"
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
        if state.kind in ("absent", "other"):
            return "directory" if self.args["recurse"] and state.kind == "absent" else "file"
        return state.kind

    def diff(self, current: dict[str, Any]) -> FilePlan | None:
        if "peek" in current:
            return None
        state: FileState = current["state"]
        wanted = self.wanted_state(state)
        # Ansible's rules once the state is known (unset: the path's own, else file or directory)
        if self.args.get("src") and wanted not in ("link", "hard"):
            raise ModuleFailed("src option requires state to be 'link' or 'hard'", {"path": self.path})
        if self.args["recurse"] and wanted != "directory":
            raise ModuleFailed("recurse option requires state to be 'directory'", {"path": self.path})
        plan = FilePlan(before={"path": self.path}, after={"path": self.path})
        path = self.path
        if state.kind != wanted and not (wanted == "touch" and state.exists):
            plan.before["state"], plan.after["state"] = ("file" if state.kind == "other" else state.kind), wanted
        if wanted == "absent":
            if current.get("content") is not None:
                plan.before["path_content"] = current["content"]
            if state.exists:
                plan.commands.append(join(["rm", "-rf", "--", path]))
                plan.summary.append(f"remove {state.kind} {path}")
            return plan if plan.commands else None
        subject: FileState | None = current["subject"]
        if wanted == "link":
            self._plan_link(state, current, plan)
            if not self.args["follow"] and plan.commands:
                subject = FileState(path, "link")  # a new link: its owner is set as asked
            if subject is None or not subject.exists:
                if self._asks_attributes() and self.args["follow"]:
                    self.warned += (DANGLING_WARNING,)
                return plan if plan.commands else None
        elif wanted == "hard":
            self._plan_hard_link(state, current.get("source"), plan)
            if plan.commands:  # a new name: set what is asked
                subject = FileState(path, "absent")
        elif wanted == "file":
            subject = subject or FileState(state.link_source or path, "absent")  # a link to nowhere
            if subject.kind not in ("file", "other"):
                raise ModuleFailed(f"file ({subject.path}) is {subject.kind}, cannot continue",
                                   {"path": subject.path, "state": subject.kind})
        elif wanted == "directory":
            subject = subject or FileState(state.link_source or path, "absent")
            if subject.exists and subject.kind != "directory":
                raise ModuleFailed(f"{subject.path} already exists as a {subject.kind}", {"path": subject.path})
        elif wanted == "touch":
            if not state.exists:
                plan.commands.append(join(["touch", "--", path]))
                plan.summary.append(f"touch {path}")
                plan.created = path
                subject = FileState(path, "absent")
            elif subject is None:  # a followed link to nothing
                subject = state
        assert subject is not None
        if wanted in ("file", "directory") and subject.path != path:
            self._followed_path = subject.path  # Ansible reports the link's target as path
        self._plan_attributes(subject, wanted, current, plan)
        return plan if plan.commands else None

    def _asks_attributes(self) -> bool:
        return any(self.args.get(key) not in (None, "") for key in ("owner", "group", "mode", "attributes"))

    def _plan_link(self, state: FileState, current: dict[str, Any], plan: FilePlan) -> None:
        """`ln -s` unless the link is there already; Ansible's refusals and messages."""
        path, source = self.path, self.args.get("src")
        if current.get("missing_source"):
            raise ModuleFailed(f"src file does not exist, use 'force=yes' if you really want to create the link: "
                               f"{current['missing_source']}", {"path": path, "src": source})
        if state.kind == "directory":
            if not self.args["force"]:
                raise ModuleFailed(f"refusing to convert from directory to symlink for {path}", {"path": path})
            if current.get("occupied"):
                raise ModuleFailed(f"the directory {path} is not empty, refusing to convert it", {"path": path})
        elif state.kind in ("file", "other") and not self.args["force"]:
            raise ModuleFailed(f"refusing to convert from file to symlink for {path}", {"path": path})
        if not source:
            if state.kind != "link":
                raise ModuleFailed("src is required for creating new symlinks")
            return  # the link stays as it is; only what it points to may get attributes
        if state.kind == "link" and state.link_target == source:
            return
        if state.kind == "link":
            plan.before["src"], plan.after["src"] = state.link_target, source
        replace = join(["rmdir", "--", path]) + " && " if state.kind == "directory" else ""
        plan.commands.append(replace + join(["ln", "-sfn", "--", source, path]))
        plan.summary.append(f"link {path} -> {source}")

    def _plan_attributes(self, subject: FileState, wanted: str, current: dict[str, Any], plan: FilePlan) -> None:
        """owner, group, mode, attributes and times of the subject (the path, or what it links to)."""
        target = subject.path
        owner, group = self.args.get("owner"), self.args.get("group")
        link_itself = subject.kind == "link"  # follow: false on a link: only its owner can change
        mode = None if link_itself else self.args.get("mode")  # Linux has no lchmod: Ansible changes nothing
        new_folders = wanted == "directory" and not subject.exists
        if subject.exists and not current["recurse_differs"]:
            changes = attribute_changes(subject, owner, group, mode)
        else:  # new path, or something below the directory differs: set everything asked for
            wanted_mode = desired_mode(mode, subject.mode, wanted == "directory")
            changes = {key: value for key, value in (("owner", owner), ("group", group), ("mode", wanted_mode))
                       if value}
        if "mode" in changes and self.args["recurse"] and _is_symbolic(self.args["mode"]):
            # chmod -R with the symbolic text: X means x for directories only, per entry
            changes["mode"] = str(self.args["mode"]).strip()
        if new_folders:
            plan.summary.append(f"create directory {target}")
            plan.commands.append(make_folders(target, changes))
        elif changes:
            if link_itself:
                who = changes.get("owner", "") + (":" + changes["group"] if "group" in changes else "")
                plan.commands.append(join(["chown", "-h", who, "--", target]))
            elif self.args["recurse"] and self.args["follow"]:
                # Ansible's walk follows links inside the tree to what they point to; a link to
                # nothing is left alone (find -L lists it as a link)
                steps = attribute_steps(changes, quote(target))
                steps += [f"find -L {quote(target)} -mindepth 1 ! -type l -exec {step} +"
                          for step in attribute_steps(changes, "{}")]
                plan.commands.append(" && ".join(steps))
            else:
                plan.commands.append(attribute_command(target, changes, recurse=self.args["recurse"]))
        if changes:
            plan.summary.append(describe_attributes(subject, changes).rstrip())
        if changes and subject.exists:
            for key, value in changes.items():
                plan.before[key] = {"owner": subject.uid, "group": subject.gid, "mode": subject.mode}[key]
                plan.after[key] = value
        self._plan_flags(target, current.get("flags"), plan)
        self._plan_times(subject, current["times"], plan, link_itself, created=wanted == "touch" and not subject.exists)

    def _plan_flags(self, target: str, existing: str | None, plan: FilePlan) -> None:
        """chattr as Ansible's rule has it: '-X' always runs, '+X' and 'X' when lsattr's letters differ."""
        wanted = self.args.get("attributes") or ""
        operator = wanted[0] if wanted[:1] in ("+", "-") else "="
        letters = wanted[1:] if operator != "=" else wanted
        if not letters or (existing == letters and operator != "-"):
            return
        plan.before["attributes"], plan.after["attributes"] = existing or "", operator + letters
        plan.commands.append(join(["chattr", operator + letters, "--", target]))
        plan.summary.append(f"attributes: {existing or '(none)'} -> {operator}{letters}")

    def _plan_times(self, subject: FileState, times: dict[str, Any], plan: FilePlan, link_itself: bool,
                    created: bool) -> None:
        """touch -m / -a for modification_time and access_time; 'now' always changes, as Ansible's.
        `created`: state=touch makes the file this run (its times are now already)."""
        mtime, atime = times.get("mtime"), times.get("atime")
        if mtime is None and atime is None:
            return
        touch = ["touch", "-c"] + (["-h"] if link_itself else [])
        if mtime == "now" and atime == "now":
            if not created:
                plan.commands.append(join(["touch"] + (["-h"] if link_itself else []) + ["--", subject.path]))
                plan.summary.append(f"touch {subject.path}")
            return
        for key, flag, value, previous in (("mtime", "-m", mtime, subject.mtime),
                                           ("atime", "-a", atime, subject.atime)):
            settled = value == "now" and created or value != "now" and subject.exists and value == previous
            if value is None or settled:
                continue
            plan.before[key], plan.after[key] = previous, value if value != "now" else int(time.time())
            plan.commands.append(join(touch + [flag] + (["-d", f"@{value}"] if value != "now" else [])
                                      + ["--", subject.path]))
            plan.summary.append(f"{key} of {subject.path}: {_seconds_text(previous)} -> {_seconds_text(value)}")

    def _plan_hard_link(self, state: FileState, source: FileState | None, plan: FilePlan) -> None:
        """`ln SRC PATH` unless PATH is already SRC's inode; Ansible's refusals and messages."""
        src = self.args.get("src")
        if not src:
            raise ModuleFailed("src is required for creating new hardlinks")
        if source is None or not source.exists:
            raise ModuleFailed("src does not exist", {"dest": self.path, "src": src})
        if state.exists and (state.inode, state.dev) == (source.inode, source.dev):
            return
        if state.kind == "directory":
            raise ModuleFailed(f"{self.path} is a directory; it cannot be made a hard link")
        if state.exists and not self.args["force"]:
            raise ModuleFailed(f"Cannot link, {state.kind} exists at destination", {"dest": self.path, "src": src})
        plan.commands.append(join(["ln", "-f", "--", src, self.path]))
        plan.summary.append(f"hard link {self.path} -> {src}")

    def describe(self, current: dict[str, Any], plan: FilePlan) -> str:
        return "\n".join(line for line in plan.summary if line) + "\n"

    def apply(self, plan: FilePlan) -> dict[str, Any]:
        shown = self._shown_path(plan)
        command = " && ".join(plan.commands)
        if plan.created and len(plan.commands) > 1:
            # as Ansible's touch: a file it made is taken away again when its owner or mode cannot be set
            first, rest = plan.commands[0], " && ".join(plan.commands[1:])
            command = f"{first} && {{ {rest}; }} || {{ rc=$?; rm -f -- {quote(plan.created)}; exit $rc; }}"
        result = self.context.run(then_read(command, shown))
        if not result.ok:
            error = result.stderr.strip()
            if error.startswith("chattr:"):
                raise ModuleFailed("chattr failed", {"path": shown, "details": error, "rc": result.rc})
            raise ModuleFailed(f"{self.path}: {error or 'failed'}", {"rc": result.rc})
        _, after = split_after(shown, result.stdout)
        data = self.data(after) if after is not None else {"path": shown}
        return {**data, **self._ansible_diff(plan)}

    def _shown_path(self, plan: FilePlan | None) -> str:
        return self._followed_path or self.path

    def _ansible_diff(self, plan: FilePlan | None) -> dict[str, Any]:
        """Ansible's `diff` of the file module (before/after: path, and what differed); the runner
        keeps it in diff mode only."""
        found = plan or FilePlan(before={"path": self.path}, after={"path": self.path})
        data: dict[str, Any] = {"diff": {"before": found.before, "after": found.after}}
        if self.warned:
            data["warnings"] = list(self.warned)
        return data

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        if "peek" in current:
            return {"path": self.path, "appears_binary": current["peek"]}
        state = current["state"]
        if self._followed_path and current.get("subject") is not None:
            state = current["subject"]
        return {**self.data(state), **self._ansible_diff(plan)}

    def data(self, state: FileState) -> dict[str, Any]:
        """Ansible's keys (path, or dest and src for a link or touch; state, mode, owner, group,
        uid, gid, size) and stat's (isdir, exists...), from the path's state."""
        data: dict[str, Any] = {"path": self._followed_path or self.path, **stat_data(state, False),
                                **attribute_data(state)}
        if self.args["state"] in ("link", "hard", "touch"):
            data["dest"] = self.path
        if state.kind == "link":
            data["src"] = state.link_target
        elif self.args["state"] == "hard":
            data["src"] = self.args["src"]
        return data


def _seconds_text(value: Any) -> str:
    """1644329640 for a whole second, else the float as it is; 'now' and a missing time as words."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "(none)" if value is None else str(value)


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

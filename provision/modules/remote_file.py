"""Reading and writing files on a host: one round trip to read, one atomic replace to write.

Shared by file, copy, template, lineinfile, blockinfile, json_merge, stat and get_url. The easy
thing to get wrong is the mode of a rewritten file: mktemp creates 0600, so the new file takes the
old file's mode and owner (or the umask's default for a new file) unless the task names them.
"""
from __future__ import annotations

import difflib
import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from provision.modules.base import ModuleContext, ModuleFailed
from provision.shell import join, quote
from provision.transport.base import CommandResult

CONTENT_LIMIT = 1024 * 1024  # larger files are compared by checksum only; no text diff
TEMP_PREFIX = ".provision-"  # mktemp names in the destination's folder: `.provision-XXXXXX`
STALE_TEMP_MINUTES = 60  # older temp files were left by a killed shell; no write takes that long


@dataclass
class FileState:
    path: str
    kind: str  # absent, file, directory, link, other
    mode: str = ""  # "0644"
    uid: int | None = None
    gid: int | None = None
    owner: str = ""
    group: str = ""
    size: int = 0
    mtime: float = 0  # seconds since the epoch, to the nanosecond as Python's os.stat (Ansible's stat)
    link_target: str = ""
    checksum: str = ""  # sha1 of a regular file
    content: str | None = None  # None: not fetched (too large, not a file)
    atime: float | None = None
    ctime: float | None = None
    inode: int | None = None
    dev: int | None = None
    nlink: int | None = None
    type_bits: int | None = None  # st_mode & S_IFMT: tells a fifo, socket or device apart ("other")
    access: str = ""  # "rwx" for the reading user, "-" where denied; "" when not read
    link_source: str = ""  # a link's target resolved to an absolute path (readlink -f)

    @property
    def exists(self) -> bool:
        return self.kind != "absent"


# `%f` is the raw st_mode in hex; the access letters are the reading user's, tested by the shell
STAT_FORMAT = "%a %u %g %U %G %s %.9Y %.9X %.9Z %i %d %h %f"


_VARIABLE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


def host_path(path: str) -> str:
    """A path as shell text for the host: `~` and `~/...` are the login's home there, and `$NAME`
    or `${NAME}` its environment's, as Ansible's modules expand a path (expanduser, expandvars) on
    the host; anything else is quoted as it is."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + host_path(path[2:]) if path[2:] else '"$HOME"'
    if "$" not in path:
        return quote(path)
    parts, at = [], 0
    for match in _VARIABLE.finditer(path):
        if match.start() > at:
            parts.append(quote(path[at:match.start()]))
        parts.append(f'"${{{match.group(1) or match.group(2)}}}"')
        at = match.end()
    if at < len(path):
        parts.append(quote(path[at:]))
    return "".join(parts) or "''"


def read_command(path: str, content_limit: int | None = CONTENT_LIMIT) -> str:
    """Shell text printing kind, stat fields, link target, sha1 and (small files) content; for a
    link, its target resolved in place of the content."""
    show_content = ""
    if content_limit:
        show_content = f'[ "$k" = file ] && [ "$(stat -c %s -- "$p")" -le {int(content_limit)} ] && cat -- "$p"\n'
    return (
        f"p={host_path(path)}\n"
        'if [ -L "$p" ]; then k=link; elif [ -d "$p" ]; then k=directory; elif [ -f "$p" ]; then k=file;'
        ' elif [ -e "$p" ]; then k=other; else\n'
        # `[ -e ]` is also false when a folder above may not be searched: that is not "absent"
        '  case "$(LC_ALL=C stat -c %n -- "$p" 2>&1)" in *"Permission denied"*) echo denied;; *) echo absent;; esac\n'
        '  exit 0\nfi\n'
        'echo "$k"\n'
        f"s=$(stat -c '{STAT_FORMAT}' -- \"$p\") || exit 1\n"
        'a=-; [ -r "$p" ] && a=r; b=-; [ -w "$p" ] && b=w; c=-; [ -x "$p" ] && c=x; echo "$s $a$b$c"\n'
        'if [ "$k" = link ]; then readlink -- "$p"; else echo; fi\n'
        'if [ "$k" = file ]; then if [ -r "$p" ]; then sha1sum < "$p" | cut -d" " -f1; else echo unreadable; fi;'
        " else echo -; fi\n"
        '[ "$k" = link ] && readlink -f -- "$p"\n' + show_content + "exit 0\n"
    )


def _number(fields: list[str], index: int, base: int = 10) -> int | None:
    return int(fields[index], base) if len(fields) > index else None


def _seconds(fields: list[str], index: int) -> float | None:
    """A time stat printed as %.9Y: the float Python's os.stat gives (what Ansible's stat returns)."""
    return float(fields[index]) if len(fields) > index else None


def parse_state(path: str, output: str, content_wanted: bool = True, must_read: bool = True) -> FileState:
    """FileState from read_command's output (pure). `must_read`: an unreadable file is an error
    (modules that need its content or checksum), else it comes back without a checksum (stat)."""
    if output.strip() == "absent":
        return FileState(path, "absent")
    if output.strip() == "denied":
        raise ModuleFailed(f"{path}: permission denied on a folder above it (become?)")
    kind, stat_line, link_target, checksum, *rest = output.split("\n", 4) + [""] * 4
    fields = stat_line.split()
    if kind not in ("file", "directory", "link", "other") or len(fields) < 7:
        # a shell cut short, or a stat without -c: a failure with what came, never a traceback
        raise ModuleFailed(f"cannot read {path}: unexpected output {output[:120]!r}")
    mode, uid, gid, owner, group, size, mtime = fields[:7]
    state = FileState(
        path, kind, mode.rjust(4, "0"), int(uid), int(gid), owner, group, int(size), float(mtime),
        link_target, "" if checksum in ("-", "unreadable") else checksum,
        atime=_seconds(fields, 7), ctime=_seconds(fields, 8), inode=_number(fields, 9), dev=_number(fields, 10),
        nlink=_number(fields, 11), type_bits=_number(fields, 12, 16) & 0o170000 if len(fields) > 12 else None,
        access=fields[13] if len(fields) > 13 else "",
    )
    if checksum == "unreadable" and must_read:
        raise ModuleFailed(f"{path}: cannot read the file (permission denied; become?)")
    if kind == "link":
        state.link_source = (rest[0] if rest else "").rstrip("\n")
    if kind == "file" and content_wanted and state.size <= CONTENT_LIMIT:
        state.content = rest[0] if rest else ""
    return state


def state_from(path: str, result: CommandResult, content_limit: int | None = CONTENT_LIMIT,
               must_read: bool = True) -> FileState:
    """FileState from the result of `read_command(path, content_limit)` (pure)."""
    if not result.ok:
        raise ModuleFailed(f"cannot read {path}: {result.stderr.strip()}")
    return parse_state(path, result.stdout, bool(content_limit), must_read)


def read_state(
    context: ModuleContext, path: str, content_limit: int | None = CONTENT_LIMIT, must_read: bool = True
) -> FileState:
    """One round trip: for a second read inside a module's read(); the first is its read_command."""
    return state_from(path, context.run(read_command(path, content_limit)), content_limit, must_read)


# --- the state after a change, in the same round trip -----------------------------------------

AFTER_MARK = "@@provision-state-after@@"


def then_read(command: str, path: str) -> str:
    """`command`, then (if it succeeded) the path's state without content: what a module registers
    after a change ("after execution", as Ansible says) costs no second round trip."""
    return f"{{ {command.rstrip()}\n}} || exit $?\necho {AFTER_MARK}\n" + read_command(path, content_limit=None)


def split_after(path: str, output: str) -> tuple[str, FileState | None]:
    """(the command's own output, the state after) from a `then_read` result (pure)."""
    own, found, after = output.partition(AFTER_MARK + "\n")
    if not found:
        return output, None
    return own, parse_state(path, after, content_wanted=False, must_read=False)


def attribute_data(state: FileState) -> dict[str, Any]:
    """Ansible's file keys a module returns: state, mode, owner, group, uid, gid, size."""
    if not state.exists:
        return {"state": "absent"}
    kind = {"other": "file"}.get(state.kind, state.kind)  # Ansible calls anything else "file" too
    # '0%03o' as Ansible's add_path_info: "0644", and "01444" with the sticky bit (stat says "1444")
    mode = "0" + format(int(state.mode, 8), "03o") if state.mode else state.mode
    return {"state": kind, "mode": mode, "owner": state.owner, "group": state.group,
            "uid": state.uid, "gid": state.gid, "size": state.size}


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# --- modes and owners -----------------------------------------------------------------------

_SYMBOLIC = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)")
_WHO_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}


def _apply_symbolic(spec: str, current: int, is_directory: bool) -> int:
    mode = current
    for clause in spec.split(","):
        match = _SYMBOLIC.fullmatch(clause.strip())
        if not match:
            raise ModuleFailed(f"invalid mode {spec!r}")
        who, operator, perms = match.groups()
        who = who.replace("a", "ugo") or "ugo"
        bits = 0
        for person in set(who):
            shift = {"u": 6, "g": 3, "o": 0}[person]
            for perm in perms:
                if perm == "r":
                    bits |= 4 << shift
                elif perm == "w":
                    bits |= 2 << shift
                elif perm == "x" or (perm == "X" and (is_directory or current & 0o111)):
                    bits |= 1 << shift
                elif perm == "s" and person in "ug":
                    bits |= 0o4000 if person == "u" else 0o2000
                elif perm == "t" and person == "o":
                    bits |= 0o1000
        if operator == "+":
            mode |= bits
        elif operator == "-":
            mode &= ~bits
        else:
            mask = 0
            for person in set(who):
                mask |= _WHO_BITS[person]
            mode = (mode & ~mask) | bits
    return mode


def desired_mode(mode: Any, current: str = "", is_directory: bool = False) -> str | None:
    """'0644' from an octal string ('644', '0644', '0o644'), an int (YAML 0644 -> 420) or u+x."""
    if mode is None or mode == "":
        return None
    if isinstance(mode, int) and not isinstance(mode, bool):
        return format(mode, "04o")
    text = str(mode).strip()
    if re.fullmatch(r"(0o)?[0-7]{1,4}", text):
        return format(int(text.removeprefix("0o"), 8), "04o")
    if text == "preserve":
        return None
    base = int(current, 8) if current else (0o777 if is_directory else 0o666) & ~0o022
    return format(_apply_symbolic(text, base, is_directory), "04o")


def _same_id(wanted: str | None, name: str, number: int | None) -> bool:
    return wanted is None or wanted == name or (number is not None and wanted == str(number))


def attribute_changes(state: FileState, owner: str | None, group: str | None, mode: Any) -> dict[str, str]:
    """Which of owner/group/mode differ from the state: {'mode': '0644', ...}."""
    changes: dict[str, str] = {}
    if owner is not None and not _same_id(owner, state.owner, state.uid):
        changes["owner"] = owner
    if group is not None and not _same_id(group, state.group, state.gid):
        changes["group"] = group
    wanted = desired_mode(mode, state.mode, state.kind == "directory")
    if wanted is not None and wanted != state.mode:
        changes["mode"] = wanted
    return changes


def attribute_command(path: str, changes: dict[str, str], recurse: bool = False) -> str:
    return " && ".join(attribute_steps(changes, quote(path), recurse)) or "true"


def attribute_steps(changes: dict[str, str], target: str, recurse: bool = False) -> list[str]:
    """The chown and chmod commands for `changes`; `target` is shell text naming the path (quoted,
    or a variable such as "$d" for a loop over several)."""
    flags = "-R " if recurse else ""
    steps = []
    if "owner" in changes or "group" in changes:
        who = changes.get("owner", "") + (":" + changes["group"] if "group" in changes else "")
        steps.append(f"chown {flags}{quote(who)} -- {target}")
    if "mode" in changes:
        steps.append(f"chmod {flags}{quote(changes['mode'])} -- {target}")
    return steps


def describe_attributes(state: FileState, changes: dict[str, str]) -> str:
    before = {"owner": state.owner, "group": state.group, "mode": state.mode}
    return "".join(f"{key}: {before[key] or '(none)'} -> {value}\n" for key, value in changes.items())


# --- writing --------------------------------------------------------------------------------

def write_command(
    dest: str,
    *,
    owner: str | None = None,
    group: str | None = None,
    mode: str | None = None,
    backup: bool = False,
    validate: str | None = None,
    size: int | None = None,
    checksum: str | None = None,
    parents: bool = False,
) -> str:
    """Shell text replacing `dest` atomically with stdin: temp file in the same folder, then mv.
    `parents`: missing folders above it are made first (lineinfile/blockinfile `create`).

    Prints `backup=PATH` when a backup was made. Nothing is left half-written: the temp file is
    removed on any failure, and `mv` within one filesystem is atomic. The easy thing to get wrong
    is a dropped connection: the remote shell is not signalled, `cat` just sees end of input and
    succeeds, so without the `size`/`checksum` check a truncated file would replace the old one.
    Temp files a killed shell could not remove (older than an hour) are cleaned by the next write
    into the same folder.
    """
    folder = posixpath.dirname(dest) or "."
    lines = [
        f"dest={host_path(dest)}",
        *([f"mkdir -p -- {host_path(folder)} || exit 1"] if parents else []),
        f"find {host_path(folder)} -maxdepth 1 -type f -name '{TEMP_PREFIX}??????' -mmin +{STALE_TEMP_MINUTES}"
        " -exec rm -f -- {} + 2>/dev/null",
        f'tmp=$(mktemp {host_path(folder)}/{TEMP_PREFIX}XXXXXX) || exit 1',
        "trap 'rm -f \"$tmp\"' EXIT",
        # a dropped connection or Ctrl-C must run the EXIT trap too (sh skips it on a signal)
        "trap 'exit 1' HUP INT TERM PIPE",
        'cat > "$tmp" || exit 1',
    ]
    if size is not None:
        lines.append(
            f'got=$(wc -c < "$tmp"); [ "$got" -eq {int(size)} ] || {{ echo "only $got of {int(size)} bytes'
            ' arrived (connection cut?): the file was not changed" >&2; exit 1; }')
    if checksum is not None:
        lines.append(
            f'[ "$(sha1sum < "$tmp" | cut -d" " -f1)" = {quote(checksum)} ] || {{ echo "the content arrived'
            ' corrupted (sha1 differs): the file was not changed" >&2; exit 1; }')
    lines += [
        # keep what the old file had unless the task says otherwise; new files get the umask default
        'if [ -e "$dest" ]; then chmod --reference="$dest" "$tmp" && { chown --reference="$dest" "$tmp" 2>/dev/null || true; };'
        ' else chmod "$(printf %o $(( 0666 & ~$(umask) )))" "$tmp"; fi || exit 1',
        # and its ACL entries, where the host has the tools (Ansible's atomic move keeps them too)
        'if [ -e "$dest" ] && command -v getfacl >/dev/null 2>&1; then'
        ' getfacl -p -- "$dest" 2>/dev/null | setfacl --set-file=- -- "$tmp" 2>/dev/null || true; fi',
    ]
    if mode is not None:
        lines.append(join(["chmod", mode, "--"]) + ' "$tmp" || exit 1')
    if owner is not None or group is not None:
        who = (owner or "") + (f":{group}" if group is not None else "")
        lines.append(join(["chown", who, "--"]) + ' "$tmp" || exit 1')
    if validate:
        if "%s" not in validate:
            raise ModuleFailed(f"validate must contain %s: {validate} (%s is where the new file's path goes)")
        lines.append(
            "(" + validate.replace("%s", '"$tmp"') + ') >&2 || { echo "validation failed: the file was not changed" >&2; exit 1; }'
        )
    if backup:
        lines.append(
            'if [ -f "$dest" ]; then b="$dest.$(date +%Y-%m-%d@%H:%M:%S)~"; cp -p -- "$dest" "$b" || exit 1; echo "backup=$b"; fi'
        )
    lines.append('echo "src=$tmp"')  # where the content arrived on the host (Ansible's copy reports it)
    lines.append('mv -f -- "$tmp" "$dest" || exit 1')
    lines.append("trap - EXIT")  # the temp file is dest now
    return "\n".join(lines) + "\n"


def write_file(context: ModuleContext, dest: str, content: bytes, **options: Any) -> dict[str, Any]:
    """Write `content` to `dest` atomically, checked on arrival; returns register data: dest,
    checksum, size and (read in the same round trip) the file's state, mode, owner and group after."""
    checksum = sha1(content)
    command = then_read(write_command(dest, size=len(content), checksum=checksum, **options), dest)
    result = context.run(command, stdin=content)
    if not result.ok:
        raise ModuleFailed(f"could not write {dest}: {result.stderr.strip()}", {"rc": result.rc})
    own, after = split_after(dest, result.stdout)
    data: dict[str, Any] = {"dest": dest, "checksum": checksum, "size": len(content)}
    if after is not None:
        data.update(attribute_data(after))
    for line in own.splitlines():
        if line.startswith("backup="):
            data["backup_file"] = line.removeprefix("backup=")
        elif line.startswith("src="):
            data["src"] = line.removeprefix("src=")
    return data


def unified_diff(before: str | None, after: str | None, path: str) -> str:
    """Unified diff text for --diff; an absent file diffs from/to nothing."""
    before_lines = (before or "").splitlines(keepends=True)
    after_lines = (after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        before_lines, after_lines, f"before: {path}" if before is not None else "/dev/null",
        f"after: {path}" if after is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)

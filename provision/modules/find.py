"""find: files under folders of the host that match names, types, ages and sizes, as Ansible's find.

One read: GNU find lists every entry below `paths` (to `depth`, or one level without `recurse`)
with its type, mode, size, times and owners; the matching is done here, the way Ansible's module
does it: `patterns` are shell globs on the base name (regular expressions with `use_regex`),
`excludes` the same, hidden entries only with `hidden`, `age` ("2d", "-1h") against the mtime,
`size` ("10m", "-1k") in bytes. The result has Ansible's `files` (each with path, mode, isdir, isreg,
islnk, size, mtime, uid, gid, pw_name, gr_name), `matched` and `examined`.
"""
from __future__ import annotations

import fnmatch
import re
import time
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join
from provision.transport.base import CommandResult

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZES = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}
TYPES = {"f": "file", "d": "directory", "l": "link"}


def amount(text: str, units: dict[str, int], what: str) -> int:
    match = re.fullmatch(r"(-?\d+)([a-zA-Z]?)", text.strip())
    if not match or (match.group(2) and match.group(2).lower() not in units):
        raise ModuleFailed(f"find: {what} {text!r} is not a number with one of the units {', '.join(units)}")
    return int(match.group(1)) * units.get(match.group(2).lower() or next(iter(units)), 1)


class Find(Module):
    name = "find"
    read_only = True
    spec = {
        "paths": Arg("list", elements="str", required=True, aliases=("name", "path")),
        "patterns": Arg("list", elements="str", default=[], aliases=("pattern",)),
        "excludes": Arg("list", elements="str", default=[], aliases=("exclude",)),
        "use_regex": Arg("bool", default=False),
        "file_type": Arg("str", default="file", choices=("file", "directory", "link", "any")),
        "recurse": Arg("bool", default=False),
        "depth": Arg("int"),
        "hidden": Arg("bool", default=False),
        "age": Arg("str"),
        "age_stamp": Arg("str", default="mtime", choices=("atime", "ctime", "mtime")),
        "size": Arg("str"),
        "follow": Arg("bool", default=False),
        "contains": Arg("str"),
    }

    def read_command(self) -> str:
        depth = self.args["depth"] if self.args["recurse"] else 1
        words = ["find", *(["-L"] if self.args["follow"] else []), *self.args["paths"], "-mindepth", "1"]
        if depth:
            words += ["-maxdepth", str(depth)]
        printed = join(words) + " -printf '%y\\t%m\\t%s\\t%T@\\t%A@\\t%C@\\t%U\\t%G\\t%u\\t%g\\t%p\\n' 2>/dev/null"
        if self.args["contains"] is not None:  # the files whose content matches, listed after
            printed += f"; echo @@contains; {join(['grep', '-rlE', '--', self.args['contains'], *self.args['paths']])} 2>/dev/null"
        return printed + "; true\n"

    def parse(self, result: CommandResult | None) -> list[dict[str, Any]]:
        listing, _, containing = (result.stdout if result is not None else "").partition("@@contains\n")
        with_content = set(containing.splitlines()) if self.args["contains"] is not None else None
        now = time.time()
        age = amount(self.args["age"], UNITS, "age") if self.args["age"] else None
        size = amount(self.args["size"], SIZES, "size") if self.args["size"] else None
        found = []
        for line in listing.splitlines():
            fields = line.split("\t", 10)
            if len(fields) != 11:
                continue
            kind, mode, length, mtime, atime, ctime, uid, gid, owner, group, path = fields
            base = path.rsplit("/", 1)[-1]
            wanted_type = self.args["file_type"]
            if wanted_type != "any" and TYPES.get(kind) != wanted_type:
                continue
            if base.startswith(".") and not self.args["hidden"]:
                continue
            if self.args["patterns"] and not any(self._match(pattern, base) for pattern in self.args["patterns"]):
                continue
            if any(self._match(pattern, base) for pattern in self.args["excludes"]):
                continue
            stamp = float({"mtime": mtime, "atime": atime, "ctime": ctime}[self.args["age_stamp"]])
            if age is not None and not ((now - stamp >= age) if age >= 0 else (now - stamp <= -age)):
                continue
            if size is not None and not ((int(length) >= size) if size >= 0 else (int(length) <= -size)):
                continue
            if with_content is not None and path not in with_content:
                continue
            found.append({"path": path, "mode": format(int(mode, 8), "04o"), "isdir": kind == "d",
                          "isreg": kind == "f", "islnk": kind == "l", "size": int(length),
                          "mtime": float(mtime), "atime": float(atime), "ctime": float(ctime),
                          "uid": int(uid), "gid": int(gid), "pw_name": owner, "gr_name": group})
        self.examined = len(listing.splitlines())
        return found

    examined = 0

    def _match(self, pattern: str, name: str) -> bool:
        if self.args["use_regex"]:
            try:
                return re.match(pattern, name) is not None
            except re.error as error:
                raise ModuleFailed(f"find: pattern {pattern!r}: {error}") from None
        return fnmatch.fnmatch(name, pattern)

    def result_data(self, current: list[dict[str, Any]], plan: Any) -> dict[str, Any]:
        return {"files": current, "matched": len(current), "examined": self.examined, "skipped_paths": {}}

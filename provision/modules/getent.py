"""getent: a database of the host's name service (passwd, group, hosts, services...) as facts.

Ansible's `getent` sets `getent_<database>`: each key mapped to the rest of its entry's fields.
Read-only, one round trip, batched with the other reads. The easy thing to get wrong: a key that
is not there fails the task (Ansible's `fail_key: true`) unless told otherwise.
"""
from __future__ import annotations

import re
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join
from provision.transport.base import CommandResult

DATABASE = re.compile(r"^[a-z_]+$")
COLON_DATABASES = ("passwd", "group", "shadow", "gshadow")


class Getent(Module):
    name = "getent"
    read_only = True
    sets_facts = True  # ansible_facts.<name> and the top-level variable, as Ansible's facts
    spec = {
        "database": Arg("str", required=True),
        "key": Arg("str", default=""),
        "split": Arg("str", help="field separator (default: ':' for passwd, group, shadow; else whitespace)"),
        "fail_key": Arg("bool", default=True),
        "service": Arg("str", help="the NSS service to ask (getent -s)"),
    }

    @classmethod
    def defined_names(cls, args: dict[str, Any]) -> set[str]:
        database = args.get("database")
        return {f"getent_{database}"} if isinstance(database, str) and DATABASE.match(database) else set()

    def read_command(self) -> str:
        database = self.args["database"]
        if not DATABASE.match(database):
            raise ModuleFailed(f"getent: {database!r} is not a database name")
        words = ["getent", *(["-s", self.args["service"]] if self.args["service"] else []), database]
        if self.args["key"]:
            words.append(self.args["key"])
        return join(words) + '; echo "@@rc=$?"'

    def parse(self, result: CommandResult | None) -> dict[str, list[str]]:
        output = result.stdout if result is not None else ""
        body, _, rc = output.rpartition("@@rc=")
        rc = rc.strip()
        if rc == "2" and self.args["key"]:
            if self.args["fail_key"]:
                raise ModuleFailed("One or more supplied key could not be found in the database.",
                                   {"ansible_facts": {f"getent_{self.args['database']}": {}}})
            return {self.args["key"]: None}  # type: ignore[dict-item]
        if rc not in ("0", "2"):
            detail = (result.stderr if result is not None else "").strip()
            raise ModuleFailed(f"getent {self.args['database']} failed (rc={rc or '?'})" + (f": {detail}" if detail else ""))
        separator = self.args["split"]
        if separator is None and self.args["database"] in COLON_DATABASES:
            separator = ":"
        entries: dict[str, list[str]] = {}
        for line in body.splitlines():
            if not line.strip():
                continue
            fields = line.split(separator) if separator else line.split()
            entries.setdefault(fields[0], fields[1:])  # the first entry of a key wins, as in Ansible
        return entries

    def result_data(self, current: dict[str, list[str]], plan: Any) -> dict[str, Any]:
        return {"ansible_facts": {f"getent_{self.args['database']}": current}}

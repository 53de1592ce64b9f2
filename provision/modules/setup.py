"""setup: gather facts again (after a change that alters them); returns {'ansible_facts': ...}.

The read is provision.facts' own script and parser, so a task's facts and the ones gathered at the
start of a play are the same names and values. It runs with the task's become and environment, as
every module's read does. The easy thing to get wrong: a reply cut short (a host still starting up
answers exit 0 with no output) is not "no facts": it is asked for once more, then it fails.
"""
from __future__ import annotations

import fnmatch
from typing import Any

from provision.facts import FACTS_SCRIPT, MARK, parse_facts
from provision.modules.base import Arg, Module, ModuleFailed
from provision.transport.base import CommandResult


class Setup(Module):
    name = "setup"
    opaque = True
    sets_facts = True
    read_only = True
    spec = {
        "filter": Arg("list", elements="str", default=[], help="glob patterns of fact names to keep"),
        "gather_subset": Arg("list", help="accepted for compatibility; everything is gathered"),
        "gather_timeout": Arg("int", default=60),
    }

    def read_command(self) -> str | None:
        return FACTS_SCRIPT

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        if result is None or not complete(result):
            raise ModuleFailed(f"gathering facts failed (rc={result.rc if result else None}, "
                               f"{len(result.stdout) if result else 0} bytes of output): "
                               f"{result.stderr.strip()[:500] if result else ''}")
        facts = parse_facts(result.stdout)
        patterns = self.args["filter"]
        if patterns:
            facts = {key: value for key, value in facts.items() if any(fnmatch.fnmatch(key, p) for p in patterns)}
        return {"ansible_facts": facts}

    def read(self) -> dict[str, Any]:
        """At most two round trips: the second only when the first reply was cut short."""
        command = self.read_command()
        result = self.context.run(command, timeout=self.args["gather_timeout"])
        if not complete(result):
            result = self.context.run(command, timeout=self.args["gather_timeout"])
        return self.parse(result)

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current


def complete(result: CommandResult) -> bool:
    return MARK + "end@@" in result.stdout

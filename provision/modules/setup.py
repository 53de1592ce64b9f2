"""setup: gather facts again (after a change that alters them); returns {'ansible_facts': ...}."""
from __future__ import annotations

import fnmatch
from typing import Any

from provision.facts import FactsFailed, gather_facts
from provision.modules.base import Arg, Module, ModuleFailed


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

    def read(self) -> dict[str, Any]:
        try:
            facts = gather_facts(self.context.transport, timeout=self.args["gather_timeout"])
        except FactsFailed as error:
            raise ModuleFailed(str(error)) from error
        patterns = self.args["filter"]
        if patterns:
            facts = {key: value for key, value in facts.items() if any(fnmatch.fnmatch(key, p) for p in patterns)}
        return {"ansible_facts": facts}

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current

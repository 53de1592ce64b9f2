"""set_fact: give the host new variables; returns them as {'ansible_facts': {...}} for the runner.

Values arrive already templated by the runner. `cacheable` is accepted and ignored.
"""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed


class SetFact(Module):
    name = "set_fact"
    read_only = True
    open_spec = True
    spec = {"cacheable": Arg("bool", default=False)}

    def read(self) -> dict[str, Any]:
        facts = {key: value for key, value in self.args.items() if key not in self.spec}
        if not facts:
            raise ModuleFailed("set_fact needs at least one key: value")
        bad = [key for key in facts if not key.isidentifier()]
        if bad:
            raise ModuleFailed(f"invalid variable name(s): {', '.join(bad)}")
        return {"ansible_facts": facts}

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current

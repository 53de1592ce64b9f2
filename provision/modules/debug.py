"""debug: show a message or a variable's value; never changes anything.

`msg` arrives already templated by the runner; `var` is a bare expression evaluated here, and an
undefined one shows "VARIABLE IS NOT DEFINED!" instead of failing, as in Ansible.
"""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed


class Debug(Module):
    name = "debug"
    read_only = True
    # Ansible: "msg" and "var" are mutually exclusive (plugins/action/debug.py's argument spec)
    mutually_exclusive = (("msg", "var"),)
    spec = {
        "msg": Arg("raw"),
        "var": Arg("str"),
        "verbosity": Arg("int", default=0),
    }

    def read(self) -> dict[str, Any]:
        """Decided on this machine: no command on the host."""
        if self.args.get("var") is not None:
            expression = self.args["var"]
            try:
                return {expression: self.context.evaluate(expression)}
            except ModuleFailed as failure:
                if getattr(failure.__cause__, "variable", None):  # undefined: shown, as Ansible does
                    return {expression: "VARIABLE IS NOT DEFINED!"}
                raise
        message = self.args.get("msg")
        return {"msg": "Hello world!" if message is None else message}

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current

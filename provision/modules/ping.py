"""ping: prove the host runs commands (with become, when the task asks); returns pong.

The easy thing to get wrong: the proof is a command that ran, with the task's become, not a
connection that opened: a wrong sudo password must fail ping as it would fail the next task.
"""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.transport.base import CommandResult


class Ping(Module):
    name = "ping"
    read_only = True
    spec = {"data": Arg("str", default="pong")}

    def read_command(self) -> str | None:
        return "true"

    def parse(self, result: CommandResult | None) -> Any:
        if result is None or not result.ok:
            raise ModuleFailed(f"the host cannot run commands: {result.stderr.strip() if result else 'no answer'}")
        return None

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        if self.args["data"] == "crash":  # documented: "set to crash, the module will cause an exception"
            raise ModuleFailed("Task failed. Module failed. boom")  # Ansible 2.19's words for it
        return {"ping": self.args["data"]}

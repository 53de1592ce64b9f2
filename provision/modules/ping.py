"""ping: prove the host runs commands (with become, when the task asks); returns pong."""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed


class Ping(Module):
    name = "ping"
    read_only = True
    spec = {"data": Arg("str", default="pong")}

    def read(self) -> Any:
        result = self.context.run("true")
        if not result.ok:
            raise ModuleFailed(f"the host cannot run commands: {result.stderr.strip()}")
        return None

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        return {"ping": self.args["data"]}

"""fail: stop the host with a message (usually under `when`)."""
from __future__ import annotations

from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed


class Fail(Module):
    name = "fail"
    action_options = True
    read_only = True
    spec = {"msg": Arg("str", default="Failed as requested from task")}

    def read(self) -> Any:
        raise ModuleFailed(self.args["msg"])

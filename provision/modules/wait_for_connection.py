"""wait_for_connection: wait until the host answers over its connection again, bounded.

After a reboot done outside provision, or a network change: reconnect every `sleep` seconds and
run `true`, until it works or `timeout` passes. Its result has Ansible's `elapsed`. Check mode runs
it too (it only reads), as Ansible's does.
"""
from __future__ import annotations

import time
from typing import Any

from provision.errors import ConnectionFailed
from provision.modules.base import Arg, Module, ModuleFailed, ModuleResult


class WaitForConnection(Module):
    name = "wait_for_connection"
    action_options = True
    read_only = True
    opaque = True  # the host may have rebooted under it: batched reads made before are stale
    spec = {
        "timeout": Arg("float", default=600),
        "delay": Arg("float", default=0),
        "sleep": Arg("float", default=1),
        "connect_timeout": Arg("float", default=5),
    }

    def run(self) -> ModuleResult:
        try:
            self.args = self.check_args(self.args)
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg)
        start = time.monotonic()
        time.sleep(self.args["delay"])
        error = ""
        while True:
            try:
                if error:
                    self.context.reconnect()
                if self.context.run("true", timeout=self.args["connect_timeout"]).rc == 0:
                    return ModuleResult("ok", data={"elapsed": int(time.monotonic() - start)})
                error = "the host ran `true` and it failed"
            except (ConnectionFailed, ModuleFailed) as failure:
                error = str(failure)
            if time.monotonic() - start + self.args["sleep"] > self.args["timeout"]:
                data: dict[str, Any] = {"elapsed": int(time.monotonic() - start)}
                return ModuleResult("failed", msg=f"timed out waiting for connection port up: {error}", data=data)
            time.sleep(self.args["sleep"])

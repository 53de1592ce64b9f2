"""pause: wait a number of seconds or minutes, or (on a terminal) for Enter, as Ansible's pause.

Runs on the controller and touches no host. provision runs hosts in parallel, so every host waits
the same seconds at once and the play waits them once, as Ansible's pause (which runs once per
play) does. A `prompt` without a terminal, as from cron or CI, does not wait for an answer that
will never come: it continues, with `user_input` empty, as Ansible says it does.
"""
from __future__ import annotations

import datetime
import sys
import time
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed, ModuleResult


class Pause(Module):
    name = "pause"
    read_only = True
    spec = {
        "seconds": Arg("float"),
        "minutes": Arg("float"),
        "prompt": Arg("str"),
        "echo": Arg("bool", default=True),
    }
    mutually_exclusive = (("seconds", "minutes"),)

    def run(self) -> ModuleResult:
        try:
            self.args = self.check_args(self.args)
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg)
        seconds = self.args["seconds"] if self.args["seconds"] is not None else (
            self.args["minutes"] * 60 if self.args["minutes"] is not None else None)
        if seconds is not None and seconds < 0:
            return ModuleResult("failed", msg="pause: seconds and minutes must not be negative")
        start = datetime.datetime.now()
        user_input = ""
        if seconds is not None:
            time.sleep(seconds)
        elif sys.stdin.isatty() and self.args["prompt"] is not None:
            print(f"[pause] {self.args['prompt']}", flush=True)
            user_input = sys.stdin.readline().rstrip("\n")
        stop = datetime.datetime.now()
        delta = stop - start
        data: dict[str, Any] = {"start": str(start), "stop": str(stop), "delta": int(delta.total_seconds()),
                                "echo": self.args["echo"], "user_input": user_input,
                                "stdout": f"Paused for {delta.total_seconds():.2f} seconds"}
        return ModuleResult("ok", data=data)

"""reboot: restart the host and wait, bounded, until it is back as a new boot.

The boot id (/proc/sys/kernel/random/boot_id) is read before; the reboot command is started
detached after a short delay so this command returns first; then the connection is reopened until
the host answers with a different boot id and the test command succeeds. Always changed; in check
mode it says it would reboot and does nothing. The easy thing to get wrong: the old connection can
answer for a moment after the reboot was asked for, so "it answered" proves nothing — only a new
boot id does.

Over a local connection (`ansible_connection: local`, `delegate_to: localhost`) the host IS the
machine running provision: it refuses before running anything, in check mode too, as Ansible does.
"""
from __future__ import annotations

import time
from typing import Any

from provision.errors import BecomeFailed, ConnectionFailed, HostKeyRejected
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join
from provision.transport.base import CommandResult

BOOT_ID_COMMAND = "cat /proc/sys/kernel/random/boot_id"
# Ansible's own wording, so a user who knows the message knows the cause.
LOCAL_REFUSAL = "Running reboot with local connection would reboot the control node."


class Reboot(Module):
    name = "reboot"
    action_options = True
    opaque = True
    spec = {
        "reboot_timeout": Arg("int", default=600, help="seconds to wait for the host to come back"),
        "pre_reboot_delay": Arg("int", default=0, help="seconds before rebooting"),
        "post_reboot_delay": Arg("int", default=0, help="seconds to wait after it is back"),
        "reboot_command": Arg("str", default="reboot", help="shell text that reboots the host"),
        "test_command": Arg("str", default="whoami", help="must succeed on the host once it is back"),
        "boot_time_command": Arg("str", default=BOOT_ID_COMMAND,
                                 help="prints something that differs after a reboot"),
        "msg": Arg("str", default="Reboot initiated by provision", help="accepted for Ansible playbooks; unused"),
        "poll_interval": Arg("float", default=1.0),
    }

    def read_command(self) -> str | None:
        return self.args["boot_time_command"]

    def parse(self, result: CommandResult | None) -> str:
        """The boot id; a host that cannot say one cannot prove it rebooted, so that fails."""
        if result is None or not result.ok or not result.stdout.strip():
            raise ModuleFailed(f"reboot: cannot read the boot id ({self.args['boot_time_command']}): "
                               f"{(result.stderr.strip() if result else '') or 'no output'}")
        return result.stdout.strip()

    def boot_id(self, timeout: float | None = None) -> str:
        return self.parse(self.context.run(self.read_command(), timeout=timeout))

    def read(self) -> str:
        self.refuse_local_connection()  # before the first command: the host is this machine
        return super().read()

    def refuse_local_connection(self) -> None:
        """Fail before the first command when the reboot would hit this machine, in check mode too."""
        transport = getattr(self.context, "transport", None)
        if transport is None or not transport.local:
            return
        outcome = ("check mode: a real run is refused the same way; nothing was run" if self.context.check
                   else "nothing was run")
        raise ModuleFailed(f"{LOCAL_REFUSAL} Refused ({outcome}). Reboot this machine yourself, or run "
                           "provision from another machine over SSH.", {"rebooted": False, "elapsed": 0})

    def diff(self, current: str) -> str:
        return current  # the plan is the boot id to leave behind

    def describe(self, current: str, plan: str) -> str:
        return f"reboot the host (boot id {current})\n"

    def result_data(self, current: str, plan: Any) -> dict[str, Any]:
        return {"rebooted": False, "elapsed": 0, "boot_id": current}

    def apply(self, plan: str) -> dict[str, Any]:
        before = plan
        started = time.monotonic()
        # Detached and delayed by at least a second, so this command's answer gets back first.
        delay = max(1, int(self.args["pre_reboot_delay"]))
        reboot = join(["nohup", "sh", "-c", f"sleep {delay}; " + self.args["reboot_command"]])
        result = self.context.run(reboot + " >/dev/null 2>&1 </dev/null &")
        if not result.ok:
            raise ModuleFailed(f"reboot: could not start {self.args['reboot_command']!r}: {result.stderr.strip()}")
        after, last_error = self.wait_for_new_boot(before, started)
        if after is None:
            raise ModuleFailed(
                f"reboot: the host did not come back as a new boot within {self.args['reboot_timeout']}s"
                + (f" (last error: {last_error})" if last_error else " (the boot id never changed: did it reboot?)"),
                {"rebooted": False, "boot_id": before})
        if self.args["post_reboot_delay"]:
            time.sleep(self.args["post_reboot_delay"])
        return {"rebooted": True, "elapsed": round(time.monotonic() - started, 1),
                "boot_id_before": before, "boot_id": after}

    def wait_for_new_boot(self, before: str, started: float) -> tuple[str | None, str]:
        deadline = started + self.args["reboot_timeout"]
        last_error = ""
        time.sleep(max(1, int(self.args["pre_reboot_delay"])))
        while time.monotonic() < deadline:
            try:
                self.context.reconnect()
                now = self.boot_id(timeout=10)
                if now != before:
                    test = self.context.run(self.args["test_command"], timeout=30)
                    if test.ok:
                        return now, ""
                    last_error = f"test command failed: {test.stderr.strip()}"
            except HostKeyRejected:
                raise
            except (ConnectionFailed, BecomeFailed, ModuleFailed) as error:
                last_error = str(error)
            time.sleep(self.args["poll_interval"])
        return None, last_error

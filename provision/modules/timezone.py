"""timezone (community.general's): the host's time zone, by its tz database name.

As community.general does it on Linux: `timedatectl set-timezone` where systemd runs; elsewhere
the files themselves, /etc/localtime a link into /usr/share/zoneinfo and, on Debian and Ubuntu,
/etc/timezone naming the zone. Each file is replaced whole (written beside it, then renamed), so a
host is never left with half of one. A name the host's tz database lacks fails before anything
changes. `hwclock` is not taken: the hardware clock of a server is not this module's to move.
"""
from __future__ import annotations

import re
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import quote
from provision.transport.base import CommandResult

ZONEINFO = "/usr/share/zoneinfo"
_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")


class Timezone(Module):
    name = "timezone"
    spec = {"name": Arg("str", required=True, help="a tz database name: Etc/UTC, Europe/Berlin...")}

    def zone(self) -> str:
        zone = str(self.args["name"]).strip()
        if not _NAME.fullmatch(zone) or ".." in zone:
            raise ModuleFailed(f"timezone: {zone!r} is not a time zone name")
        return zone

    def read_command(self) -> str:
        zone = quote(self.zone())
        return (f"readlink /etc/localtime; echo @@; cat /etc/timezone 2>/dev/null; echo @@; "
                f"[ -f {ZONEINFO}/{zone} ] && echo known; "
                "[ -d /run/systemd/system ] && command -v timedatectl >/dev/null 2>&1 && echo systemd; true")

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        link, _, rest = (result.stdout if result is not None else "").partition("@@\n")
        named, _, flags = rest.partition("@@\n")
        link = link.strip()
        current = named.strip() or (link.partition("zoneinfo/")[2] if "zoneinfo/" in link else "")
        return {"name": current, "link": link, "known": "known" in flags.split(),
                "systemd": "systemd" in flags.split(), "file": bool(named.strip())}

    def diff(self, current: dict[str, Any]) -> Any:
        zone = self.zone()
        if not current["known"]:
            raise ModuleFailed(f"timezone: {zone} is not in this host's tz database ({ZONEINFO}/{zone} is missing)")
        if current["name"] == zone and current["link"].endswith(f"zoneinfo/{zone}"):
            return None
        return {"from": current["name"] or "(unset)", "to": zone, "systemd": current["systemd"]}

    def describe(self, current: dict[str, Any], plan: Any) -> str:
        return f"--- before\n+++ after\n-name: {plan['from']}\n+name: {plan['to']}\n"

    def apply(self, plan: Any) -> dict[str, Any]:
        zone = quote(plan["to"])
        if plan["systemd"]:
            command = f"timedatectl set-timezone {zone}"
        else:  # each file replaced whole: written beside it, then renamed over it
            command = (f"ln -sfn {ZONEINFO}/{zone} /etc/.localtime.provision && mv -f /etc/.localtime.provision "
                       "/etc/localtime && { [ ! -e /etc/timezone ] || { printf '%s\\n' " + zone +
                       " > /etc/.timezone.provision && mv -f /etc/.timezone.provision /etc/timezone; }; }")
        result = self.context.run(command)
        if result.rc != 0:
            raise ModuleFailed(f"timezone: could not set {plan['to']}: {(result.stderr or result.stdout).strip()}")
        return self.result_data(None, plan)

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        before = plan["from"] if plan else self.zone()
        return {"diff": {"before": {"name": before}, "after": {"name": self.zone()}}}

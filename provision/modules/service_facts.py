"""service_facts: every service of the host as `ansible_facts.services`, with Ansible's keys.

Each service maps to {name, state (running/stopped/unknown), status (enabled/disabled/static/
unknown), source (systemd or sysv)}, as Ansible's service_facts gives them. One round trip that
asks systemd when it runs the host, and the SysV scripts (`service --status-all`) otherwise, so a
container or a host without systemd still answers.
"""
from __future__ import annotations

from typing import Any

from provision.facts import split_sections
from provision.modules.base import Module, ModuleFailed
from provision.transport.base import CommandResult

READ = r"""s() { printf '\n@@provision:%s@@\n' "$1"; }
if [ -d /run/systemd/system ]; then
  s units; systemctl list-units --type=service --all --no-legend --no-pager --plain 2>/dev/null
  s files; systemctl list-unit-files --type=service --no-legend --no-pager 2>/dev/null
else
  s sysv; service --status-all 2>&1
fi
s end
"""


def parse_services(sections: dict[str, str]) -> dict[str, dict[str, str]]:
    """Ansible's service_facts from the read's sections (pure)."""
    services: dict[str, dict[str, str]] = {}
    for line in sections.get("units", "").splitlines():
        words = line.split()
        if len(words) >= 4 and words[0].endswith(".service"):
            state = {"running": "running", "exited": "stopped", "dead": "stopped", "failed": "failed"}.get(words[3], "unknown")
            services[words[0]] = {"name": words[0], "state": state, "status": "unknown", "source": "systemd"}
    for line in sections.get("files", "").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].endswith(".service"):
            entry = services.setdefault(words[0], {"name": words[0], "state": "stopped", "status": "unknown",
                                                   "source": "systemd"})
            entry["status"] = words[1]
    for line in sections.get("sysv", "").splitlines():
        words = line.replace("[", " ").replace("]", " ").split()
        if len(words) == 2 and words[0] in "+-?":
            state = {"+": "running", "-": "stopped"}.get(words[0], "unknown")
            services[words[1]] = {"name": words[1], "state": state, "status": "unknown", "source": "sysv"}
    return services


class ServiceFacts(Module):
    name = "service_facts"
    read_only = True
    sets_facts = True  # ansible_facts.<name> and the top-level variable, as Ansible's facts
    spec = {}

    @classmethod
    def defined_names(cls, args: dict[str, Any]) -> set[str]:
        return {"services"}

    def read_command(self) -> str:
        return READ

    def parse(self, result: CommandResult | None) -> dict[str, dict[str, str]]:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            raise ModuleFailed("service_facts: could not read the services")
        return parse_services(sections)

    def result_data(self, current: dict[str, dict[str, str]], plan: Any) -> dict[str, Any]:
        return {"ansible_facts": {"services": current}}

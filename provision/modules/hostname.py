"""hostname: the host's name, now (the kernel's, "transient") and at boot ("static", /etc/hostname).

As Ansible's hostname module on Linux: with systemd running (and hostnamectl there) it goes through
hostnamectl, which sets both; otherwise, and with `use: debian` or `use: generic`, /etc/hostname is
written (the whole file: the name and a newline) and `hostname NAME` sets the running name. One
round trip reads both names; the task changes when either differs. The facts Ansible's module
returns are set for the rest of the run (ansible_hostname, ansible_nodename, and ansible_fqdn and
ansible_domain as the host resolves its name afterwards), in check mode too, as Ansible's are. The easy thing to get wrong: /etc/hostname may hold comment lines, which are not
the name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provision.facts import split_sections
from provision.modules.base import Arg, Module, ModuleFailed
from provision.modules.remote_file import write_file
from provision.shell import join
from provision.transport.base import CommandResult

# RFC 1123 labels, dots between them (Ansible accepts what the system tools accept; this is their rule)
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
STRATEGIES = ("systemd", "debian", "generic")  # what provision does; Ansible's other names fail on the host
ANSIBLE_STRATEGIES = ("alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
                      "redhat", "sles", "solaris", "systemd")
READ = r"""
s() { printf '\n@@provision:%s@@\n' "$1"; }
s transient; cat /proc/sys/kernel/hostname 2>/dev/null || hostname 2>/dev/null
s static; [ -f /etc/hostname ] && grep -v '^[[:space:]]*#' /etc/hostname
s systemd; [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null 2>&1 && echo yes
s fqdn; hostname -f 2>/dev/null
s end
"""


@dataclass
class HostnameState:
    transient: str
    static: str
    systemd: bool
    fqdn: str = ""


class Hostname(Module):
    name = "hostname"
    sets_facts = True
    spec = {
        "name": Arg("str", required=True, help="the host name to set"),
        "use": Arg("str", choices=ANSIBLE_STRATEGIES, help="how: systemd (hostnamectl) or debian/generic "
                                                           "(/etc/hostname and `hostname`); default: systemd where it runs"),
    }

    def read_command(self) -> str:
        if self.args["use"] and self.args["use"] not in STRATEGIES:
            raise ModuleFailed(f"hostname: use: {self.args['use']} is not supported by provision (it sets names "
                               f"with {', '.join(STRATEGIES)})")
        if not HOSTNAME.fullmatch(self.args["name"]):
            raise ModuleFailed(f"hostname: {self.args['name']!r} is not a valid host name (letters, digits, "
                               "hyphens, dots between labels)")
        return READ

    def parse(self, result: CommandResult | None) -> HostnameState:
        sections = split_sections(result.stdout if result is not None else "")
        if "end" not in sections:
            raise ModuleFailed(f"hostname: cannot read the host's name: {result.stderr.strip() if result else ''}")
        static = sections.get("static", "").strip().splitlines()
        return HostnameState(sections.get("transient", "").strip(), static[0].strip() if static else "",
                             sections.get("systemd", "").strip() == "yes", sections.get("fqdn", "").strip())

    def strategy(self, current: HostnameState) -> str:
        return self.args["use"] or ("systemd" if current.systemd else "debian")

    def diff(self, current: HostnameState) -> list[str] | None:
        self.current = current
        name, changes = self.args["name"], []
        if current.transient != name:
            changes.append(f"hostname {current.transient or '(none)'} -> {name}")
        if current.static != name:
            changes.append(f"/etc/hostname {current.static or '(none)'} -> {name}")
        if changes and self.strategy(current) == "systemd" and not current.systemd:
            raise ModuleFailed("hostname: use: systemd needs systemd running and hostnamectl on the host")
        return changes or None

    def describe(self, current: HostnameState, plan: list[str]) -> str:
        return "".join(line + "\n" for line in plan)

    def facts(self, fqdn: str) -> dict[str, Any]:
        """What Ansible's module returns, the fqdn as the host resolves it (its own, in check mode)."""
        name = self.args["name"]
        fqdn = fqdn or name
        return {"ansible_hostname": name.split(".")[0], "ansible_nodename": name, "ansible_fqdn": fqdn,
                "ansible_domain": fqdn.partition(".")[2]}

    def result_data(self, current: HostnameState, plan: Any) -> dict[str, Any]:
        return {"name": self.args["name"], "ansible_facts": self.facts(current.fqdn)}

    def apply(self, plan: list[str]) -> dict[str, Any]:
        name = self.args["name"]
        if self.strategy(self.current) == "systemd":
            commands = [["hostnamectl", "set-hostname", name]]
        else:
            if self.current.static != name:
                write_file(self.context, "/etc/hostname", (name + "\n").encode(), mode="0644")
            commands = [["hostname", name]] if self.current.transient != name else []
        for command in commands:
            result = self.context.run(join(command))
            if not result.ok:
                raise ModuleFailed(f"hostname: {' '.join(command)} failed: {(result.stderr or result.stdout).strip()}",
                                   {"name": name})
        fqdn = self.context.run("hostname -f 2>/dev/null || true").stdout.strip()
        return {"name": name, "ansible_facts": self.facts(fqdn)}

"""package and yum: Ansible's generic package module, and yum as ansible-core 2.17+ runs it (dnf).

`package` hands its `name`/`state` to the host's own package module, chosen by the
`ansible_pkg_mgr` fact (apt on Debian/Ubuntu, dnf on RHEL-family) or by `use:`. It reads and plans
as that module does, batched reads included, so `package: {name: curl}` on a converged Debian host
costs what `apt: {name: curl}` costs. The easy thing to get wrong: a host whose manager provision
does not run (zypper, apk) must fail the task by name, not fall through to apt.
"""
from __future__ import annotations

from typing import Any

from provision.modules.apt import Apt
from provision.modules.base import Arg, Module, ModuleFailed, ModuleResult
from provision.modules.dnf import Dnf
from provision.transport.base import CommandResult

MANAGERS: dict[str, type[Module]] = {"apt": Apt, "dnf": Dnf, "yum": Dnf, "dnf5": Dnf}


class Package(Module):
    name = "package"
    spec = {
        "name": Arg("list", elements="str", required=True, aliases=("pkg",)),
        "state": Arg("str", default="present", choices=("present", "absent", "latest", "installed", "removed")),
        "use": Arg("str", default="auto", help="the package module to use (default: the ansible_pkg_mgr fact)"),
    }

    def delegate(self) -> Module:
        use = self.args["use"]
        manager = str(self.context.facts.get("ansible_pkg_mgr", "unknown")) if use == "auto" else use
        module = MANAGERS.get(manager)
        if module is None:
            raise ModuleFailed(f"package: the host's package manager is {manager!r}; provision runs "
                               f"{', '.join(sorted(MANAGERS))} (gather facts, or set use:)")
        return module({"name": self.args["name"], "state": self.args["state"]}, self.context)

    def read_command(self) -> str | None:
        delegate = self.delegate()
        delegate.args = delegate.check_args(delegate.args)
        return delegate.read_command()

    def run(self) -> ModuleResult:
        try:
            self.args = self.check_args(self.args)
            delegate = self.delegate()
        except ModuleFailed as failure:
            return ModuleResult("failed", msg=failure.msg, data=failure.data)
        return delegate.run()

    def parse(self, result: CommandResult | None) -> Any:  # run() hands everything to the delegate
        return None


class Yum(Dnf):
    """ansible.builtin.yum: since ansible-core 2.17 an alias that runs the dnf module."""

    name = "yum"

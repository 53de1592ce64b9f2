"""service: a service's running state (started, stopped, restarted, reloaded) and its boot start.

The init system is a small class chosen from the facts (`ansible_service_mgr`, `ansible_os_family`):
systemctl under systemd, else the /etc/init.d script with update-rc.d (Debian) or chkconfig (Red
Hat). Each knows how to read a service in one command and which commands change it; the module
only compares. Without gathered facts the read command asks the host which one runs, in the same
round trip. The easy thing to get wrong: "systemd is installed" is not "systemd runs" (containers,
namespace hosts), so the choice follows what PID 1 is, never which binaries exist.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from provision.modules.base import PACKAGES, Arg, ModuleFailed
from provision.modules.outcome import MayNotChange
from provision.shell import join, quote
from provision.transport.base import CommandResult

SERVICE_NAME = re.compile(r"^[A-Za-z0-9@._:\\-]+$")
INIT_MARK = "@@provision-init:"
# Whether systemd runs (not merely is installed): the directory exists only while it is PID 1.
SYSTEMD_RUNS = "[ -d /run/systemd/system ]"


@dataclass
class ServiceState:
    exists: bool
    running: bool
    enabled: bool | None  # None: cannot be enabled or disabled (systemd static units)
    masked: bool = False
    status: dict[str, str] = field(default_factory=dict, compare=False)  # systemctl show's properties
    init: InitSystem | None = field(default=None, compare=False, repr=False)  # the one that read it


@dataclass
class ServicePlan:
    daemon_reload: bool = False
    commands: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


class InitSystem:
    """Commands for one init system. Subclasses fill the shell text; parsing is pure."""

    name: ClassVar[str] = ""

    def read_command(self, service: str) -> str:
        raise NotImplementedError

    def parse(self, output: str) -> ServiceState:
        raise NotImplementedError

    def action(self, service: str, action: str) -> str:
        raise NotImplementedError

    def enable(self, service: str, enabled: bool) -> str:
        raise NotImplementedError

    def mask(self, service: str, masked: bool) -> str:
        raise ModuleFailed(f"masking needs systemd; this host's services are managed by {self.name}")

    def daemon_reload(self) -> str | None:
        return None  # only systemd caches unit files


class Systemctl(InitSystem):
    name = "systemd"

    def read_command(self, service: str) -> str:
        # `systemctl show` says nothing where systemd is offline (SYSTEMD_OFFLINE=1, a chroot):
        # then is-enabled and is-active, as Ansible's systemd module falls back to
        show = join(["systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "--", service])
        name = quote(service)
        return (f"out=$({show} 2>&1)\n"
                'case "$out" in *LoadState=*) printf \'%s\\n\' "$out";; *)\n'
                f"  e=$(systemctl is-enabled -- {name} 2>/dev/null); l=not-found; [ -n \"$e\" ] && l=loaded\n"
                f"  printf 'LoadState=%s\\nUnitFileState=%s\\nActiveState=%s\\n' \"$l\" \"$e\" "
                f"\"$(systemctl is-active -- {name} 2>/dev/null)\";; esac\n")

    def parse(self, output: str) -> ServiceState:
        values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        load = values.get("LoadState", "")
        unit_file = values.get("UnitFileState", "")
        masked = load == "masked" or unit_file.startswith("masked")
        # indirect, enabled-runtime and alias count as not enabled, so `enabled: true` enables them,
        # as Ansible's systemd module decides ("we've been asked to enable this unit so do so")
        enabled = None if unit_file in ("static", "generated", "transient", "") else (
            unit_file in ("enabled", "linked", "linked-runtime"))
        return ServiceState(
            exists=load not in ("not-found", ""),
            running=values.get("ActiveState") in ("active", "reloading", "activating"),
            enabled=enabled, masked=masked, status=values,
        )

    def action(self, service: str, action: str) -> str:
        return join(["systemctl", action, "--", service])

    def enable(self, service: str, enabled: bool) -> str:
        return join(["systemctl", "enable" if enabled else "disable", "--", service])

    def mask(self, service: str, masked: bool) -> str:
        return join(["systemctl", "mask" if masked else "unmask", "--", service])

    def daemon_reload(self) -> str:
        return "systemctl daemon-reload"


class SysVinit(InitSystem):
    """LSB init scripts: `status` exit 0 means running; boot start is an S link in rc2-5.d."""

    name = "sysvinit"

    def read_command(self, service: str) -> str:
        return (
            f"n={quote(service)}\n"
            'if [ -x "/etc/init.d/$n" ]; then echo exists; else echo missing; exit 0; fi\n'
            '"/etc/init.d/$n" status >/dev/null 2>&1 && echo running || echo stopped\n'
            'for link in /etc/rc[2345].d/S[0-9][0-9]"$n"; do [ -e "$link" ] && { echo enabled; exit 0; }; done\n'
            "echo disabled\n"
        )

    def parse(self, output: str) -> ServiceState:
        words = output.split()
        if not words or words[0] != "exists":
            return ServiceState(False, False, False)
        return ServiceState(True, "running" in words, "enabled" in words)

    def action(self, service: str, action: str) -> str:
        return join([f"/etc/init.d/{service}", action])

    def enable(self, service: str, enabled: bool) -> str:
        if enabled:  # defaults makes the links when there are none; enable turns K links into S
            return join(["update-rc.d", service, "defaults"]) + " && " + join(["update-rc.d", service, "enable"])
        return join(["update-rc.d", service, "disable"])


class SysVinitRedHat(SysVinit):
    def enable(self, service: str, enabled: bool) -> str:
        return join(["chkconfig", service, "on" if enabled else "off"])


def init_system(manager: str, facts: dict[str, Any] | None) -> InitSystem:
    """The init system for `ansible_service_mgr` (and the OS family for the init scripts' tools)."""
    if manager == "systemd":
        return Systemctl()
    if (facts or {}).get("ansible_os_family") == "RedHat":
        return SysVinitRedHat()
    return SysVinit()


def read_command(service: str | None, facts: dict[str, Any] | None) -> str | None:
    """Shell text reading `service` (None: only which init system runs) in one round trip (pure).

    With `ansible_service_mgr` in the facts it is that init system's read; without, the command
    asks the host first and prints the answer as its first line (`@@provision-init:NAME`)."""
    manager = (facts or {}).get("ansible_service_mgr")
    if manager is not None:
        return init_system(manager, facts).read_command(service) if service else None
    systemd, scripts = Systemctl(), init_system("service", facts)
    return (f"if {SYSTEMD_RUNS}; then echo {INIT_MARK}systemd\n"
            + (systemd.read_command(service) + "\n" if service else "")
            + f"else echo {INIT_MARK}service\n"
            + (scripts.read_command(service) if service else "")
            + "fi\n")


def parse_state(service: str | None, facts: dict[str, Any] | None, result: CommandResult | None) -> ServiceState:
    """The ServiceState from `read_command`'s result, carrying the init system that read it (pure)."""
    output = result.stdout if result is not None else ""
    manager = (facts or {}).get("ansible_service_mgr")
    if output.startswith(INIT_MARK):
        first, _, output = output.partition("\n")
        manager = first.removeprefix(INIT_MARK).strip()
    init = init_system(manager or "service", facts)
    state = init.parse(output) if service else ServiceState(True, False, None)
    state.init = init
    return state


class Service(MayNotChange):
    name = "service"
    spec = {
        "name": Arg("str", required=True, aliases=("service", "unit")),
        "state": Arg("str", choices=("started", "stopped", "restarted", "reloaded")),
        "enabled": Arg("bool", help="start at boot"),
        # no default (false): given at all, it is something to do, as Ansible's rule counts it
        "daemon_reload": Arg("bool", aliases=("daemon-reload",),
                             help="systemd: re-read unit files first (nothing to do elsewhere)"),
    }
    # Ansible's service: required_one_of=[['state', 'enabled']]; daemon_reload is ours (from systemd)
    required_one_of = (("state", "enabled", "daemon_reload"),)
    not_yet = False  # check mode: missing, but an earlier task's package may bring it (parse)

    def read_command(self) -> str | None:
        service = self.args["name"]
        if service is not None and not SERVICE_NAME.match(service):
            raise ModuleFailed(f"{self.name}: {service!r} is not a valid service name")
        return read_command(service, self.context.facts)

    def parse(self, result: CommandResult | None) -> ServiceState:
        state = parse_state(self.args["name"], self.context.facts, result)
        if self.args["name"] and not state.exists and not self.wants_other():
            if self.context.check and PACKAGES in getattr(self.context, "check_pending", ()):
                # check mode after an earlier task would have installed packages: the service may
                # come with one of them. Planned as a new service (stopped, disabled), and said so.
                self.not_yet = True
                return ServiceState(False, False, False, init=state.init)
            # systemd masks a unit before it is installed
            # Ansible's words first (its module_utils/service.py fail_if_missing), then which init looked
            raise ModuleFailed(f"Could not find the requested service {self.args['name']}: host "
                               f"({state.init.name} has no service {self.args['name']!r})")
        return state

    def wants_other(self) -> bool:
        return bool(self.args["daemon_reload"])

    def diff(self, current: ServiceState) -> ServicePlan | None:
        self.init = current.init
        plan = ServicePlan()
        service, init = self.args["name"], self.init
        if self.args["daemon_reload"] and init.daemon_reload():
            plan.daemon_reload = True
        self.plan_mask(current, plan)
        enabled = self.args["enabled"]
        if enabled is not None and current.enabled is not None and current.enabled != enabled:
            plan.commands.append(init.enable(service, enabled))
            plan.summary.append(f"{'enable' if enabled else 'disable'} {service}")
        state = self.args["state"]
        action = {
            "started": "start" if not current.running else None,
            "stopped": "stop" if current.running else None,
            "restarted": "restart",
            "reloaded": "reload" if current.running else "start",
        }.get(state or "")
        if action:
            plan.commands.append(init.action(service, action))
            plan.summary.append(f"{action} {service}")
        if self.not_yet:
            plan.summary.append(f"({service} is not on the host yet: an earlier task in this check installs "
                                "packages it may come with)")
        return plan if plan.commands or plan.daemon_reload else None

    def plan_mask(self, current: ServiceState, plan: ServicePlan) -> None:
        """systemd adds masking; plain service has none."""

    def describe(self, current: ServiceState, plan: ServicePlan) -> str:
        before = f"running: {current.running}, enabled: {current.enabled}\n"
        return before + "".join(line + "\n" for line in plan.summary)

    def result_data(self, current: ServiceState, plan: ServicePlan | None) -> dict[str, Any]:
        data = self.status_data(current)
        if plan is not None:
            data["changed"] = bool(plan.commands)
        return data

    def status_data(self, state: ServiceState) -> dict[str, Any]:
        """Ansible's name, state, enabled and (under systemd) status, and the init system used."""
        data = {"name": self.args["name"], "state": "started" if state.running else "stopped",
                "enabled": state.enabled, "init_system": self.init.name}
        if state.status:
            data["status"] = dict(state.status)
        return data

    def apply(self, plan: ServicePlan) -> dict[str, Any]:
        commands = ([self.init.daemon_reload()] if plan.daemon_reload else []) + plan.commands
        for command in commands:
            result = self.context.run(command + " </dev/null")
            if not result.ok:
                output = (result.stderr.strip() or result.stdout.strip())[-2000:]
                raise ModuleFailed(f"{self.name}: {command} failed (rc {result.rc}): {output}", {"rc": result.rc})
        after = ServiceState(True, False, None)
        if self.args["name"]:  # report the state the service ended in, not the one asked for
            after = self.init.parse(self.context.run(self.init.read_command(self.args["name"])).stdout)
        data = self.status_data(after)
        data.update(changed=bool(plan.commands), actions=plan.summary)
        return data

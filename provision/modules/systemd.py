"""systemd: the service module plus what only systemd has (masking, daemon-reload).

On a host that does not run systemd (containers, the sandbox) it manages the service through the
init scripts like `service` does, so one role works on both; asking to mask there fails clearly.
The easy thing to get wrong: a masked unit cannot start, so unmasking comes before any start.
"""
from __future__ import annotations

from provision.modules.base import Arg, ModuleFailed
from provision.modules.service import Service, ServicePlan, ServiceState


class Systemd(Service):
    name = "systemd"
    spec = {
        **Service.spec,
        "name": Arg("str", aliases=("service", "unit")),  # daemon_reload alone needs no unit
        "masked": Arg("bool", help="mask (true) or unmask (false) the unit"),
    }
    # Ansible's systemd_service: required_one_of=[['state', 'enabled', 'masked', 'daemon_reload',
    # 'daemon_reexec']] (no daemon_reexec here) and required_by state/enabled/masked -> name, so
    # without a name only daemon_reload is left: one of name and daemon_reload.
    required_one_of = (("state", "enabled", "masked", "daemon_reload"), ("name", "daemon_reload"))
    required_by = {"state": ("name",), "enabled": ("name",), "masked": ("name",)}

    def read_command(self) -> str | None:
        if not self.args["name"]:  # state/enabled/masked without a name: refused by required_by
            if not self.args["daemon_reload"]:
                raise ModuleFailed("systemd: missing required argument 'name' (or daemon_reload alone)")
        return super().read_command()

    def wants_other(self) -> bool:
        return super().wants_other() or self.args["masked"] is not None

    def diff(self, current: ServiceState) -> ServicePlan | None:
        if not self.args["name"]:
            self.init = current.init
            return ServicePlan(daemon_reload=True) if self.init.daemon_reload() else None
        return super().diff(current)

    def plan_mask(self, current: ServiceState, plan: ServicePlan) -> None:
        masked = self.args["masked"]
        if masked is not None and masked != current.masked:
            plan.commands.append(self.init.mask(self.args["name"], masked))
            plan.summary.append(f"{'mask' if masked else 'unmask'} {self.args['name']}")

    def status_data(self, state: ServiceState) -> dict:
        if not self.args["name"]:
            return {"init_system": self.init.name}
        return {**super().status_data(state), "masked": state.masked}

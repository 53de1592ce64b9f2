"""Which testinfra files prove which hosts: the tests of the roles a playbook applies to each host.

A role's tests are `<role>/tests/test_*.py`, found where the playbook found the role (its own
roles/ folder first, then the project's). A host gets the tests of every role of every play that
targets it, and the site-wide tests (tests/verify/site/) only when the playbook is the project's
site playbook, whose end state they describe. So a fleet converged with a small playbook is never
held to the GPU roles' assertions, and a CPU-only group is never asked for the GPU stack.

Hosts with the same set of files form one group: a pytest worker runs one group's files against a
slice of its hosts (provision.verify.run).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from provision.booleans import NotABoolean, to_bool
from provision.inventory import Inventory
from provision.playbook.model import Playbook
from provision.hostpatterns import targeted_hosts
from provision.runner.play import play_pattern


@dataclass(frozen=True)
class VerifyGroup:
    hosts: tuple[str, ...]
    files: tuple[str, ...]


@dataclass
class VerifyPlan:
    """What `verify` runs: groups of hosts sharing test files, and the role defaults the tests'
    `provision_vars` start from (the roles' own, in the order the playbook uses them)."""

    groups: list[VerifyGroup] = field(default_factory=list)
    defaults: dict = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)  # role names covered, for messages
    # host -> the user its checks run as through sudo, from the plays that apply its roles with
    # `become: true` (apply's sudo); a host absent here follows its inventory (ansible_become)
    become: dict[str, str] = field(default_factory=dict)

    @property
    def hosts(self) -> list[str]:
        return [host for group in self.groups for host in group.hosts]

    def only(self, names: list[str]) -> VerifyPlan:
        """The same plan for `names` alone (the hosts a check-mode run could reach)."""
        wanted = set(names)
        groups = [VerifyGroup(tuple(host for host in group.hosts if host in wanted), group.files)
                  for group in self.groups]
        return VerifyPlan([group for group in groups if group.hosts], self.defaults, self.roles,
                          {host: user for host, user in self.become.items() if host in wanted})


def role_tests(role_path: str) -> list[str]:
    return sorted(glob.glob(os.path.join(role_path, "tests", "test_*.py")))


def site_tests(site_dir: str | None) -> list[str]:
    return sorted(glob.glob(os.path.join(site_dir, "test_*.py"))) if site_dir and os.path.isdir(site_dir) else []


def plan_of(playbook: Playbook, inventory: Inventory, names: list[str], extra_vars: dict, site_dir: str | None = None,
            with_site: bool = False, only_roles: list[str] | None = None) -> VerifyPlan:
    """The plan for `names` (already limited): per host, the tests of the roles that the plays
    targeting it use (`only_roles` narrows them), plus the site tests when `with_site`."""
    wanted = set(names)
    files_of: dict[str, list[str]] = {name: [] for name in names}
    plan = VerifyPlan()
    for play in playbook.plays:
        targets = [name for name in targeted_hosts(inventory, play_pattern(play, extra_vars), None) if name in wanted]
        if _literally_true(play.become) and any(role_tests(role.path) for role in play.all_roles.values()):
            for name in targets:
                plan.become.setdefault(name, str(play.become_user or "root"))
        for role in play.all_roles.values():
            if only_roles is not None and role.name not in only_roles:
                continue
            if role.name not in plan.roles:
                plan.roles.append(role.name)
                plan.defaults.update(role.defaults)
            for path in role_tests(role.path):
                for name in targets:
                    if path not in files_of[name]:
                        files_of[name].append(path)
    if with_site and only_roles is None:
        for name in names:
            files_of[name] += [path for path in site_tests(site_dir) if path not in files_of[name]]
    grouped: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        if files_of[name]:
            grouped.setdefault(tuple(files_of[name]), []).append(name)
    plan.groups = [VerifyGroup(tuple(hosts), files) for files, hosts in grouped.items()]
    return plan


def _literally_true(value) -> bool:
    """A play's `become:` that is true as written (a template is left to the inventory's setting)."""
    try:
        return value is not None and "{{" not in str(value) and to_bool(value)
    except NotABoolean:
        return False

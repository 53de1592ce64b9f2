"""A host's state across one run: its connection, facts, set_fact/registered variables, recap.

One HostState per inventory host per run. Its connection is opened once and reused by every task
of every play (the run's "one connection per host"), and closed when the run ends.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from provision.errors import ConnectionFailed
from provision.facts import gather_facts
from provision.inventory import CONNECTION_VARIABLES, Host, Inventory, rendered_connection
from provision.runner.options import RunOptions
from provision.runner.prefetch import PrefetchCache
from provision.runner.results import HostRecap
from provision.templating import TemplateError
from provision.transport.base import Transport
from provision.transport.connect import connect
from provision.variables import layer


@dataclass
class HostState:
    host: Host
    recap: HostRecap
    transport: Transport | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    facts_gathered: bool = False
    registered: dict[str, Any] = field(default_factory=dict)  # set_fact and register, highest but -e
    failed: bool = False
    unreachable: bool = False
    cache: PrefetchCache = field(default_factory=PrefetchCache)  # batched reads (runner/prefetch.py)
    reached_start: bool = False  # --start-at-task: this host has reached the named task
    remote_user: str | None = None  # the current play's `remote_user:` (below the inventory's ansible_user)
    connected_as: str | None = None  # the remote_user the open connection was made for
    check_pending: set[str] = field(default_factory=set)  # check mode: see Module.check_leaves

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def done(self) -> bool:
        """A failed or unreachable host takes no part in later tasks or plays (as in Ansible)."""
        return self.failed or self.unreachable

    def inventory_vars(self, options: RunOptions) -> dict[str, Any]:
        return layer(self.host.vars, self.facts, self.registered, options.extra_vars)

    def connect(self, options: RunOptions, remote_user: str | None = None) -> Transport:
        """The host's one connection; opened on first use. Raises ConnectionFailed.

        `remote_user`: a task's or block's own (else the play's). As in Ansible, the inventory's
        ansible_user wins over the keyword; otherwise another user means another login, and the
        batched reads made by the last one are dropped (another user may read otherwise)."""
        wanted = remote_user or self.remote_user
        if self.transport is not None and self.connected_as != wanted:
            if any(self.inventory_vars(options).get(key) for key in CONNECTION_VARIABLES["user"]):
                wanted = self.connected_as  # the keyword does not apply: the same login serves
            else:
                self.close()  # another play, task or block logs in as another user
                self.cache.clear()
        if self.transport is None:
            variables = self.inventory_vars(options)
            if wanted and not any(variables.get(key) for key in CONNECTION_VARIABLES["user"]):
                variables = {**variables, "ansible_user": wanted}
            self.transport = open_transport(self.name, variables, options)
            self.connected_as = wanted
        return self.transport

    def gather(self, options: RunOptions) -> None:
        if not self.facts_gathered:
            self.facts.update(gather_facts(self.connect(options)))
            self.facts["ansible_facts"] = {key[len("ansible_"):]: value for key, value in self.facts.items()
                                           if key.startswith("ansible_")}
            self.facts_gathered = True

    def close(self, reason: str = "") -> None:
        """Close the connection; `reason` is what a command cut by this close reports."""
        transport = self.transport
        if transport is not None:
            self.recap.exec_channels += transport.commands_sent
            transport.closed_reason = reason
            transport.close()
            self.transport = None


def open_transport(name: str, variables: dict[str, Any], options: RunOptions) -> Transport:
    """Connect as the inventory says: ansible_* variables (templated), then ~/.ssh/config."""
    try:
        connection, rendered = rendered_connection(name, variables)
    except TemplateError as error:
        raise ConnectionFailed(f"{name}: connection variables: {error}") from None
    return connect(name, connection, rendered, options.connect_options)


class HostVars(Mapping):
    """`hostvars`: every host's inventory vars, facts and set_facts, built only when read."""

    def __init__(self, states: dict[str, HostState], inventory: Inventory, options: RunOptions):
        self._states = states
        self._inventory = inventory
        self._options = options

    def __getitem__(self, name: str) -> dict[str, Any]:
        state = self._states.get(name)
        if state is not None:
            return state.inventory_vars(self._options) | {"inventory_hostname": name}
        host = self._inventory.hosts[name]
        return layer(host.vars, self._options.extra_vars) | {"inventory_hostname": name}

    def __iter__(self) -> Iterator[str]:
        return iter(self._inventory.hosts)

    def __len__(self) -> int:
        return len(self._inventory.hosts)

"""Opening the connection to one host from its connection settings: ssh or local.

The one place that turns "where and how" (the inventory's ansible_* variables, already rendered)
into a Transport, for everything that reaches hosts: the runner, verify's reachability probe,
onboarding. It takes plain values, so nothing below the runner needs the runner to connect.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from provision.errors import ConnectionFailed
from provision.transport.base import Transport
from provision.transport.local import LocalTransport
from provision.transport.ssh import SSHTransport
from provision.transport.sshargs import parse_ssh_args, retries_problem


@dataclass(frozen=True)
class ConnectOptions:
    """The command line's say in connecting: -T, --accept-new-host-keys, -F."""

    accept_new_host_keys: bool = False
    timeout: float = 10.0
    ssh_config: str | None = None


class ConnectionSettings(Protocol):
    """What connect needs of inventory.Connection (kept structural: transport imports no inventory)."""

    connection: str
    address: str
    port: int
    user: str | None
    private_key_file: str | None


def connect(name: str, settings: ConnectionSettings, rendered: Mapping[str, Any],
            options: ConnectOptions = ConnectOptions()) -> Transport:
    """An open Transport to the host; raises ConnectionFailed (HostKeyRejected) when it cannot.

    The port is passed only when the inventory set one, so ~/.ssh/config's Port still applies.
    ansible_ssh_retries is Ansible's name for the tries after a failed connection; Ansible makes
    none by default, provision one, and only after a failure that may clear (SSHTransport.open)."""
    if settings.connection == "local":
        return LocalTransport(name)
    # ansible_ssh_common_args/extra_args: below the inventory's own variables, above ssh_config
    extra = parse_ssh_args(rendered.get("ansible_ssh_common_args"), rendered.get("ansible_ssh_extra_args"))
    known_hosts = rendered.get("provision_known_hosts_file")
    known_files = ([os.path.expanduser(str(known_hosts))] if known_hosts
                   else [os.path.expanduser(path) for path in extra.options["userknownhostsfile"].split()]
                   if "userknownhostsfile" in extra.options else None)
    key_file = settings.private_key_file or extra.options.get("identityfile")
    port = settings.port if "ansible_port" in rendered or "ansible_ssh_port" in rendered else None
    retries = rendered.get("ansible_ssh_retries", 1)
    if retries_problem(retries):
        raise ConnectionFailed(retries_problem(retries))
    return SSHTransport.connect(
        settings.address,
        port=port,
        user=settings.user,
        key_filename=os.path.expanduser(key_file) if key_file else None,
        known_hosts_files=known_files,
        accept_new_host_keys=options.accept_new_host_keys or extra.strict in ("accept-new", "no"),
        connect_timeout=options.timeout,
        ssh_config_path=options.ssh_config or extra.config_file,
        command_line=extra.options,
        retries=int(str(retries).strip()),
    )

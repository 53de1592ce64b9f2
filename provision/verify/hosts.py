"""Testinfra host specs from a provision inventory: the same user, port, key, known_hosts and sudo
as `apply`, through testinfra's own `ssh` backend (OpenSSH), with strict host-key checking.

testinfra's paramiko backend only warns about an unknown host key and goes on, so it is never used; the
`ssh` backend reads an ssh_config, and the one written here says exactly how to reach each host,
with `StrictHostKeyChecking yes` (or `accept-new` when the user asked for it, as with apply).

A host with `ansible_connection: local` is this machine: testinfra's `local` backend runs its checks
here (no SSH). That backend names its one host `local`, whatever the inventory calls it, so
provision.verify.run maps `local` back to the inventory name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlencode

from provision.inventory import Host, rendered_connection
from provision.templating import TemplateError
from provision.errors import InputError
from provision.transport.local import current_user


@dataclass(frozen=True)
class VerifyTarget:
    name: str
    address: str
    port: int
    user: str | None
    key_file: str | None
    known_hosts: str | None
    sudo: bool
    sudo_user: str
    local: bool = False  # ansible_connection: local, checked on this machine


LOCAL_HOSTNAME = "local"  # testinfra's name for its local backend's host, in results and variables


def target_of(host: Host) -> VerifyTarget:
    try:
        connection, variables = rendered_connection(host.name, host.vars)
    except TemplateError as error:
        raise InputError(f"host {host.name}: connection variables: {error}") from None
    local = connection.connection == "local"
    user = current_user() if local else connection.user
    become_user = str(connection.become_user or "root")
    # As apply does (provision.transport.base.needed_become): no sudo when already that user.
    sudo = bool(connection.become) and user != become_user
    if sudo and connection.become_password:
        raise InputError(f"host {host.name}: verify runs sudo without a password (testinfra cannot type one); "
                         "give the user NOPASSWD sudo for verification, or connect as root")
    return VerifyTarget(host.name, connection.address, connection.port, user,
                        os.path.expanduser(connection.private_key_file) if connection.private_key_file else None,
                        variables.get("provision_known_hosts_file"), sudo, become_user, local)


CONTROL_PERSIST = 120  # seconds a host's one connection outlives its last test (run.py ends it)


def ssh_config(targets: list[VerifyTarget], accept_new_host_keys: bool = False, control_dir: str = "") -> str:
    """The ssh_config testinfra's `ssh` backend reads (-F). With `control_dir`, each host's tests
    share one multiplexed connection (ControlMaster): testinfra ignores a `controlpath` given in
    the host URL, and without it every `host.run` made a full SSH handshake (~60 per host)."""
    blocks = []
    for target in targets:
        if target.local:
            continue
        lines = [f"Host {target.name}", f"  HostName {target.address}", f"  Port {target.port}",
                 "  BatchMode yes", "  IdentitiesOnly yes" if target.key_file else "",
                 f"  StrictHostKeyChecking {'accept-new' if accept_new_host_keys else 'yes'}"]
        if control_dir:
            lines += ["  ControlMaster auto", f"  ControlPath {control_dir}/cm-%C",
                      f"  ControlPersist {CONTROL_PERSIST}"]
        if target.user:
            lines.append(f"  User {target.user}")
        if target.key_file:
            lines.append(f"  IdentityFile {target.key_file}")
        if target.known_hosts:
            lines.append(f"  UserKnownHostsFile {target.known_hosts}")
        blocks.append("\n".join(line for line in lines if line))
    return "\n\n".join(blocks) + "\n"


def hostspec(target: VerifyTarget, config_path: str) -> str:
    """`ssh://NAME?ssh_config=...&sudo=...` for testinfra's --hosts (the multiplexing is in the
    ssh_config). A local host is `local://` (with sudo when it needs one)."""
    sudo = {"sudo": "true", "sudo_user": target.sudo_user} if target.sudo else {}
    if target.local:
        return f"local://?{urlencode(sudo)}" if sudo else "local://"
    query = {"ssh_config": config_path, "timeout": "10", "controlpersist": str(CONTROL_PERSIST)}
    query.update(sudo)
    return f"ssh://{target.name}?{urlencode(query)}"

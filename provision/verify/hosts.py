"""Testinfra host specs from a provision inventory: the same user, port, key, known_hosts and sudo
as `apply`, through provision.verify.backend (provision's own SSH connection and host-key policy).

testinfra's paramiko backend only warns about an unknown host key and goes on, and its ssh backend
makes a handshake per command unless OpenSSH multiplexing works, so neither is used.

A host with `ansible_connection: local` is this machine: testinfra's `local` backend runs its checks
here (no SSH). That backend names its one host `local`, whatever the inventory calls it, so
provision.verify.run maps `local` back to the inventory name.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from provision.inventory import Connection, Host, rendered_connection
from provision.templating import TemplateError
from provision.errors import InputError
from provision.transport.local import current_user


@dataclass(frozen=True)
class VerifyTarget:
    name: str
    connection: Connection  # rendered once here; the worker's connection record is made from it
    rendered: dict  # the rendered ansible_*/provision_* variables (known_hosts file, port given or not)
    sudo: bool
    sudo_user: str
    local: bool = False  # ansible_connection: local, checked on this machine


CONNECTIONS_VARIABLE = "PROVISION_VERIFY_CONNECTIONS"  # the worker's connection file (verify/backend.py)
EVENTS_VARIABLE = "PROVISION_VERIFY_EVENTS"  # the worker's events pipe, a file descriptor (verify/plugin.py)
LOCAL_HOSTNAME = "local"  # testinfra's name for its local backend's host, in results and variables


def target_of(host: Host, play_become: str | None = None, become_password: str | None = None) -> VerifyTarget:
    """How verify reaches `host`; `play_become` is the user the playbook's plays sudo to on it
    (verify/plan.py), which wins over the inventory's ansible_become as a play keyword does in apply."""
    try:
        connection, variables = rendered_connection(host.name, host.vars)
    except TemplateError as error:
        raise InputError(f"host {host.name}: connection variables: {error}") from None
    local = connection.connection == "local"
    user = current_user() if local else connection.user
    become_user = play_become or str(connection.become_user or "root")
    # As apply does (provision.transport.base.needed_become): no sudo when already that user.
    sudo = (play_become is not None or bool(connection.become)) and user != become_user
    if local and sudo and (connection.become_password or become_password):
        raise InputError(f"host {host.name}: verify runs sudo on this machine without a password (testinfra's "
                         "local backend cannot type one); give the user NOPASSWD sudo, or run as root")
    return VerifyTarget(host.name, connection, variables, sudo, become_user, local)


def hostspec(target: VerifyTarget) -> str:
    """`provision://NAME` for testinfra's --hosts (provision.verify.backend: provision's own
    connection, sudo as apply's become). A local host is `local://` (with sudo when it needs one)."""
    if not target.local:
        return f"provision://{target.name}"
    sudo = {"sudo": "true", "sudo_user": target.sudo_user} if target.sudo else {}
    return f"local://?{urlencode(sudo)}" if sudo else "local://"


def connection_record(connection, rendered: dict, options, sudo_user: str | None,
                      sudo_password: str | None = None) -> dict:
    """What a worker needs to reach one host, as JSON-ready data (written by the parent into its
    private temporary folder, mode 0700, removed when the run ends; read by verify/backend.py)."""
    kept = {key: rendered[key] for key in ("provision_known_hosts_file", "ansible_port", "ansible_ssh_port",
                                               "ansible_ssh_common_args", "ansible_ssh_extra_args")
            if key in rendered}
    return {"connection": {"address": connection.address, "port": connection.port, "user": connection.user,
                           "private_key_file": connection.private_key_file, "connection": connection.connection},
            "rendered": kept, "sudo_user": sudo_user, "sudo_password": sudo_password,
            "options": {"accept_new_host_keys": options.accept_new_host_keys, "timeout": options.timeout,
                        "ssh_config": options.ssh_config}}

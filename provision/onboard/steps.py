"""`provision onboard`: a new GPU server from "it answers SSH" to "in the inventory and verified".

The steps are small functions here (the inventory edit is in provision/onboard/inventory.py);
provision/commands/onboard.py strings them together and prints. In order: trust the host key (known, given
as --host-key-fingerprint, or confirmed on a terminal), reach the host with the inventory's key
(installing it over a password login when the host takes only a password), check sudo, read the
host with the `preflight` play, add the host to the inventory (comments, order and layout kept),
apply, verify.

The easy thing to get wrong is the order of side effects: nothing is written anywhere (host,
inventory, known_hosts) until the host key is trusted, and the inventory is written atomically
only after the host has been read, so a refused or failed onboarding leaves the file as it was.
"""
from __future__ import annotations

import dataclasses
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from provision.errors import BecomeFailed, ConnectionFailed, HostKeyRejected, InputError, ProvisionError
from provision.inventory import Inventory, rendered_connection
from provision.playbook.model import Playbook
from provision.runner.results import RunReport
from provision.templating import TemplateError
from provision.transport.base import Become, Transport
from provision.transport.ssh import SSHTransport, append_known_host, fingerprint, resolve_settings


class OnboardError(ProvisionError):
    """Onboarding stopped; the message says at which step, why, and what to do."""


# ---- the connection to onboard with ------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where and as whom to reach the new host, after the inventory and ~/.ssh/config filled gaps."""

    name: str  # the inventory name
    address: str
    port: int
    user: str
    key_file: str | None  # the inventory's private key; its ".pub" is what gets installed
    known_hosts: str  # where its host key is (or will be) recorded, as apply reads it

    @property
    def known_hosts_name(self) -> str:
        """The host as known_hosts names it (OpenSSH: `[address]:port` off port 22)."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


def connection_variables(address: str, user: str | None, port: int | None, key_file: str | None) -> dict[str, Any]:
    """The host's inventory entry: ansible_host, and the user, port (off 22) and key when given."""
    variables: dict[str, Any] = {"ansible_host": address}
    if user:
        variables["ansible_user"] = user
    if port and port != 22:
        variables["ansible_port"] = port
    if key_file:
        variables["ansible_ssh_private_key_file"] = key_file
    return variables


def resolve_target(inventory: Inventory, name: str, key_file: str | None, ssh_config: str | None) -> Target:
    """The target from the host's resolved inventory variables (templated as apply templates them)."""
    variables = inventory.hosts[name].vars
    try:
        connection, rendered = rendered_connection(name, variables)
    except TemplateError as error:
        raise InputError(f"{name}: connection variables: {error}") from None
    key = key_file or connection.private_key_file
    known = rendered.get("provision_known_hosts_file")
    settings = resolve_settings(connection.address, connection.port, connection.user,
                                os.path.expanduser(str(key)) if key else None,
                                [os.path.expanduser(str(known))] if known else None, ssh_config)
    return Target(name, settings.address, settings.port, settings.user,
                  settings.key_filenames[0] if settings.key_filenames else None, settings.known_hosts_files[0])


# ---- host key -------------------------------------------------------------------------------------

def scan_host_key(address: str, port: int, timeout: float) -> paramiko.PKey:
    """The key the host offers, read before any authentication (what `ssh-keyscan` does)."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as error:
        raise ConnectionFailed(f"{address}:{port}: {error.strerror or error}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as error:
        raise ConnectionFailed(f"{address}:{port}: no SSH handshake ({error or type(error).__name__})") from None
    finally:
        transport.close()


def known_host_keys(target: Target) -> dict[str, paramiko.PKey]:
    """key type -> key recorded for the host in its known_hosts file (empty when unknown)."""
    if not os.path.exists(target.known_hosts):
        return {}
    try:
        keys = paramiko.HostKeys(target.known_hosts)
    except (OSError, paramiko.SSHException) as error:
        raise ConnectionFailed(f"cannot read known_hosts file {target.known_hosts}: {error}") from None
    return dict(keys.lookup(target.known_hosts_name) or {})


def trust_host_key(target: Target, offered: paramiko.PKey, expected_fingerprint: str | None,
                   confirm: Callable[[str], bool] | None) -> bool:
    """Decide whether the offered key is the host's; True when it still has to be recorded.

    Known and equal: trusted. Known with another key: refused (always). Unknown: it must match
    --host-key-fingerprint, or the user must say yes on a terminal; there is no silent accept.
    """
    offered_print = fingerprint(offered)
    if expected_fingerprint and expected_fingerprint.strip() != offered_print:
        raise HostKeyRejected(
            f"{target.address} offered host key {offered.get_name()} {offered_print}, not the expected "
            f"{expected_fingerprint.strip()}: refused, nothing was changed")
    known = known_host_keys(target)
    if known.get(offered.get_name()) == offered:
        return False
    if known:
        recorded = ", ".join(f"{kind} {fingerprint(key)}" for kind, key in known.items())
        raise HostKeyRejected(
            f"host key for {target.address} CHANGED: {target.known_hosts} has {recorded}, the host offered "
            f"{offered.get_name()} {offered_print}. This can be an attack; if the host was re-installed, "
            f"remove the old key with `ssh-keygen -R {target.known_hosts_name} -f {target.known_hosts}`")
    if expected_fingerprint:
        return True
    question = (f"The host {target.address} is not known. Its key is {offered.get_name()} {offered_print}.\n"
                f"Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_{_short_type(offered)}_key.pub` on the "
                f"host's console. Record it in {target.known_hosts} and continue?")
    if confirm is None:
        raise HostKeyRejected(
            f"host key for {target.address} is not known ({offered.get_name()} {offered_print}) and there is "
            f"no terminal to ask on: check it, then pass --host-key-fingerprint {offered_print}")
    if not confirm(question):
        raise HostKeyRejected(f"host key for {target.address} not accepted: nothing was changed")
    return True


def _short_type(key: paramiko.PKey) -> str:
    name = key.get_name()
    return "ed25519" if "ed25519" in name else "ecdsa" if "ecdsa" in name else "rsa"


def record_host_key(target: Target, key: paramiko.PKey) -> None:
    """Append the key to the inventory's known_hosts, the way OpenSSH's accept-new writes it."""
    append_known_host(target.known_hosts, target.known_hosts_name, key)


def pinned_known_hosts(folder: str, target: Target, key: paramiko.PKey) -> str:
    """A known_hosts file holding only the trusted key: the onboarding connections check against it
    strictly before the key is recorded for good (so a refused host leaves no trace)."""
    path = os.path.join(folder, "known_hosts")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{target.known_hosts_name} {key.get_name()} {key.get_base64()}\n")
    return path


# ---- authentication and the public key -------------------------------------------------------------

def open_with_key(target: Target, known_hosts: str, timeout: float) -> SSHTransport | None:
    """A connection with the inventory's key, or None when the host refuses that key."""
    if not target.key_file or not key_auth_accepted(target, known_hosts, timeout):
        return None
    return SSHTransport.connect(target.address, port=target.port, user=target.user, key_filename=target.key_file,
                                known_hosts_files=[known_hosts], connect_timeout=timeout)


def key_auth_accepted(target: Target, known_hosts: str, timeout: float) -> bool:
    """Does the host take the inventory's key for this user? Only that key is offered (no agent)."""
    try:
        key = paramiko.PKey.from_path(target.key_file)
    except (OSError, paramiko.SSHException, ValueError) as error:
        raise InputError(f"cannot read the private key {target.key_file}: {error}") from None
    expected = known_host_keys(dataclasses.replace(target, known_hosts=known_hosts))
    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
    except OSError as error:
        raise ConnectionFailed(f"{target.address}:{target.port}: {error.strerror or error}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        offered = transport.get_remote_server_key()
        if expected.get(offered.get_name()) != offered:
            raise HostKeyRejected(f"{target.address} offered another host key than a moment ago: refused")
        transport.auth_publickey(target.user, key)
        return transport.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    except (paramiko.SSHException, EOFError, OSError) as error:
        raise ConnectionFailed(f"{target.user}@{target.address}:{target.port}: {error or type(error).__name__}") from None
    finally:
        transport.close()


def open_with_password(target: Target, known_hosts: str, password: str, timeout: float) -> SSHTransport:
    try:
        return SSHTransport.connect(target.address, port=target.port, user=target.user, password=password,
                                    known_hosts_files=[known_hosts], connect_timeout=timeout)
    except HostKeyRejected:
        raise
    except ConnectionFailed as error:
        raise OnboardError(f"password login as {target.user} failed: {error}") from None


def public_key_text(key_file: str) -> str:
    """The `type base64 comment` line of the inventory key's .pub file."""
    path = key_file + ".pub"
    try:
        with open(path, encoding="utf-8") as handle:
            line = handle.read().strip()
    except OSError as error:
        raise InputError(f"cannot read the public key {path} (installed for password-only hosts): "
                         f"{error.strerror}") from None
    if len(line.split()) < 2 or "\n" in line:
        raise InputError(f"{path} is not one OpenSSH public key line")
    return line


# Reads the key line on stdin: user data never enters the script text. Prints "added" or "present".
INSTALL_KEY_SCRIPT = r"""
umask 077
IFS= read -r key || exit 3  # a cut connection leaves a line without its newline: add nothing
set -- $key
mkdir -p "$HOME/.ssh" && touch "$HOME/.ssh/authorized_keys" || exit 3
if grep -qF "$1 $2" "$HOME/.ssh/authorized_keys"; then echo present; exit 0; fi
[ -s "$HOME/.ssh/authorized_keys" ] && [ -n "$(tail -c 1 "$HOME/.ssh/authorized_keys")" ] && echo >> "$HOME/.ssh/authorized_keys"
printf '%s\n' "$key" >> "$HOME/.ssh/authorized_keys" || exit 3
command -v restorecon >/dev/null 2>&1 && restorecon -R "$HOME/.ssh" 2>/dev/null
echo added
"""


def install_public_key(transport: Transport, public_key: str) -> bool:
    """Add the key to the login user's authorized_keys unless it is there; True when added."""
    result = transport.run(INSTALL_KEY_SCRIPT, stdin=public_key + "\n", timeout=60)
    outcome = result.stdout.strip().splitlines()[-1:] if result.ok else []
    if outcome not in (["added"], ["present"]):
        raise OnboardError(f"could not install the public key into ~/.ssh/authorized_keys "
                           f"(rc={result.rc}): {result.stderr.strip()[:300]}")
    return outcome == ["added"]


def check_become(transport: Transport, target: Target) -> None:
    """The site playbook runs with `become` (sudo, no password for verify): say clearly when not."""
    try:
        result = transport.run("true", become=Become(), timeout=60)
    except BecomeFailed as error:
        if "needs a password" in str(error):
            raise OnboardError(
                f"sudo asks {target.user} on {target.name} for a password; onboarding (and the nightly checks) "
                f"need passwordless sudo: add `{target.user} ALL=(ALL:ALL) NOPASSWD: ALL` in /etc/sudoers.d/, "
                f"or onboard as root (--user root)") from None
        raise OnboardError(f"sudo does not work for {target.user} on {target.name}: {error}") from None
    if not result.ok:
        raise OnboardError(f"sudo true failed for {target.user} on {target.name} (rc={result.rc}): "
                           f"{result.stderr.strip()[:300]}")


# ---- preflight, and what the run did ---------------------------------------------------------------

def preflight_playbook(playbook: Playbook) -> Playbook:
    """The site playbook cut to its play(s) that run the `preflight` role."""
    plays = [play for play in playbook.plays if any(role.name == "preflight" for role in play.roles)]
    if not plays:
        raise InputError(f"{playbook.path} has no play with the preflight role")
    return dataclasses.replace(playbook, plays=plays[:1])


def preflight_facts(report: RunReport, host: str) -> dict[str, Any]:
    """gpu_preflight's facts from a preflight run; OnboardError with its reasons when it refused."""
    rows = [row for row in report.results if row.host == host and row.module == "gpu_preflight"]
    if report.unreachable_hosts:
        raise OnboardError(f"{host} unreachable during preflight: {report.recaps[host].reason}")
    if not rows:
        failed = [row for row in report.results if row.host == host and row.status == "failed"]
        why = failed[-1].msg if failed else "the preflight task did not run"
        raise OnboardError(f"preflight could not read {host}: {why}")
    if rows[-1].status == "failed":
        raise OnboardError(f"{rows[-1].msg}\nnothing was installed and the inventory was not changed")
    return rows[-1].output


def plan_lines(facts: dict[str, Any], variables: dict[str, Any]) -> list[str]:
    """What the site playbook will do, from the host's facts and its (rendered) variables."""
    branch = str(variables.get("nvidia_driver_branch", "580"))
    installed = str(facts.get("installed_driver") or "")
    lines = [f"NVIDIA driver branch {branch} ({facts.get('flavour', 'open')} kernel modules)"
             + (f", replacing {installed}" if installed and not installed.startswith(branch + ".") else
                " (already installed)" if installed else "")]
    if facts.get("nvswitch_count"):
        lines.append(f"NVIDIA Fabric Manager for {facts['nvswitch_count']} NVSwitch(es)")
    lines.append(f"NVIDIA Container Toolkit {variables.get('nvidia_container_toolkit_version', '')}".rstrip())
    lines.append(f"Docker ({variables.get('docker_install_source', 'docker')} packages)")
    if variables.get("pytorch_image"):
        lines.append(f"PyTorch image {variables['pytorch_image']}")
    return lines


def reboot_expected(facts: dict[str, Any], branch: str) -> bool:
    """A reboot is due when one is pending or the driver that will run is not the loaded one."""
    installed = str(facts.get("installed_driver") or "")
    loaded = str(facts.get("loaded_driver") or "")
    return bool(facts.get("reboot_pending")) or not installed.startswith(f"{branch}.") or loaded != installed


PACKAGE_QUERY = ("dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' "
                 "'nvidia-driver' 'nvidia-open*' 'cuda-drivers*' 'nvidia-dkms*' 'nvidia-kernel*-dkms' "
                 "'nvidia-container-toolkit' 'nvidia-fabricmanager*' "
                 "'docker.io' 'docker-ce' 2>/dev/null || "
                 "rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' nvidia-driver nvidia-container-toolkit docker-ce "
                 "2>/dev/null | grep -v 'not installed' | sed 's/^/ii /'")


def installed_versions(transport: Transport) -> dict[str, str]:
    """package -> version of the GPU stack's packages that are installed on the host."""
    result = transport.run(PACKAGE_QUERY, timeout=60)
    versions = {}
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0][1:2] == "i":  # "ii" installed, "hi" installed and held
            versions[words[1]] = words[2]
    return versions


def changed_tasks(report: RunReport, host: str) -> list[str]:
    return [row.task for row in report.results if row.host == host and row.status == "changed" and not row.handler]


FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


def check_fingerprint_syntax(text: str | None) -> None:
    if text is not None and not FINGERPRINT.match(text.strip()):
        raise InputError(f"--host-key-fingerprint {text!r}: expected SHA256:<43 base64 characters>, "
                         "as `ssh-keygen -lf` prints it")

"""ansible_ssh_common_args / ansible_ssh_extra_args: the ssh options that decide where, as whom and
with which trust provision connects are honoured (known_hosts file, host-key policy, key,
ProxyJump); the rest of ssh's options are left aside. Over real sandbox hosts."""
from __future__ import annotations

import pytest

from provision.errors import ConnectionFailed, HostKeyRejected
from provision.inventory import connection_view
from provision.transport.connect import connect
from provision.transport.sshargs import parse_ssh_args


def test_options_in_ssh_spellings_first_value_wins():
    parsed = parse_ssh_args("-o UserKnownHostsFile=/k1 -oStrictHostKeyChecking=accept-new -o 'ProxyJump bastion' "
                            "-C -o ControlMaster=auto -o ControlPersist=60s -i ~/.ssh/id -p 2222",
                            "-o UserKnownHostsFile=/k2 -J other -q")
    assert parsed.options == {"userknownhostsfile": "/k1", "stricthostkeychecking": "accept-new",
                              "proxyjump": "bastion", "identityfile": "~/.ssh/id", "port": "2222"}
    assert parse_ssh_args("-o StrictHostKeyChecking=off").strict == "no"
    assert parse_ssh_args(None, "").options == {}


@pytest.mark.parametrize("text, message", [
    ("-o StrictHostKeyChecking=maybe", "StrictHostKeyChecking=maybe: expected yes, accept-new or no"),
    ("-o 'ProxyJump x", "cannot split"),
    ("bastion", "'bastion' is not an ssh option"),
    ("-o", "-o needs a value"),
])
def test_unreadable_options_are_named(text, message):
    with pytest.raises(ConnectionFailed, match=message):
        parse_ssh_args(text)


def _open(sandbox, host, **variables):
    """A connection as the runner makes it, from inventory variables alone (no provision_* ones)."""
    variables = {"ansible_host": sandbox.host(host).address, "ansible_user": "root",
                 "ansible_ssh_private_key_file": sandbox.key_path, **variables}
    return connect(host, connection_view(host, variables), variables)


@pytest.mark.sandbox
def test_known_hosts_file_and_policy_from_common_args(sandbox, tmp_path):
    trusted = _open(sandbox, "host03", ansible_ssh_common_args=f"-o UserKnownHostsFile={sandbox.known_hosts_path} "
                                                               "-o StrictHostKeyChecking=yes")
    try:
        assert trusted.run("hostname").stdout.strip() == "host03"
    finally:
        trusted.close()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyRejected, match="not in known_hosts"):
        _open(sandbox, "host03", ansible_ssh_common_args=f"-o UserKnownHostsFile={empty} -o StrictHostKeyChecking=yes")
    assert empty.read_text() == ""
    accepted = _open(sandbox, "host03", ansible_ssh_extra_args=f"-o UserKnownHostsFile={empty} "
                                                              "-o StrictHostKeyChecking=accept-new")
    accepted.close()
    assert empty.read_text().startswith(sandbox.host("host03").address + " ssh-")


@pytest.mark.sandbox
def test_proxy_jump_reaches_the_host_through_the_bastion(sandbox):
    bastion = sandbox.host("host01").address
    args = f"-o UserKnownHostsFile={sandbox.known_hosts_path} -o ProxyJump=root@{bastion}"
    through = _open(sandbox, "host04", ansible_ssh_common_args=args)
    try:
        # the session on host04 comes from the bastion's address, not from this machine's
        assert through.run("echo $SSH_CONNECTION").stdout.split()[0] == bastion
        assert through.run("hostname").stdout.strip() == "host04"
    finally:
        through.close()
    with pytest.raises(ConnectionFailed, match="through ProxyJump root@10.244.255.254"):
        _open(sandbox, "host04", ansible_ssh_common_args=f"-o UserKnownHostsFile={sandbox.known_hosts_path} "
                                                         "-J root@10.244.255.254")


@pytest.mark.sandbox
def test_a_bastion_whose_key_is_unknown_is_a_refused_host_key(sandbox, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    bastion = sandbox.host("host01").address
    with pytest.raises(HostKeyRejected, match=f"through ProxyJump root@{bastion}: .*not in known_hosts"):
        _open(sandbox, "host04", ansible_ssh_common_args=f"-o UserKnownHostsFile={empty} -J root@{bastion}")


@pytest.mark.parametrize("retries", ["two", -1, True, "1.5"])
def test_ansible_ssh_retries_must_be_a_count(retries):
    with pytest.raises(ConnectionFailed, match=r"ansible_ssh_retries must be a whole number of retries \(0 or more\)"):
        _open_address("192.0.2.1", ansible_ssh_retries=retries)


def test_ansible_ssh_retries_reaches_the_transport(monkeypatch):
    """Read from the inventory as Ansible spells it; the transport is built but not opened here
    (opening with retries is tested against real servers in test_connection_errors.py)."""
    from provision.transport import ssh

    opened = []
    monkeypatch.setattr(ssh.SSHTransport, "open", lambda self: opened.append(self.retries))
    for variables, expected in (({}, 1), ({"ansible_ssh_retries": 0}, 0), ({"ansible_ssh_retries": "3"}, 3)):
        _open_address("192.0.2.1", **variables)
        assert opened.pop() == expected


def _open_address(address, **variables):
    variables = {"ansible_host": address, "ansible_user": "root", **variables}
    return connect("h", connection_view("h", variables), variables)

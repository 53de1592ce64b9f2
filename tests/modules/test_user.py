"""user: its decisions as data on a fake host; over real SSH, an account created, converged, changed
in check mode with a diff, its groups set exactly or appended to, and removed."""
import pytest

from tests.conftest import run_module, ssh
from tests.modules.systemhost import ok, run_on

HOST = "host02"


def account(passwd="", primary="", groups="", namesake=False, known="", shadow=None):
    """The read command's output for an account (passwd empty: no such account)."""
    output = (f"\n@@provision:passwd@@\n{passwd}\n@@provision:primary@@\n{primary}\n@@provision:groups@@\n{groups}"
              f"\n@@provision:namesake@@\n{'yes' if namesake else ''}\n@@provision:known@@\n{known}\n")
    if shadow is not None:
        output += f"@@provision:shadow@@\n{shadow}\n"
    return output + "@@provision:end@@\n"


ALICE = "alice:x:1001:1001:Alice:/home/alice:/bin/bash"


def user(args, output, check=False):
    return run_on("user", args, [("s passwd;", ok(output))], check=check)


@pytest.mark.parametrize("args, output, command", [
    ({"name": "alice"}, account(), "useradd -m alice"),
    ({"name": "alice", "uid": 1500, "groups": ["adm", "sudo"], "shell": "/bin/sh", "create_home": False},
     account(known="adm:4\nsudo:27"), "useradd -u 1500 -G adm,sudo -s /bin/sh -M alice"),
    # a group named like the account exists: useradd must be told to use it
    ({"name": "alice"}, account(namesake=True), "useradd -g alice -m alice"),
    ({"name": "alice", "system": True, "comment": "A L"}, account(), "useradd -c 'A L' -r -m alice"),
    ({"name": "alice", "shell": "/bin/bash"}, account(ALICE, "alice", "alice adm"), None),
    ({"name": "alice", "shell": "/bin/sh"}, account(ALICE, "alice", "alice"), "usermod -s /bin/sh alice"),
    # exact groups: the primary group is never one of them
    ({"name": "alice", "groups": ["adm"]}, account(ALICE, "alice", "alice adm", known="adm:4"), None),
    ({"name": "alice", "groups": ["adm"]}, account(ALICE, "alice", "alice adm sudo", known="adm:4"),
     "usermod -G adm alice"),
    ({"name": "alice", "groups": ["sudo"], "append": True}, account(ALICE, "alice", "alice adm", known="sudo:27"),
     "usermod -a -G sudo alice"),
    ({"name": "alice", "groups": ["adm"], "append": True}, account(ALICE, "alice", "alice adm sudo", known="adm:4"),
     None),
    ({"name": "alice", "group": "1001"}, account(ALICE, "alice", "alice", known="alice:1001"), None),
    ({"name": "alice", "password": "$6$x$y"}, account(ALICE, "alice", "alice", shadow="$6$x$y"), None),
    ({"name": "alice", "password": "$6$x$z"}, account(ALICE, "alice", "alice", shadow="$6$x$y"),
     "usermod -p '$6$x$z' alice"),
    ({"name": "alice", "password": "$6$x$z", "update_password": "on_create"},
     account(ALICE, "alice", "alice", shadow="$6$x$y"), None),
    ({"name": "alice", "state": "absent", "remove": True}, account(ALICE, "alice", "alice"), "userdel -r alice"),
    ({"name": "alice", "state": "absent"}, account(), None),
])
def test_commands(args, output, command):
    result, host = user(args, output)
    assert result.status == ("changed" if command else "ok"), result.msg
    assert [sent for sent in host.actions() if sent.startswith(("user", "usermod"))][:1] == ([command] if command else [])


def test_a_missing_group_fails_before_anything_runs():
    result, host = user({"name": "alice", "groups": ["adm", "nosuch"]}, account(known="adm:4"))
    assert result.status == "failed"
    assert result.msg == "user: group nosuch does not exist on the host"
    assert host.actions() == []


def test_read_asks_for_the_shadow_hash_only_when_a_password_is_managed():
    _, plain = user({"name": "alice"}, account(ALICE, "alice", "alice"))
    _, managed = user({"name": "alice", "password": "$6$x$y"}, account(ALICE, "alice", "alice", shadow="$6$x$y"))
    assert "shadow" not in plain.commands[0] and "getent shadow" in managed.commands[0]


def test_the_password_never_reaches_the_message():
    from provision.transport.base import CommandResult
    result, _ = run_on("user", {"name": "alice", "password": "$6$secret"},
                       [("s passwd;", ok(account())), ("useradd", CommandResult(1, "", "useradd: failure"))])
    assert result.status == "failed" and "secret" not in result.msg and "********" in result.msg


@pytest.mark.sandbox
def test_account_lifecycle_over_ssh(sandbox, module_context):
    ssh(sandbox, HOST, "userdel -r provtest 2>/dev/null; groupdel provgrp 2>/dev/null; groupadd provgrp; true")
    context = module_context(HOST)
    wanted = {"name": "provtest", "groups": ["provgrp", "adm"], "shell": "/bin/sh", "comment": "Provision test"}

    preview = run_module("user", wanted, module_context(HOST, check=True))
    assert preview.status == "changed" and ssh(sandbox, HOST, "getent passwd provtest", check=False).returncode == 2

    created = run_module("user", wanted, context)
    assert created.status == "changed", created.msg
    assert created.data["shell"] == "/bin/sh" and created.data["groups"] == "adm,provgrp"
    assert ssh(sandbox, HOST, "id -Gn provtest").stdout.split() == ["provtest", "adm", "provgrp"]
    assert ssh(sandbox, HOST, "test -d /home/provtest && echo home").stdout.strip() == "home"

    again = run_module("user", wanted, context)
    assert again.status == "ok", again.msg

    exact = run_module("user", {"name": "provtest", "groups": ["adm"], "shell": "/bin/bash"},
                       module_context(HOST, check=True))
    assert exact.status == "changed"
    assert "-groups: adm,provgrp" in exact.diff and "+groups: adm" in exact.diff and "+shell: /bin/bash" in exact.diff
    assert ssh(sandbox, HOST, "getent passwd provtest").stdout.strip().endswith(":/bin/sh")

    appended = run_module("user", {"name": "provtest", "groups": ["adm"], "append": True}, context)
    assert appended.status == "ok"

    removed = run_module("user", {"name": "provtest", "state": "absent", "remove": True}, context)
    assert removed.status == "changed", removed.msg
    assert ssh(sandbox, HOST, "getent passwd provtest; test -e /home/provtest", check=False).returncode != 0
    ssh(sandbox, HOST, "groupdel provgrp")


@pytest.mark.sandbox
def test_generate_ssh_key_makes_the_pair_once_owned_by_the_account(sandbox, module_context):
    """As Ansible's generate_ssh_key (DeepOps' deepops_users role): ~/.ssh 0700, the pair the
    account's, the default comment 'ansible-generated on HOSTNAME', made once; the fingerprint,
    path and public key registered; check mode only plans it."""
    ssh(sandbox, HOST, "userdel -r provkey 2>/dev/null; true")
    context = module_context(HOST)
    wanted = {"name": "provkey", "generate_ssh_key": True, "ssh_key_bits": 2048}
    planned = run_module("user", wanted, module_context(HOST, check=True))
    assert planned.status == "changed" and "+ssh_key_file: .ssh/id_rsa" in planned.diff, planned.diff
    made = run_module("user", wanted, context)
    assert made.status == "changed", made.msg
    host = ssh(sandbox, HOST, "hostname").stdout.strip()
    assert made.data["ssh_key_file"] == "/home/provkey/.ssh/id_rsa"
    assert made.data["ssh_fingerprint"].startswith("2048 SHA256:")
    assert made.data["ssh_fingerprint"].endswith(f"ansible-generated on {host} (RSA)")
    public = ssh(sandbox, HOST, "cat /home/provkey/.ssh/id_rsa.pub").stdout.strip()
    assert made.data["ssh_public_key"] == public and public.startswith("ssh-rsa ")
    owners = ssh(sandbox, HOST, "stat -c '%U %a' /home/provkey/.ssh /home/provkey/.ssh/id_rsa "
                                "/home/provkey/.ssh/id_rsa.pub").stdout.split("\n")[:3]
    assert owners == ["provkey 700", "provkey 600", "provkey 644"]
    again = run_module("user", wanted, context)
    assert again.status == "ok" and again.data["ssh_public_key"] == public, "made once, never replaced"
    other = run_module("user", {"name": "provkey", "generate_ssh_key": True, "ssh_key_type": "ed25519",
                                "ssh_key_file": ".ssh/deploy", "ssh_key_comment": "deploy key"}, context)
    assert other.status == "changed" and other.data["ssh_public_key"].startswith("ssh-ed25519 ")
    assert other.data["ssh_public_key"].endswith(" deploy key")
    ssh(sandbox, HOST, "userdel -r provkey")

"""systemd: its decisions as data on a fake host (masking, daemon-reload, no facts); over real SSH on
sandbox hosts (no systemd running), the fall-back to init scripts. A host running systemd is
tests/modules/test_service_systemd_host.py."""
import pytest

from tests.conftest import run_module
from tests.modules.systemhost import ok, run_on
from tests.support.services import boot_links, install_fake_service, is_running

HOST = "host03"


SYSTEMD = {"ansible_service_mgr": "systemd"}
DEBIAN = {"ansible_service_mgr": "service", "ansible_os_family": "Debian"}
MASKED = "LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n"
NOT_FOUND = "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
RUNNING = "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n"


def systemd(args, read="", facts=SYSTEMD, check=False):
    """(result, every command sent) of systemd on a fake host whose read says `read`."""
    needles = ("systemctl show", "if [ -x", "if [ -d /run/systemd/system ]")
    result, host = run_on("systemd", args, [(needle, ok(read)) for needle in needles], facts=facts, check=check)
    return result, [command.removesuffix(" </dev/null") for command in host.commands]


def test_unmask_comes_before_start_and_daemon_reload_first():
    result, commands = systemd({"name": "nvidia-fabricmanager", "state": "started", "masked": False,
                                "daemon_reload": True}, MASKED)
    assert result.status == "changed", result.msg
    assert commands[1:4] == ["systemctl daemon-reload", "systemctl unmask -- nvidia-fabricmanager",
                             "systemctl start -- nvidia-fabricmanager"]


def test_a_unit_is_masked_before_it_is_installed():
    result, commands = systemd({"name": "nouveau-helper", "masked": True}, NOT_FOUND)
    assert result.status == "changed", result.msg
    assert commands[1] == "systemctl mask -- nouveau-helper"
    again, commands = systemd({"name": "nouveau-helper", "masked": True}, MASKED)
    assert again.status == "ok" and again.data["masked"] is True and len(commands) == 1


@pytest.mark.parametrize("facts, read, expected", [
    (SYSTEMD, "", ["systemctl daemon-reload"]),  # nothing to read first
    (DEBIAN, "", []),  # only systemd caches unit files
    ({}, "@@provision-init:systemd\n", ["if [ -d /run/systemd/system ]", "systemctl daemon-reload"]),
    ({}, "@@provision-init:service\n", ["if [ -d /run/systemd/system ]"]),
])
def test_daemon_reload_alone_needs_no_unit(facts, read, expected):
    result, commands = systemd({"daemon_reload": True}, read, facts=facts)
    assert result.status == "ok", result.msg  # re-reading unit files changes no service (Ansible: changed)
    assert [command[:len(want)] for command, want in zip(commands, expected)] == expected
    assert len(commands) == len(expected)
    assert result.data["init_system"] == ("systemd" if "systemctl daemon-reload" in expected else "sysvinit")


@pytest.mark.parametrize("args, facts, read, message", [
    ({"name": "ssh", "masked": True}, DEBIAN, "exists\nrunning\nenabled\n",
     "masking needs systemd; this host's services are managed by sysvinit"),
    ({"name": "ssh", "masked": True}, {}, "@@provision-init:service\nexists\nrunning\nenabled\n",
     "masking needs systemd"),
    ({"daemon_reload": True, "state": "started"}, SYSTEMD, "", "missing parameter(s) required by 'state': name"),
    ({"enabled": True}, SYSTEMD, "", "one of the following is required: name, daemon_reload"),
    ({"name": "x"}, SYSTEMD, RUNNING, "one of the following is required: state, enabled, masked, daemon_reload"),
])
def test_failures_are_clear(args, facts, read, message):
    result, commands = systemd(args, read, facts=facts)
    assert result.status == "failed" and message in result.msg, result.msg
    assert not any(command.startswith("systemctl ") and "show" not in command for command in commands)


@pytest.mark.sandbox
def test_falls_back_to_init_scripts_without_systemd(sandbox, module_context):
    name = install_fake_service(sandbox, HOST)
    args = {"name": name, "state": "started", "enabled": True, "daemon_reload": True}
    assert run_module("systemd", args, module_context(HOST, check=True)).status == "changed"
    assert not is_running(sandbox, HOST)
    applied = run_module("systemd", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert applied.data["init_system"] == "sysvinit"
    assert is_running(sandbox, HOST) and boot_links(sandbox, HOST) == "S"
    assert run_module("systemd", args, module_context(HOST)).status == "ok"
    run_module("systemd", {"name": name, "state": "stopped"}, module_context(HOST))

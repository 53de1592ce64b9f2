"""reboot over real SSH: sandbox hosts reboot for real (a new boot id, /run emptied, disk kept)."""
import pytest

from tests.conftest import run_module, ssh

HOST = "host04"


def boot_id(sandbox):
    return ssh(sandbox, HOST, "cat /proc/sys/kernel/random/boot_id").stdout.strip()


@pytest.mark.sandbox
def test_check_mode_does_not_reboot(sandbox, module_context):
    before = boot_id(sandbox)
    result = run_module("reboot", {}, module_context(HOST, check=True))
    assert result.status == "changed"
    assert before in result.diff
    assert boot_id(sandbox) == before


@pytest.mark.sandbox
def test_reboots_and_waits_for_a_new_boot(sandbox, module_context):
    before = boot_id(sandbox)
    ssh(sandbox, HOST, "touch /run/gone-after-reboot /root/kept-after-reboot")
    context = module_context(HOST)
    result = run_module("reboot", {"reboot_timeout": 60}, context)
    assert result.status == "changed", result.msg
    assert result.data["rebooted"] is True
    assert result.data["boot_id_before"] == before != result.data["boot_id"]
    assert boot_id(sandbox) == result.data["boot_id"]
    assert ssh(sandbox, HOST, "test -e /run/gone-after-reboot", check=False).returncode == 1
    assert ssh(sandbox, HOST, "test -e /root/kept-after-reboot", check=False).returncode == 0
    # the task's connection was reopened and works for the next task
    assert run_module("command", {"_raw_params": "hostname"}, context).data["stdout"] == HOST


@pytest.mark.sandbox
def test_a_host_that_does_not_reboot_fails_within_the_bound(sandbox, module_context):
    result = run_module("reboot", {"reboot_command": "true", "reboot_timeout": 3}, module_context(HOST))
    assert result.status == "failed"
    assert "did not come back as a new boot within 3s" in result.msg

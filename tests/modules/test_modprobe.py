"""modprobe over real SSH: sandbox hosts cannot load modules (no CAP_SYS_MODULE), files still work."""
import pytest

from provision.modules.modprobe import KernelModuleState, Modprobe, parse_files
from tests.conftest import run_module, ssh

HOST = "host04"


class NoHost:
    facts: dict = {}
    check = False


def plan(args, state):
    return Modprobe(Modprobe.check_args(args), NoHost()).diff(state)


def test_persistent_with_params_writes_load_and_options_files():
    absent = KernelModuleState(False, False, True, {})
    result = plan({"name": "nvidia-peermem", "persistent": "present", "params": "peerdirect_support=0"}, absent)
    assert result.files == {"/etc/modules-load.d/nvidia-peermem.conf": "nvidia-peermem\n",
                            "/etc/modprobe.d/nvidia-peermem.conf": "options nvidia-peermem peerdirect_support=0\n"}
    assert result.command == ["modprobe", "--", "nvidia-peermem", "peerdirect_support=0"]


def test_builtin_module_cannot_be_unloaded():
    with pytest.raises(Exception, match="built into the kernel"):
        plan({"name": "bridge", "state": "absent"}, KernelModuleState(False, True, False, {}))


def test_parse_files_keeps_content_verbatim():
    output = "x\n@@provision-file:/a@@\n@@absent\n\n@@provision-file:/b@@\nblacklist x\n\n"
    assert parse_files(output) == {"/a": None, "/b": "blacklist x\n\n"}


@pytest.fixture
def clean(sandbox):
    wipe = "rm -rf /etc/modules-load.d /etc/modprobe.d/blacklist-nouveau.conf /etc/modprobe.d/bridge.conf"
    ssh(sandbox, HOST, wipe)
    yield
    ssh(sandbox, HOST, wipe)


@pytest.mark.sandbox
def test_blacklist_check_apply_then_ok(sandbox, clean, module_context):
    args = {"name": "nouveau", "state": "absent", "blacklist": True}
    checked = run_module("modprobe", args, module_context(HOST, check=True))
    assert checked.status == "changed"
    assert "+blacklist nouveau" in checked.diff
    assert ssh(sandbox, HOST, "test -e /etc/modprobe.d/blacklist-nouveau.conf", check=False).returncode == 1

    applied = run_module("modprobe", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert ssh(sandbox, HOST, "cat /etc/modprobe.d/blacklist-nouveau.conf").stdout == "blacklist nouveau\n"
    assert ssh(sandbox, HOST, "stat -c %a /etc/modprobe.d/blacklist-nouveau.conf").stdout.strip() == "644"
    assert run_module("modprobe", args, module_context(HOST)).status == "ok"

    lifted = run_module("modprobe", {"name": "nouveau", "state": "absent", "blacklist": False}, module_context(HOST))
    assert lifted.status == "changed"
    assert ssh(sandbox, HOST, "test -e /etc/modprobe.d/blacklist-nouveau.conf", check=False).returncode == 1


@pytest.mark.sandbox
def test_builtin_module_is_present_and_persistence_is_written(sandbox, clean, module_context):
    args = {"name": "bridge", "persistent": "present"}
    applied = run_module("modprobe", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert ssh(sandbox, HOST, "cat /etc/modules-load.d/bridge.conf").stdout == "bridge\n"
    again = run_module("modprobe", args, module_context(HOST))
    assert again.status == "ok" and again.data["builtin"] is True


@pytest.mark.sandbox
def test_loading_fails_clearly_without_module_support(sandbox, clean, module_context):
    result = run_module("modprobe", {"name": "dummy", "persistent": "present"}, module_context(HOST))
    assert result.status == "failed"
    assert "could not load dummy" in result.msg
    assert "the files were written" in result.msg
    assert ssh(sandbox, HOST, "cat /etc/modules-load.d/dummy.conf").stdout == "dummy\n"

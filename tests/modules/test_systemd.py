"""systemd: on sandbox hosts (no systemd running) it falls back to init scripts; masking needs systemd."""
import pytest

from provision.modules.service import ServiceState, init_system
from provision.modules.systemd import Systemd
from tests.conftest import run_module
from tests.support.services import boot_links, install_fake_service, is_running

HOST = "host03"


class SystemdHost:
    facts = {"ansible_service_mgr": "systemd"}
    check = False


def plan(args, state):
    module = Systemd(Systemd.check_args(args), SystemdHost())
    module.init = init_system(module.context)
    return module.diff(state)


def test_unmask_comes_before_start_and_daemon_reload_first():
    result = plan({"name": "nvidia-fabricmanager", "state": "started", "masked": False, "daemon_reload": True},
                  ServiceState(True, False, False, masked=True))
    assert result.daemon_reload
    assert result.commands == ["systemctl unmask -- nvidia-fabricmanager", "systemctl start -- nvidia-fabricmanager"]


def test_daemon_reload_alone_needs_no_unit():
    assert plan({"daemon_reload": True}, ServiceState(True, False, None)).daemon_reload


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


@pytest.mark.sandbox
def test_masking_without_systemd_fails_clearly(sandbox, module_context):
    result = run_module("systemd", {"name": "ssh", "masked": True}, module_context(HOST))
    assert result.status == "failed"
    assert "masking needs systemd" in result.msg

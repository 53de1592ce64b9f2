"""service over real SSH on sandbox hosts (no systemd there: init scripts and update-rc.d)."""
import pytest

from provision.modules.service import Service, ServiceState, Systemctl, SysVinit, SysVinitRedHat, init_system
from tests.conftest import run_module
from tests.support.services import boot_links, install_fake_service, is_running, log

HOST = "host02"


@pytest.fixture
def fake(sandbox):
    return install_fake_service(sandbox, HOST)


# ---- commands as data --------------------------------------------------------------------------

class FactsOnly:
    def __init__(self, facts):
        self.facts = facts
        self.check = False


@pytest.mark.parametrize("facts, kind", [
    ({"ansible_service_mgr": "systemd"}, Systemctl),
    ({"ansible_service_mgr": "service", "ansible_os_family": "Debian"}, SysVinit),
    ({"ansible_service_mgr": "sysvinit", "ansible_os_family": "RedHat"}, SysVinitRedHat),
])
def test_init_system_follows_the_facts(facts, kind):
    assert type(init_system(FactsOnly(facts))) is kind


def plan(args, state, facts):
    module = Service(Service.check_args(args), FactsOnly(facts))
    module.init = init_system(module.context)
    return module.diff(state)


def test_systemd_commands():
    facts = {"ansible_service_mgr": "systemd"}
    stopped = ServiceState(True, False, False)
    result = plan({"name": "nvidia-persistenced", "state": "started", "enabled": True}, stopped, facts)
    assert result.commands == ["systemctl enable -- nvidia-persistenced", "systemctl start -- nvidia-persistenced"]
    running = ServiceState(True, True, True)
    assert plan({"name": "x", "state": "started", "enabled": True}, running, facts) is None
    assert plan({"name": "x", "state": "restarted"}, running, facts).commands == ["systemctl restart -- x"]


def test_sysv_commands_debian_and_redhat():
    stopped = ServiceState(True, False, False)
    debian = plan({"name": "ssh", "enabled": True}, stopped, {"ansible_service_mgr": "service"})
    assert debian.commands == ["update-rc.d ssh defaults && update-rc.d ssh enable"]
    redhat = plan({"name": "sshd", "enabled": False}, ServiceState(True, True, True),
                  {"ansible_service_mgr": "sysvinit", "ansible_os_family": "RedHat"})
    assert redhat.commands == ["chkconfig sshd off"]


def test_systemctl_show_parsing():
    parse = Systemctl().parse
    assert parse("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n") == ServiceState(True, True, True)
    assert parse("LoadState=not-found\nActiveState=inactive\nUnitFileState=\n").exists is False
    assert parse("LoadState=loaded\nActiveState=inactive\nUnitFileState=static\n").enabled is None
    assert parse("LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n").masked is True


# ---- over SSH ----------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_start_and_enable_check_apply_then_ok(sandbox, fake, module_context):
    args = {"name": fake, "state": "started", "enabled": True}
    checked = run_module("service", args, module_context(HOST, check=True))
    assert checked.status == "changed"
    assert "start provfake" in checked.diff and "enable provfake" in checked.diff
    assert not is_running(sandbox, HOST) and boot_links(sandbox, HOST) == ""

    applied = run_module("service", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert applied.data["state"] == "started" and applied.data["enabled"] is True
    assert is_running(sandbox, HOST) and boot_links(sandbox, HOST) == "S"
    assert run_module("service", args, module_context(HOST)).status == "ok"

    stop = {"name": fake, "state": "stopped", "enabled": False}
    assert run_module("service", stop, module_context(HOST)).status == "changed"
    assert not is_running(sandbox, HOST) and boot_links(sandbox, HOST) == "K"
    assert run_module("service", stop, module_context(HOST)).status == "ok"


@pytest.mark.sandbox
def test_restarted_and_reloaded_always_act(sandbox, fake, module_context):
    run_module("service", {"name": fake, "state": "started"}, module_context(HOST))
    for _ in range(2):
        assert run_module("service", {"name": fake, "state": "restarted"}, module_context(HOST)).status == "changed"
    assert log(sandbox, HOST).count("start") == 3
    assert run_module("service", {"name": fake, "state": "reloaded"}, module_context(HOST)).status == "changed"
    assert log(sandbox, HOST)[-1] == "reload"
    assert is_running(sandbox, HOST)
    checked = run_module("service", {"name": fake, "state": "restarted"}, module_context(HOST, check=True))
    assert checked.status == "changed" and log(sandbox, HOST).count("start") == 3


@pytest.mark.sandbox
def test_unknown_service_fails_clearly(sandbox, module_context):
    result = run_module("service", {"name": "no-such-daemon", "state": "started"}, module_context(HOST))
    assert result.status == "failed"
    assert "no service 'no-such-daemon'" in result.msg


@pytest.mark.sandbox
def test_the_real_ssh_service_reads_as_running(sandbox, module_context):
    result = run_module("service", {"name": "ssh", "state": "started"}, module_context(HOST))
    assert result.status == "ok", result.msg

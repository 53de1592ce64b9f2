"""service: its decisions as data on a fake host (systemd, init scripts, no facts); over real SSH on
sandbox hosts (no systemd there: init scripts and update-rc.d), what the init scripts really do."""
import pytest

from provision.modules.service import (ServiceState, Systemctl, SysVinit, SysVinitRedHat, init_system,
                                       parse_state, read_command)
from provision.transport.base import CommandResult
from tests.conftest import run_module
from tests.modules.systemhost import ok, run_on
from tests.support.services import boot_links, install_fake_service, is_running, log

HOST = "host02"


@pytest.fixture
def fake(sandbox):
    return install_fake_service(sandbox, HOST)


# ---- as data: given what the init system says, expect these commands (fake host) -------------

SYSTEMD = {"ansible_service_mgr": "systemd"}
DEBIAN = {"ansible_service_mgr": "service", "ansible_os_family": "Debian"}
REDHAT = {"ansible_service_mgr": "sysvinit", "ansible_os_family": "RedHat"}
RUNNING = "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n"
STOPPED = "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n"
STATIC = "LoadState=loaded\nActiveState=inactive\nUnitFileState=static\n"
NOT_FOUND = "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
SCRIPT_STOPPED = "exists\nstopped\ndisabled\n"
SCRIPT_RUNNING = "exists\nrunning\nenabled\n"
READS = ("systemctl show", "if [ -x", "if [ -d /run/systemd/system ]")  # systemd, init scripts, probe


def service(args, *reads, facts=None, check=False, module="service", failing=None, pending=None):
    """Run with the reads served in turn (apply reads the end state again); (result, commands sent)."""
    answers = [(needle, [ok(read) for read in reads]) for needle in READS]
    result, host = run_on(module, args, ([failing] if failing else []) + answers, facts=facts, check=check,
                          pending=pending)
    return result, [command.removesuffix(" </dev/null") for command in host.commands
                    if not any(needle in command for needle in READS)]


@pytest.mark.parametrize("manager, facts, kind", [
    ("systemd", {}, Systemctl),
    ("service", DEBIAN, SysVinit),
    ("sysvinit", REDHAT, SysVinitRedHat),
    ("openrc", {}, SysVinit),
])
def test_init_system_follows_the_facts(manager, facts, kind):
    assert type(init_system(manager, facts)) is kind


def test_read_command_is_the_init_systems_own_or_asks_the_host_first():
    systemd = read_command("nvidia-persistenced", SYSTEMD)
    assert systemd.startswith(
        "out=$(systemctl show --property=LoadState,ActiveState,UnitFileState -- nvidia-persistenced 2>&1)\n")
    # offline (SYSTEMD_OFFLINE=1, a chroot) show says nothing: is-enabled and is-active, as Ansible's
    assert "systemctl is-enabled -- nvidia-persistenced" in systemd and "systemctl is-active" in systemd
    assert read_command("ssh", DEBIAN).startswith("n=ssh\nif [ -x \"/etc/init.d/$n\" ]")
    probe = read_command("ssh", {})
    assert probe.startswith("if [ -d /run/systemd/system ]; then echo @@provision-init:systemd\nout=$(systemctl show")
    assert "else echo @@provision-init:service\nn=ssh\n" in probe
    assert read_command(None, SYSTEMD) is None  # daemon_reload alone reads nothing


def test_parse_says_which_init_system_read_it():
    state = parse_state("ssh", {}, ok("@@provision-init:service\n" + SCRIPT_RUNNING))
    assert state == ServiceState(True, True, True) and state.init.name == "sysvinit"
    state = parse_state("ssh", {}, ok("@@provision-init:systemd\n" + RUNNING))
    assert state.init.name == "systemd" and state.status["UnitFileState"] == "enabled"
    assert parse_state("ssh", DEBIAN, ok("missing\n")).exists is False


def test_systemctl_show_parsing():
    parse = Systemctl().parse
    assert parse(RUNNING) == ServiceState(True, True, True)
    assert parse(NOT_FOUND).exists is False
    assert parse(STATIC).enabled is None
    assert parse("LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n").masked is True
    assert parse("LoadState=loaded\nActiveState=activating\nUnitFileState=enabled-runtime\n").running is True


@pytest.mark.parametrize("facts, args, before, expected", [
    (SYSTEMD, {"state": "started", "enabled": True}, STOPPED, ["systemctl enable -- x", "systemctl start -- x"]),
    (SYSTEMD, {"state": "started", "enabled": True}, RUNNING, []),
    (SYSTEMD, {"state": "stopped"}, RUNNING, ["systemctl stop -- x"]),
    (SYSTEMD, {"state": "stopped"}, STOPPED, []),
    (SYSTEMD, {"state": "restarted"}, RUNNING, ["systemctl restart -- x"]),
    (SYSTEMD, {"state": "restarted"}, STOPPED, ["systemctl restart -- x"]),
    (SYSTEMD, {"state": "reloaded"}, RUNNING, ["systemctl reload -- x"]),
    (SYSTEMD, {"state": "reloaded"}, STOPPED, ["systemctl start -- x"]),
    (SYSTEMD, {"enabled": True}, STATIC, []),  # a static unit cannot be enabled: nothing to do
    (SYSTEMD, {"state": "started", "daemon_reload": True}, STOPPED, ["systemctl daemon-reload", "systemctl start -- x"]),
    (DEBIAN, {"enabled": True}, SCRIPT_STOPPED, ["update-rc.d x defaults && update-rc.d x enable"]),
    (DEBIAN, {"enabled": False}, SCRIPT_RUNNING, ["update-rc.d x disable"]),
    (DEBIAN, {"state": "started"}, SCRIPT_STOPPED, ["/etc/init.d/x start"]),
    (DEBIAN, {"state": "restarted"}, SCRIPT_RUNNING, ["/etc/init.d/x restart"]),
    (DEBIAN, {"state": "started", "daemon_reload": True}, SCRIPT_RUNNING, []),  # only systemd caches units
    (REDHAT, {"enabled": False}, SCRIPT_RUNNING, ["chkconfig x off"]),
    ({}, {"state": "started"}, "@@provision-init:systemd\n" + STOPPED, ["systemctl start -- x"]),
    ({}, {"state": "started"}, "@@provision-init:service\n" + SCRIPT_STOPPED, ["/etc/init.d/x start"]),
])
def test_commands(facts, args, before, expected):
    result, commands = service({"name": "x", **args}, before, facts=facts)
    assert result.status == ("changed" if expected else "ok"), result.msg
    assert commands == expected


def test_check_mode_says_what_it_would_do_and_sends_nothing():
    result, commands = service({"name": "x", "state": "started", "enabled": True}, STOPPED, facts=SYSTEMD, check=True)
    assert result.status == "changed" and commands == []
    assert result.diff == "running: False, enabled: False\nenable x\nstart x\n"


def test_registered_data_is_the_state_the_service_ended_in():
    result, _ = service({"name": "x", "state": "started"}, STOPPED, RUNNING, facts=SYSTEMD)
    assert result.status == "changed"
    assert {key: result.data[key] for key in ("name", "state", "enabled", "init_system")} == \
        {"name": "x", "state": "started", "enabled": True, "init_system": "systemd"}
    assert result.data["status"] == {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"}
    converged, _ = service({"name": "x", "state": "stopped"}, SCRIPT_STOPPED, facts=DEBIAN)
    assert converged.data == {"name": "x", "state": "stopped", "enabled": False, "init_system": "sysvinit"}


@pytest.mark.parametrize("facts, args, before, message", [
    (DEBIAN, {"name": "no-such-daemon", "state": "started"}, "missing\n", "Could not find the requested service no-such-daemon: host (sysvinit has no service 'no-such-daemon')"),
    (SYSTEMD, {"name": "no-such-daemon", "state": "started"}, NOT_FOUND, "Could not find the requested service no-such-daemon: host (systemd has no service 'no-such-daemon')"),
    (SYSTEMD, {"name": "x; reboot", "state": "started"}, RUNNING, "'x; reboot' is not a valid service name"),
    (SYSTEMD, {"name": "x"}, RUNNING, "one of the following is required: state, enabled, daemon_reload"),
])
def test_failures_are_clear(facts, args, before, message):
    result, commands = service(args, before, facts=facts)
    assert result.status == "failed" and message in result.msg and commands == []


def test_a_failing_command_is_named_with_its_output():
    refused = ("systemctl start", CommandResult(1, "", "Job for x.service failed because the control process exited"))
    result, _ = service({"name": "x", "state": "started"}, STOPPED, facts=SYSTEMD, failing=refused)
    assert result.status == "failed"
    assert "service: systemctl start -- x failed (rc 1): Job for x.service failed" in result.msg


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
    restarted = run_module("service", {"name": fake, "state": "restarted"}, module_context(HOST))
    assert restarted.status == "changed" and log(sandbox, HOST).count("start") == 2  # the script really ran

    stop = {"name": fake, "state": "stopped", "enabled": False}
    assert run_module("service", stop, module_context(HOST)).status == "changed"
    assert not is_running(sandbox, HOST) and boot_links(sandbox, HOST) == "K"
    assert run_module("service", stop, module_context(HOST)).status == "ok"


@pytest.mark.sandbox
def test_the_real_ssh_service_reads_as_running(sandbox, module_context):
    result = run_module("service", {"name": "ssh", "state": "started"}, module_context(HOST))
    assert result.status == "ok", result.msg


@pytest.mark.parametrize("module", ["service", "systemd"])
def test_a_service_a_package_would_bring_is_a_change_in_check_mode_not_a_failure(module):
    """NVIDIA's driver role enables nvidia-persistenced right after installing the driver: in check
    mode on a new host the unit is not there yet. Ansible fails the task ("Could not find the
    requested service"); provision plans it as a new, stopped, disabled service and says why."""
    args = {"name": "nvidia-persistenced", "enabled": True, "state": "started"}
    result, commands = service(args, NOT_FOUND, facts=SYSTEMD, check=True, module=module, pending={"packages"})
    assert result.status == "changed" and commands == [], result.msg
    assert result.diff == ("running: False, enabled: False\nenable nvidia-persistenced\nstart nvidia-persistenced\n"
                           "(nvidia-persistenced is not on the host yet: an earlier task in this check installs "
                           "packages it may come with)\n")
    # without an earlier package task, or for real, a missing service is what it always was: a failure
    for check, pending in ((True, None), (True, {"apt-sources"}), (False, {"packages"})):
        failed, _ = service(args, NOT_FOUND, facts=SYSTEMD, check=check, module=module, pending=pending)
        assert failed.status == "failed" and "has no service 'nvidia-persistenced'" in failed.msg, (check, pending)

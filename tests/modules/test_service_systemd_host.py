"""service and systemd on a host where systemd runs: systemctl, chosen from the gathered facts.

The plain hosts (no systemd) are covered by test_service.py and test_systemd.py through the init
scripts; the last test here only checks that facts gathered on a plain host pick them too.
"""
from __future__ import annotations


import pytest

from provision.facts import gather_facts
from provision.modules.context import TaskContext
from provision.sandbox import Sandbox
from provision.transport.ssh import SSHTransport
from tests.conftest import run_module, ssh, throwaway_sandbox

pytestmark = pytest.mark.sandbox

UNIT = """\
[Unit]
Description=provision demo service (tests)

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""


@pytest.fixture(scope="module")
def systemd_fleet():
    with throwaway_sandbox("xs", hosts=1, kind="systemd") as fleet:
        yield fleet


def open_transport(fleet: Sandbox, host: str = "host01") -> SSHTransport:
    return SSHTransport.connect(fleet.host(host).address, user="root", key_filename=fleet.key_path,
                                known_hosts_files=[fleet.known_hosts_path])


@pytest.fixture
def on_host(systemd_fleet):
    """Factory of TaskContexts on the systemd host, with facts gathered there: `on_host(check=False)`."""
    opened = []
    facts = {}

    def make(check: bool = False) -> TaskContext:
        transport = open_transport(systemd_fleet)
        opened.append(transport)
        if not facts:
            facts.update(gather_facts(transport))
        return TaskContext(transport=transport, facts=dict(facts), check=check)

    yield make
    for transport in opened:
        transport.close()


def test_facts_say_systemd(systemd_fleet, on_host):
    assert on_host().facts["ansible_service_mgr"] == "systemd"
    assert ssh(systemd_fleet, "host01", "systemctl is-system-running --wait", check=False).stdout.strip() in (
        "running", "degraded")


def test_systemd_module_starts_and_enables_a_unit_then_ok(systemd_fleet, on_host):
    copied = run_module("copy", {"dest": "/etc/systemd/system/provision-demo.service", "content": UNIT}, on_host())
    assert copied.status == "changed", copied.msg
    args = {"name": "provision-demo", "daemon_reload": True, "state": "started", "enabled": True}
    applied = run_module("systemd", args, on_host())
    assert applied.status == "changed", applied.msg
    assert applied.data["init_system"] == "systemd"
    assert applied.data["state"] == "started" and applied.data["enabled"] is True
    assert ssh(systemd_fleet, "host01", "systemctl is-active provision-demo").stdout.strip() == "active"
    assert ssh(systemd_fleet, "host01", "systemctl is-enabled provision-demo").stdout.strip() == "enabled"
    again = run_module("systemd", {"name": "provision-demo", "state": "started", "enabled": True}, on_host())
    assert again.status == "ok", again.msg

    checked = run_module("systemd", {"name": "provision-demo", "state": "stopped"}, on_host(check=True))
    assert checked.status == "changed" and "stop provision-demo" in checked.diff
    assert ssh(systemd_fleet, "host01", "systemctl is-active provision-demo").stdout.strip() == "active", \
        "check mode changes nothing"

    stopped = run_module("service", {"name": "provision-demo", "state": "stopped", "enabled": False}, on_host())
    assert stopped.status == "changed", stopped.msg
    assert ssh(systemd_fleet, "host01", "systemctl is-active provision-demo", check=False).stdout.strip() == "inactive"
    assert ssh(systemd_fleet, "host01", "systemctl is-enabled provision-demo", check=False).stdout.strip() == "disabled"


def test_masking_works_where_systemd_runs_even_before_the_unit_exists(systemd_fleet, on_host):
    masked = run_module("systemd", {"name": "provision-mask-demo", "masked": True}, on_host())
    assert masked.status == "changed", masked.msg
    assert ssh(systemd_fleet, "host01", "systemctl is-enabled provision-mask-demo", check=False).stdout.strip() == "masked"
    assert run_module("systemd", {"name": "provision-mask-demo", "masked": True}, on_host()).status == "ok"
    unmasked = run_module("systemd", {"name": "provision-mask-demo", "masked": False}, on_host())
    assert unmasked.status == "changed", unmasked.msg


def test_restarting_ssh_through_systemctl_keeps_the_host_reachable(systemd_fleet, on_host):
    before = ssh(systemd_fleet, "host01", "systemctl show -p MainPID --value ssh").stdout.strip()
    restarted = run_module("service", {"name": "ssh", "state": "restarted"}, on_host())
    assert restarted.status == "changed", restarted.msg
    assert restarted.data["init_system"] == "systemd" and restarted.data["state"] == "started"
    assert ssh(systemd_fleet, "host01", "systemctl is-active ssh").stdout.strip() == "active"
    assert ssh(systemd_fleet, "host01", "systemctl show -p MainPID --value ssh").stdout.strip() != before
    assert run_module("service", {"name": "ssh", "state": "started"}, on_host()).status == "ok"


def test_plain_host_facts_pick_the_init_scripts(sandbox):
    """Only the choice is checked here (test_service.py drives the init scripts); ssh is not
    restarted: on a plain host sshd is tini's only child, so stopping it ends the host."""
    from tests.conftest import connect

    transport = connect(sandbox, sandbox.hosts[-1].name)
    try:
        facts = gather_facts(transport)
        result = run_module("service", {"name": "ssh", "state": "started"}, TaskContext(transport=transport, facts=facts))
    finally:
        transport.close()
    assert facts["ansible_service_mgr"] != "systemd"
    assert result.status == "ok", result.msg
    assert result.data["init_system"] == "sysvinit" and result.data["state"] == "started"

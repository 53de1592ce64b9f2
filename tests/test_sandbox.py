"""The sandbox: real hosts over real SSH, isolated from each other and from this machine."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from provision.sandbox import Sandbox
from provision.sandbox import system
from tests.conftest import ssh

pytestmark = pytest.mark.sandbox


def _leftovers(sandbox: Sandbox, supervisor_pids: list[int]) -> list[str]:
    found = []
    found += [f"process {pid}" for pid in supervisor_pids if os.path.exists(f"/proc/{pid}")]
    with open("/proc/mounts") as handle:
        found += [f"mount {line.split()[1]}" for line in handle if sandbox.directory in line]
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    found += [f"netns {name}" for name in netns if name.startswith(f"pv{sandbox.index}-")]
    if os.path.exists(f"/sys/class/net/{sandbox.bridge}"):
        found.append(f"bridge {sandbox.bridge}")
    for host in sandbox.hosts:
        found += [f"cgroup {path}" for path in system.cgroup_dirs(sandbox.name, host.name) if os.path.exists(path)]
    if os.path.exists(sandbox.directory):
        found.append(f"folder {sandbox.directory}")
    return found


def test_twenty_hosts_are_distinct_machines_and_leave_nothing_behind():
    fleet = Sandbox.up(f"pt{os.getpid()}x20", hosts=20, log=lambda text: None)
    supervisors = [host.supervisor_pid for host in fleet.hosts]
    try:
        hostnames = [ssh(fleet, host.name, "hostname").stdout.strip() for host in fleet.hosts]
        assert len(set(hostnames)) == 20
        assert hostnames == [host.name for host in fleet.hosts]
        ssh(fleet, "host01", "echo only-here > /root/marker")
        assert ssh(fleet, "host01", "cat /root/marker").stdout == "only-here\n"
        for host in fleet.hosts[1:]:
            assert ssh(fleet, host.name, "test -e /root/marker", check=False).returncode == 1
        pids_inside = {ssh(fleet, host.name, "cat /proc/sys/kernel/random/boot_id").stdout for host in fleet.hosts}
        assert len(pids_inside) == 20, "each host has its own boot id"
    finally:
        fleet.down()
    assert _leftovers(fleet, supervisors) == []


def test_host_sees_its_own_process_table_and_has_no_route_out(sandbox):
    processes = ssh(sandbox, "host02", "ps -e -o pid=,comm=").stdout.split("\n")
    first = processes[0].split()
    assert first == ["1", "tini"]
    assert len([line for line in processes if line.strip()]) < 10
    routes = ssh(sandbox, "host02", "ip route").stdout
    assert "default" not in routes


def test_host_cannot_reach_into_this_machine(sandbox):
    denied = ssh(sandbox, "host02", "sysctl -w kernel.domainname=escaped", check=False)
    assert denied.returncode != 0
    assert open("/proc/sys/kernel/domainname").read().strip() != "escaped"
    assert ssh(sandbox, "host02", "date -s 2001-01-01", check=False).returncode != 0
    assert time.gmtime().tm_year > 2001
    capabilities = int(ssh(sandbox, "host02", "grep CapBnd /proc/self/status").stdout.split()[1], 16)
    assert not capabilities & (1 << 16), "CAP_SYS_MODULE must be dropped"
    assert not capabilities & (1 << 25), "CAP_SYS_TIME must be dropped"
    ssh(sandbox, "host02", "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && touch /mnt/x/y")
    with open("/proc/mounts") as handle:
        assert "/mnt/x" not in handle.read()
    # net.* is per network namespace: writable in the host, unchanged here
    before = open("/proc/sys/net/ipv4/conf/all/accept_redirects").read()
    ssh(sandbox, "host02", "sysctl -w net.ipv4.conf.all.accept_redirects=0 && sysctl -w net.ipv4.conf.all.accept_redirects=1")
    assert open("/proc/sys/net/ipv4/conf/all/accept_redirects").read() == before


def test_reboot_restarts_that_host_alone_on_the_same_disk(sandbox):
    boot_ids = {host.name: ssh(sandbox, host.name, "cat /proc/sys/kernel/random/boot_id").stdout for host in sandbox.hosts}
    ssh(sandbox, "host03", "echo kept > /root/disk-marker")
    ssh(sandbox, "host03", "reboot", check=False)
    deadline = time.monotonic() + 20
    while True:
        result = ssh(sandbox, "host03", "cat /proc/sys/kernel/random/boot_id", check=False)
        if result.returncode == 0 and result.stdout != boot_ids["host03"]:
            break
        assert time.monotonic() < deadline, "host03 did not come back with a new boot id"
        time.sleep(0.3)
    assert ssh(sandbox, "host03", "cat /root/disk-marker").stdout == "kept\n"
    for name, boot_id in boot_ids.items():
        if name != "host03":
            assert ssh(sandbox, name, "cat /proc/sys/kernel/random/boot_id").stdout == boot_id


def test_fresh_host_forgets_what_was_written(sandbox):
    ssh(sandbox, "host01", "echo old > /etc/leftover")
    sandbox.fresh("host01")
    assert ssh(sandbox, "host01", "test -e /etc/leftover", check=False).returncode == 1
    assert ssh(sandbox, "host01", "hostname").stdout.strip() == "host01"


def test_become_users_exist_with_and_without_a_sudo_password(sandbox):
    assert ssh(sandbox, "host01", "sudo -n id -u", user="admin").stdout.strip() == "0"
    needs_password = ssh(sandbox, "host01", "sudo -n id -u", user="deploy", check=False)
    assert needs_password.returncode != 0 and "password" in needs_password.stderr
    assert ssh(sandbox, "host01", "sudo -S -p '' id -u <<< sandbox", user="deploy").stdout.strip() == "0"


def test_password_login_is_refused(sandbox):
    result = subprocess.run(
        ["ssh", "-F", sandbox.ssh_config_path, "-o", "PubkeyAuthentication=no", "-o", "BatchMode=yes",
         "-l", "deploy", "host01", "true"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 255 and "Permission denied" in result.stderr


def test_cli_names_what_is_missing_without_root(tmp_path):
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
               "provision.cli", "sandbox", "up", "--name", "nobody"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=os.getcwd(),
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == 1
    assert "root" in result.stderr and "Traceback" not in result.stderr


def test_cli_up_status_ssh_down_round_trip():
    name = f"pt{os.getpid()}xcli"
    cli = [sys.executable, "-m", "provision.cli", "sandbox"]
    up = subprocess.run(cli + ["up", "--hosts", "2", "--name", name], capture_output=True, text=True)
    try:
        assert up.returncode == 0, up.stderr
        inventory = up.stdout.strip().splitlines()[-1]
        assert inventory.endswith("inventory.yaml") and os.path.exists(inventory)
        status = subprocess.run(cli + ["status", "--name", name], capture_output=True, text=True)
        assert "host02" in status.stdout and "yes" in status.stdout
        passthrough = subprocess.run(cli + ["ssh", "--name", name, "host02", "--", "sh", "-c", "exit 7"])
        assert passthrough.returncode == 7
    finally:
        down = subprocess.run(cli + ["down", "--name", name], capture_output=True, text=True)
    assert down.returncode == 0
    assert not os.path.exists(os.path.dirname(inventory))


def test_restarting_sshd_keeps_the_host(sandbox):
    """A plain host runs sshd from its init script, as a real machine does: a restart is survivable."""
    before = ssh(sandbox, "host04", "cat /run/sshd.pid").stdout
    try:
        ssh(sandbox, "host04", "service ssh restart >/dev/null 2>&1", check=False)
        for _ in range(50):
            answered = ssh(sandbox, "host04", "cat /run/sshd.pid", check=False)
            if answered.returncode == 0:
                break
            time.sleep(0.2)
        assert answered.returncode == 0 and answered.stdout != before, "sshd came back with a new PID"
    finally:
        # an sshd started from a root session carries root's audit loginuid, which other users'
        # logins cannot change here (no CAP_AUDIT_CONTROL): give the next tests a host as booted
        sandbox.fresh("host04")

"""Sandbox kinds beyond `plain`: docker hosts pulling from the sandbox registry, systemd hosts, and
`up` running side by side. Each test starts its own sandbox and checks that `down` leaves nothing."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from provision.sandbox import Sandbox
from provision.sandbox import system
from tests.conftest import ssh

pytestmark = pytest.mark.sandbox


def _leftovers(sandbox: Sandbox, pids: list[int]) -> list[str]:
    """Everything of this sandbox still on the machine: processes, mounts, netns, links, cgroups."""
    found = [f"process {pid}" for pid in pids if system.command_of(pid)]
    with open("/proc/mounts") as handle:
        found += [f"mount {line.split()[1]}" for line in handle if sandbox.directory in line]
    others = (Sandbox.load(name) for name in Sandbox.names())
    if not any(other is not None and other.index == sandbox.index for other in others):
        # (other test runs on this machine may take the freed network index at once)
        netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        found += [f"netns {name}" for name in netns if name.startswith(f"pv{sandbox.index}-")]
        found += [f"link {name}" for name in os.listdir("/sys/class/net")
                  if name == sandbox.bridge or name.startswith(f"pv{sandbox.index}h")]
    for root in system.CGROUP_ROOTS:
        if os.path.exists(os.path.join(root, "provision", sandbox.name)):
            found.append(f"cgroup {root}/provision/{sandbox.name}")
    if os.path.exists(sandbox.directory):
        found.append(f"folder {sandbox.directory}")
    return found


def _all_pids(sandbox: Sandbox) -> list[int]:
    """Every PID the sandbox runs now: its hosts' (containers and units included) and the registry's."""
    pids = set()
    for host in [*sandbox.hosts, "registry"]:
        name = host if isinstance(host, str) else host.name
        pids |= system.cgroup_pids(system.cgroup_dirs(sandbox.name, name))
    return sorted(pids | {host.supervisor_pid for host in sandbox.hosts} | {sandbox.registry_pid} - {0})


def test_docker_hosts_run_an_image_pulled_from_the_sandbox_registry():
    fleet = Sandbox.up(f"pt{os.getpid()}xdk", hosts=3, kind="docker", log=lambda text: None)
    try:
        pushed = subprocess.run([sys.executable, "-m", "provision.cli", "sandbox", "push-image", "--name", fleet.name,
                                 "--image", "busybox:sandbox"], capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr
        image = "busybox:sandbox"
        for host in fleet.hosts:
            assert ssh(fleet, host.name, "docker info -f '{{.Driver}}'").stdout.strip() == "overlay2"
            result = ssh(fleet, host.name, f"docker run --rm {image} sh -c 'echo ran in $(hostname)'")
            assert result.stdout.startswith("ran in ")
            assert "Pulling from library/busybox" in result.stderr, "pulled through the sandbox registry mirror"
            assert ssh(fleet, host.name, "docker ps -aq").stdout == "", "--rm removed the container"
        pids = _all_pids(fleet)
        assert any(system.command_of(pid).startswith("/usr/sbin/dockerd") for pid in pids)
        assert any(system.command_of(pid).startswith("docker-registry") for pid in pids)
    finally:
        fleet.down()
    assert _leftovers(fleet, pids) == []


def test_docker_host_keeps_mknod_but_cannot_open_this_machines_disk():
    fleet = Sandbox.up(f"pt{os.getpid()}xdm", hosts=1, kind="docker", log=lambda text: None)
    try:
        disk = os.stat("/").st_dev
        major, minor = os.major(disk), os.minor(disk)
        opened = ssh(fleet, "host01", f"mknod /root/disk b {major} {minor} && head -c 512 /root/disk | wc -c",
                     check=False)
        assert opened.returncode != 0 or opened.stdout.strip() == "0"
        assert "Operation not permitted" in opened.stderr
        capabilities = int(ssh(fleet, "host01", "grep CapBnd /proc/self/status").stdout.split()[1], 16)
        assert capabilities & (1 << 27), "CAP_MKNOD is kept: runc gives it to every container"
        assert not capabilities & (1 << 16) and not capabilities & (1 << 25), "CAP_SYS_MODULE/TIME dropped"
    finally:
        fleet.down()


def test_systemd_host_restarts_sshd_and_reboots_and_leaves_nothing_behind():
    inotify_before = open(system.INOTIFY_LIMIT).read()
    fleet = Sandbox.up(f"pt{os.getpid()}xsd", hosts=2, kind="systemd", log=lambda text: None)
    try:
        assert ssh(fleet, "host01", "cat /proc/1/comm").stdout.strip() == "systemd"
        assert ssh(fleet, "host01", "systemctl is-system-running --wait").stdout.strip() == "running"
        main_pid = ssh(fleet, "host01", "systemctl show -p MainPID --value ssh").stdout
        ssh(fleet, "host01", "systemctl restart ssh")
        assert ssh(fleet, "host01", "systemctl is-active ssh").stdout.strip() == "active"
        assert ssh(fleet, "host01", "systemctl show -p MainPID --value ssh").stdout != main_pid
        boot_id = ssh(fleet, "host02", "cat /proc/sys/kernel/random/boot_id").stdout
        _install_standin_module(fleet, "host02")
        ssh(fleet, "host02", "echo kept > /root/marker && systemctl reboot", check=False)
        assert _new_boot_id(fleet, "host02", boot_id), "host02 did not come back with a new boot id"
        assert ssh(fleet, "host02", "cat /root/marker").stdout == "kept\n"
        # the host's systemd played the kernel's and udev's part for the stand-in driver
        # sshd answers before the boot's other units are all started (the udev-wanted one among them)
        loaded = ssh(fleet, "host02", "systemctl is-system-running --wait >/dev/null; cat /sys/module/nvidia/version /proc/driver/nvidia/version; ls /sys/module "
                                      "| grep -c .; systemctl is-active wanted-by-udev; systemctl is-enabled "
                                      "wanted-by-udev").stdout.splitlines()
        assert loaded[0] == "580.95.05" and loaded[1].startswith("NVRM version: NVIDIA UNIX Open Kernel Module for")
        assert int(loaded[3]) > 2, "the machine's own modules stay listed beside the stand-in's"
        assert loaded[4:] == ["active", "static"], "started as udev's SYSTEMD_WANTS starts it, not enabled"
        assert ssh(fleet, "host01", "ls /proc/driver/nvidia /sys/module/nvidia", check=False).returncode != 0
        boot_id = ssh(fleet, "host02", "cat /proc/sys/kernel/random/boot_id").stdout
        ssh(fleet, "host02", "systemctl reboot", check=False)
        assert _new_boot_id(fleet, "host02", boot_id), "host02 did not come back from a reboot with the module shown"
        assert ssh(fleet, "host02", "cat /sys/module/nvidia/version").stdout == "580.95.05\n"
        assert ssh(fleet, "host01", "hostname").stdout.strip() == "host01", "host01 is untouched"
        pids = _all_pids(fleet)
    finally:
        fleet.down()
    assert _leftovers(fleet, pids) == []
    others = (Sandbox.load(name) for name in Sandbox.names())
    if not any(other is not None and other.kind == "systemd" for other in others):
        assert open(system.INOTIFY_LIMIT).read() == inotify_before


def _install_standin_module(sandbox: Sandbox, host: str) -> None:
    """What a stand-in driver package leaves: the module tool, a module installed in an earlier
    boot, and a udev rule that wants a unit (which stops when nothing wants it) once the driver binds."""
    tool = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "provision", "sandbox",
                        "standin", "files", "nvidia-standin-module")
    with open(tool, "rb") as handle:
        subprocess.run(["ssh", "-F", sandbox.ssh_config_path, "-l", "root", host,
                        "cat > /usr/sbin/nvidia-standin-module && chmod 755 /usr/sbin/nvidia-standin-module"],
                       input=handle.read(), check=True, capture_output=True, timeout=60)
    ssh(sandbox, host, "mkdir -p /var/lib/nvidia-standin /lib/udev/rules.d "
                       "&& echo 'earlier-boot 580.95.05 open' > /var/lib/nvidia-standin/module-history "
                       "&& echo 'ACTION==\"add\", DEVPATH==\"/bus/pci/drivers/nvidia\", TAG+=\"systemd\", "
                       "ENV{SYSTEMD_WANTS}=\"wanted-by-udev.service\"' > /lib/udev/rules.d/71-test.rules "
                       "&& printf '[Unit]\\nStopWhenUnneeded=true\\n[Service]\\nExecStart=/bin/sleep infinity\\n' "
                       "> /etc/systemd/system/wanted-by-udev.service")


def _new_boot_id(sandbox: Sandbox, host: str, old: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = ssh(sandbox, host, "cat /proc/sys/kernel/random/boot_id", check=False)
        if result.returncode == 0 and result.stdout != old:
            return True
        time.sleep(0.3)
    return False


def test_two_ups_at_once_get_different_networks():
    fleets: dict[str, Sandbox] = {}

    def start(name: str) -> None:
        fleets[name] = Sandbox.up(name, hosts=1, log=lambda text: None)

    names = [f"pt{os.getpid()}xc{number}" for number in (1, 2)]
    threads = [threading.Thread(target=start, args=(name,)) for name in names]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(fleets) == names
        assert fleets[names[0]].index != fleets[names[1]].index
        for name in names:
            assert ssh(fleets[name], "host01", "hostname").stdout.strip() == "host01"
    finally:
        for fleet in fleets.values():
            fleet.down()

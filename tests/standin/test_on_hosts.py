"""The stand-in repository used on sandbox hosts as a role would use NVIDIA's: a keyring for
signed-by, apt sources at NVIDIA's paths, packages pinned by version, a reboot to load the driver."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from provision.sandbox.standin.gpus import load_description, seed_files
from provision.sandbox.standin.repository import ARCHIVE_PATH, KEYRING_NAME, build_repository, cuda_path, toolkit_path
from provision.sandbox.standin.serve import StandinServer
from tests.conftest import ssh

pytestmark = pytest.mark.sandbox

KEYRING = f"/usr/share/keyrings/{KEYRING_NAME}"
NOT_LOADED = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.")
QUERY = "nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version,compute_cap,memory.total --format=csv,noheader"
OLD = "550.163.01-1"
NEW = "580.95.05-1"
NEWEST = "595.71.05-1"  # the newest branch the stand-in's debian12 repository serves
OLD_BRANCH = ["nvidia-open", "nvidia-driver", "nvidia-driver-cuda", "libnvidia-ml1", "libcuda1",
              "nvidia-kernel-open-dkms", "nvidia-persistenced"]
TOOLKIT = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1"]


@pytest.fixture(scope="module")
def standin(sandbox):
    with StandinServer(build_repository(), sandbox.gateway) as server:
        yield server


def put(sandbox, host: str, path: str, data: bytes) -> None:
    result = subprocess.run(["ssh", "-F", sandbox.ssh_config_path, "-l", "root", host,
                             f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}'"], input=data, capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def apt(sandbox, host: str, arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return ssh(sandbox, host, f"DEBIAN_FRONTEND=noninteractive apt-get -q -y {arguments}", check=check)


def point_at(sandbox, standin, host: str, distro: str = "debian12", profile: str = "h100x8") -> str:
    """`host` seeded with a stand-in board, apt pointed only at the stand-in repositories of `distro`."""
    for path, data in seed_files(load_description(profile)).items():
        put(sandbox, host, path, data)
    ssh(sandbox, host, "chmod 755 /usr/bin/lspci")
    url = standin.url
    ssh(sandbox, host, f"curl -fsS -o {KEYRING} {url}{KEYRING_NAME} && rm -f /etc/apt/sources.list "
        f"&& echo 'deb [signed-by={KEYRING}] {url}{cuda_path(distro)} /' > /etc/apt/sources.list.d/cuda.list "
        f"&& echo 'deb [signed-by={KEYRING}] {url}{toolkit_path('$(ARCH)')} /' "
        "> /etc/apt/sources.list.d/nvidia-container-toolkit.list")
    update = apt(sandbox, host, "update")
    assert "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr
    return host


@pytest.fixture
def gpu_host(sandbox, fresh_host, standin):
    """host01 as new, seeded with the H100 board, apt pointed at the stand-in debian12 repository."""
    return point_at(sandbox, standin, "host01")


def versions(sandbox, host: str) -> dict[str, str]:
    listing = ssh(sandbox, host, "dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n'").stdout
    return {fields[1]: fields[2] for fields in (line.split() for line in listing.splitlines())
            if len(fields) == 3 and fields[0] == "ii"}


def reboot(sandbox, host: str) -> None:
    before = ssh(sandbox, host, "cat /proc/sys/kernel/random/boot_id").stdout
    ssh(sandbox, host, "reboot", check=False)
    deadline = time.monotonic() + 30
    while True:
        result = ssh(sandbox, host, "cat /proc/sys/kernel/random/boot_id", check=False)
        if result.returncode == 0 and result.stdout != before:
            return
        assert time.monotonic() < deadline, f"{host} did not come back from the reboot"
        time.sleep(0.3)


def test_driver_installs_from_the_signed_repository_and_answers_after_reboot(sandbox, gpu_host):
    apt(sandbox, gpu_host, "install nvidia-driver-pinning-580")  # else the parts float to the newest branch
    apt(sandbox, gpu_host, "install nvidia-open")
    versions = ssh(sandbox, gpu_host, "dpkg-query -W -f '${Package} ${Version}\\n' nvidia-open nvidia-driver "
                   "nvidia-kernel-open-dkms nvidia-driver-cuda").stdout.split("\n")
    assert all(line.endswith(NEW) for line in versions if line)
    description = ssh(sandbox, gpu_host, "dpkg-query -W -f '${Description}' nvidia-open").stdout
    assert description.startswith("STAND-IN for tests: not NVIDIA software")

    before = ssh(sandbox, gpu_host, QUERY, check=False)
    assert (before.returncode, before.stdout.strip()) == (9, NOT_LOADED), "no module is loaded before a reboot"
    assert ssh(sandbox, gpu_host, "nvidia-standin-module status").stdout.endswith("reboot required: yes\n")

    reboot(sandbox, gpu_host)
    lines = ssh(sandbox, gpu_host, QUERY).stdout.splitlines()
    assert len(lines) == 8
    assert lines[0] == "0, NVIDIA H100 80GB HBM3, 00000000:18:00.0, 580.95.05, 9.0, 81559 MiB"
    assert ssh(sandbox, gpu_host, "nvidia-standin-module loaded-version").stdout == "580.95.05\n"
    assert ssh(sandbox, gpu_host, "cat /etc/nvidia-standin/lspci-Dnn-d-10de.txt").stdout.count("[10de:2330]") == 8
    assert ssh(sandbox, gpu_host, "lspci -Dnn -d 10de:").stdout.count("[10de:2330]") == 8
    assert "CUDA Version: 13.0" in ssh(sandbox, gpu_host, "nvidia-smi").stdout
    ssh(sandbox, gpu_host, "/etc/init.d/nvidia-persistenced start")
    assert ssh(sandbox, gpu_host, "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader -i 0").stdout == "Enabled\n"
    assert ssh(sandbox, gpu_host, "/etc/init.d/nvidia-persistenced status").returncode == 0


def test_old_branch_then_upgrade_shows_the_mismatch_until_reboot(sandbox, gpu_host):
    apt(sandbox, gpu_host, "install " + " ".join(f"{name}={OLD}" for name in OLD_BRANCH))
    reboot(sandbox, gpu_host)
    assert ssh(sandbox, gpu_host, "nvidia-smi --query-gpu=driver_version --format=csv,noheader -i 0").stdout == "550.163.01\n"
    assert "CUDA Version        : 12.4" in ssh(sandbox, gpu_host, "nvidia-smi --version").stdout

    apt(sandbox, gpu_host, "install nvidia-open")  # the newest branch, its parts with it
    mismatch = ssh(sandbox, gpu_host, "nvidia-smi -L", check=False)
    assert mismatch.returncode == 18
    assert mismatch.stdout.startswith("Failed to initialize NVML: Driver/library version mismatch")
    assert ssh(sandbox, gpu_host, "nvidia-standin-module status").stdout == \
        "installed: 595.71.05\nloaded: 550.163.01\nreboot required: yes\n"

    reboot(sandbox, gpu_host)
    assert ssh(sandbox, gpu_host, "nvidia-smi --query-gpu=driver_version --format=csv,noheader -i 0").stdout == "595.71.05\n"


def test_fabricmanager_runs_only_with_the_matching_driver_loaded(sandbox, gpu_host):
    apt(sandbox, gpu_host, "install nvidia-driver-pinning-580")
    apt(sandbox, gpu_host, "install nvidia-open nvidia-fabricmanager-580")
    assert ssh(sandbox, gpu_host, "/etc/init.d/nvidia-fabricmanager start", check=False).returncode != 0
    reboot(sandbox, gpu_host)
    ssh(sandbox, gpu_host, "/etc/init.d/nvidia-fabricmanager start")
    assert ssh(sandbox, gpu_host, "/etc/init.d/nvidia-fabricmanager status").stdout == "nvidia-fabricmanager is running\n"
    assert "        State                             : Completed" in ssh(sandbox, gpu_host, "nvidia-smi -q -i 0").stdout
    ssh(sandbox, gpu_host, "/etc/init.d/nvidia-fabricmanager stop")


def test_toolkit_installs_and_nvidia_ctk_merges_daemon_json_idempotently(sandbox, gpu_host):
    apt(sandbox, gpu_host, "install " + " ".join(f"{name}=1.17.8-1" for name in TOOLKIT))
    for name in TOOLKIT:
        description = ssh(sandbox, gpu_host, f"dpkg-query -W -f '${{Description}}' {name}").stdout
        assert description.startswith("STAND-IN for tests: not NVIDIA software"), name
    existing = {"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "data-root": "/var/lib/docker",
                "insecure-registries": ["10.244.0.1:5000"], "default-shm-size": "1G"}
    put(sandbox, gpu_host, "/etc/docker/daemon.json", json.dumps(existing, indent=2).encode())
    configure = "nvidia-ctk runtime configure --runtime=docker --set-as-default"
    result = ssh(sandbox, gpu_host, configure)
    assert "Wrote updated config to /etc/docker/daemon.json" in result.stderr
    merged = json.loads(ssh(sandbox, gpu_host, "cat /etc/docker/daemon.json").stdout)
    assert merged == {**existing, "default-runtime": "nvidia",
                      "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
    first = ssh(sandbox, gpu_host, "md5sum /etc/docker/daemon.json; stat -c %Y /etc/docker/daemon.json").stdout
    time.sleep(1.1)
    ssh(sandbox, gpu_host, configure)
    assert ssh(sandbox, gpu_host, "md5sum /etc/docker/daemon.json; stat -c %Y /etc/docker/daemon.json").stdout == first

    assert ssh(sandbox, gpu_host, "nvidia-ctk --version").stdout.startswith("NVIDIA Container Toolkit CLI version 1.17.8")
    hook = ssh(sandbox, gpu_host, "echo '{\"bundle\": \"/b\"}' | nvidia-container-runtime-hook prestart; "
               "cat /var/log/nvidia-standin/hook.log")
    assert "prestart bundle=/b" in hook.stdout
    assert "STAND-IN" in ssh(sandbox, gpu_host, "nvidia-container-runtime --version").stdout


# ---- what goes wrong on a real repository goes wrong here ------------------------------------------
def test_debian_metapackages_float_to_the_newest_branch_without_a_pin(sandbox, gpu_host):
    apt(sandbox, gpu_host, "install cuda-drivers-580")
    installed = versions(sandbox, gpu_host)
    assert installed["cuda-drivers-580"] == NEW
    assert installed["nvidia-driver"] == NEWEST and installed["nvidia-kernel-dkms"] == NEWEST


def test_cuda_drivers_after_nvidia_open_switches_debian_to_the_proprietary_module(sandbox, gpu_host):
    apt(sandbox, gpu_host, "install nvidia-driver-pinning-580")
    apt(sandbox, gpu_host, "install nvidia-open")
    assert "nvidia-kernel-open-dkms" in versions(sandbox, gpu_host)
    switched = apt(sandbox, gpu_host, "install cuda-drivers")
    assert "nvidia-kernel-open-dkms" in switched.stdout  # "The following packages will be REMOVED"
    installed = versions(sandbox, gpu_host)
    assert "nvidia-kernel-open-dkms" not in installed and installed["nvidia-kernel-dkms"] == NEW


@pytest.fixture
def ubuntu_host(sandbox, fresh_host, standin):
    return point_at(sandbox, standin, "host01", distro="ubuntu2204")


def test_ubuntu_names_carry_the_branch_and_debian_names_are_missing(sandbox, ubuntu_host):
    apt(sandbox, ubuntu_host, "install nvidia-open-580")
    installed = versions(sandbox, ubuntu_host)
    assert installed["nvidia-dkms-580-open"] == "580.95.05-0ubuntu1"
    assert installed["nvidia-compute-utils-580"] == "580.95.05-0ubuntu1" and "nvidia-dkms-580" not in installed
    debian_name = apt(sandbox, ubuntu_host, "install nvidia-kernel-open-dkms", check=False)
    assert debian_name.returncode == 100 and "nvidia-kernel-open-dkms" in debian_name.stderr
    virtual = apt(sandbox, ubuntu_host, "install nvidia-fabricmanager=580.95.05-1", check=False)
    assert virtual.returncode == 100, "the unsuffixed name is virtual at 580: no version to pin"


def test_ubuntu_persistence_mode_is_off_until_a_drop_in_turns_it_on(sandbox, ubuntu_host):
    apt(sandbox, ubuntu_host, "install nvidia-open-580")
    reboot(sandbox, ubuntu_host)
    query = "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader -i 0"
    ssh(sandbox, ubuntu_host, "/etc/init.d/nvidia-persistenced start")
    assert ssh(sandbox, ubuntu_host, query).stdout == "Disabled\n"
    ssh(sandbox, ubuntu_host, "mkdir -p /etc/systemd/system/nvidia-persistenced.service.d && printf '[Service]\\n"
        "ExecStart=\\nExecStart=/usr/bin/nvidia-persistenced --user root --persistence-mode --verbose\\n' "
        "> /etc/systemd/system/nvidia-persistenced.service.d/override.conf")
    ssh(sandbox, ubuntu_host, "/etc/init.d/nvidia-persistenced restart")
    assert ssh(sandbox, ubuntu_host, query).stdout == "Enabled\n"
    assert "Persistence Mode                      : Enabled" in ssh(sandbox, ubuntu_host, "nvidia-smi -q -i 0").stdout
    ssh(sandbox, ubuntu_host, "/etc/init.d/nvidia-persistenced stop")
    assert ssh(sandbox, ubuntu_host, query).stdout == "Disabled\n"


def archive_host(sandbox, fresh_host, standin, suite: str) -> str:
    """host01 with the H100 board and apt pointed only at the stand-in of Ubuntu's archive (restricted)."""
    host = point_at(sandbox, standin, "host01")
    ssh(sandbox, host, f"rm -f /etc/apt/sources.list.d/* && echo 'deb [signed-by={KEYRING}] {standin.url}{ARCHIVE_PATH} "
                       f"{suite} restricted' > /etc/apt/sources.list.d/ubuntu.list")
    update = apt(sandbox, host, "update")
    assert "NO_PUBKEY" not in update.stderr and f"{suite}/restricted" in update.stdout, update.stdout + update.stderr
    return host


def test_canonicals_server_flavours_exclude_each_other_and_the_open_one_loads_after_reboot(sandbox, fresh_host, standin):
    """Ubuntu 22.04's archive as NVIDIA's driver role and DeepOps' playbook use it: two flavours
    never install together (shared virtual names); `-open` brings the open module, kernel-common
    pinned to the upstream version and the firmware; an ended flavour installs the next one."""
    host = archive_host(sandbox, fresh_host, standin, "jammy-updates")
    both = apt(sandbox, host, "install -s nvidia-headless-535-server nvidia-headless-580-server", check=False)
    assert both.returncode == 100 and "conflict" in both.stdout.lower() + both.stderr.lower(), both.stdout + both.stderr
    transitional = apt(sandbox, host, "install -s nvidia-headless-570-server").stdout
    assert "Inst nvidia-headless-580-server (580.126.20-0ubuntu0.22.04.1" in transitional
    apt(sandbox, host, "install nvidia-headless-580-server-open nvidia-utils-580-server")
    installed = versions(sandbox, host)
    assert installed["nvidia-dkms-580-server-open"] == "580.126.20-0ubuntu0.22.04.1"
    assert installed["nvidia-firmware-580-server-580.126.20"] == "580.126.20-0ubuntu0.22.04.1"
    assert "nvidia-dkms-580-server" not in installed and "nvidia-headless-580-server" not in installed
    assert ssh(sandbox, host, "nvidia-smi", check=False).returncode != 0, "not loaded before the reboot"
    reboot(sandbox, host)
    assert ssh(sandbox, host, "nvidia-smi --query-gpu=driver_version --format=csv,noheader -i 0").stdout == "580.126.20\n"
    assert "Open Kernel Module" in ssh(sandbox, host, "cat /proc/driver/nvidia/version").stdout
    other = apt(sandbox, host, "install -s nvidia-headless-535-server")
    assert "Remv nvidia-kernel-common-580-server" in other.stdout, "the other flavour replaces this one, never beside it"


def test_a_package_that_ships_lspci_leaves_the_stand_in_in_place(sandbox, fresh_host, tmp_path):
    host = fresh_host.name
    """A real server's lspci comes from pciutils, which DeepOps' facts role installs before it
    counts GPUs with lspci. The sandbox diverts the stand-in's paths as `dpkg-divert --local` does,
    so such a package's lspci goes aside and the stand-in keeps answering."""
    listed = ssh(sandbox, host, "dpkg-divert --list /usr/bin/lspci; dpkg-divert --list /usr/sbin/update-initramfs").stdout
    assert "local diversion of /usr/bin/lspci to /usr/bin/lspci.distrib" in listed
    assert "local diversion of /usr/sbin/update-initramfs to /usr/sbin/update-initramfs.distrib" in listed
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text("Package: lspci-shipper\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: t <t@example.invalid>\nDescription: ships /usr/bin/lspci\n")
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "lspci").write_text("#!/bin/sh\necho packaged lspci\n")
    (tree / "usr" / "bin" / "lspci").chmod(0o755)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(tmp_path / "x.deb")], check=True,
                   capture_output=True)
    put(sandbox, host, "/tmp/x.deb", (tmp_path / "x.deb").read_bytes())
    ssh(sandbox, host, "dpkg -i /tmp/x.deb")
    assert "3D controller: NVIDIA Corporation" in ssh(sandbox, host, "lspci").stdout
    assert ssh(sandbox, host, "/usr/bin/lspci.distrib").stdout == "packaged lspci\n"

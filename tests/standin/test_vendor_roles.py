"""Vendor-style GPU roles (tests/fixtures/vendor_roles: NVIDIA's and DeepOps' constructs, our own
files) on stand-in Ubuntu 22.04 H100 hosts, pointed at the stand-in repository by its base URL only:
gpu01 takes the driver from NVIDIA's CUDA repository, gpu02 from Ubuntu's archive (Canonical's
`nvidia-headless-515-server`, NVIDIA's driver role's default, now a transitional package for 525),
which every Ubuntu sandbox host has as its stand-in `restricted` source.

A new user's path: the playbooks validate; the driver role alone runs in check mode on a new host
without a failure (where Ansible stops: its package comes from the repository cuda-keyring adds, and
its service from the package), saying which changes it cannot check yet; the whole site converges
(facts.d GPU count, keyring with NVIDIA's pin, driver, persistence mode, toolkit, reboot); and a
check afterwards changes nothing. The hosts have no other apt source: nothing leaves this machine.
"""
from __future__ import annotations

import json
import os
import platform

import pytest
import yaml

from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import provision

pytestmark = pytest.mark.sandbox

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "vendor_roles")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vendor-roles")
    with throwaway_sandbox("vnd", hosts=2, kind="systemd", os_name="ubuntu22.04") as fleet:
        for host in ("host01", "host02"):  # Debian's sources go (no way out); the stand-in archive stays
            ssh(fleet, host, "rm -f /etc/apt/sources.list; find /etc/apt/sources.list.d -type f "
                             "! -name ubuntu-archive-standin.sources -delete")
        # as NVIDIA's molecule prepare.yml: the role installs from the archive without updating lists
        ssh(fleet, "host02", "apt-get update -q")
        standin = fleet.start_standin()
        cuda = standin.cuda_url("ubuntu2204").rstrip("/")
        inventory = str(folder / "inventory.yaml")
        with open(inventory, "w") as handle:
            yaml.safe_dump({"all": {
                "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": fleet.key_path,
                         "provision_known_hosts_file": fleet.known_hosts_path,
                         # the stand-in instead of developer.download.nvidia.com: the only change
                         "cuda_driver_repo_baseurl": cuda, "cuda_toolkit_repo_baseurl": cuda,
                         # one keyring version for both roles: NVIDIA's driver role defaults to 1.0-1,
                         # DeepOps' nvidia_cuda to 1.1-1, and `apt: deb=` wants exactly its version, so
                         # with the defaults each run downgrades then upgrades it (in Ansible too)
                         "cuda_driver_keyring_package": "cuda-keyring_1.1-1_all.deb",
                         "container_runtime_repo_base_url": standin.nvidia_docker_url,
                         "container_runtime_wrapper_url": standin.docker_wrapper_url,
                         # the host runs no docker to restart (NVIDIA's role has the same switch)
                         "container_runtime_skip_restart": True},
                "hosts": {"gpu01": {"ansible_host": fleet.host("host01").address,
                                    "cuda_driver_ubuntu_install_from_cuda_repo": True},
                          # NVIDIA's driver role's default branch, from Canonical's archive
                          "gpu02": {"ansible_host": fleet.host("host02").address, "cuda_driver_branch": "515"}}}},
                           handle)

        def run(name: str, *words: str) -> tuple:
            report = str(folder / f"{name}.json")
            result = provision(words[0], inventory, *words[1:], "--report-json", report, timeout=900)
            assert os.path.exists(report), f"{words}: no report\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            with open(report) as handle:
                return result, json.load(handle)

        done = {"lint": {playbook: provision("lint", inventory, os.path.join(FIXTURE, playbook))
                         for playbook in ("site.yml", "driver.yml", "container.yml")}}
        done["check-new"] = run("check-new", "apply", os.path.join(FIXTURE, "driver.yml"), "--check", "--diff")
        done["check-new-container"] = run("check-new-container", "apply", os.path.join(FIXTURE, "container.yml"),
                                          "--check", "--diff")
        done["keyring-after-check"] = ssh(fleet, "host01", "dpkg-query -W cuda-keyring", check=False).returncode
        done["apply"] = run("apply", "apply", os.path.join(FIXTURE, "site.yml"))
        # a reboot returns once sshd answers (Ansible's too); the boot's other units may still be
        # starting, persistenced among them on a loaded machine: read the end state once boot is done
        booted = "systemctl is-system-running --wait >/dev/null; "
        done["host"] = ssh(fleet, "host01", booted + "nvidia-smi --query-gpu=driver_version,persistence_mode "
                                            "--format=csv,noheader | sort -u; /usr/local/cuda/bin/nvcc --version "
                                            "| tail -2 | head -1; cat /etc/apt/sources.list.d/cuda-ubuntu2204-x86_64.list; "
                                            "apt-cache policy cuda-drivers-580 | grep -c ' 600 http'; "
                                            "cat /etc/modprobe.d/blacklist-ansible.conf").stdout.splitlines()
        done["container"] = ssh(fleet, "host01", "dpkg-query -W nvidia-container-runtime nvidia-container-toolkit; "
                                                 "grep -c '^deb ' /etc/apt/sources.list.d/nvidia-docker.list; "
                                                 "head -2 /usr/local/bin/nvidia-docker | tail -1; "
                                                 "cat /etc/docker/daemon.json").stdout
        # CI saw "Disabled" here twice in many runs, once on an idle machine, after boot was done:
        # the cause is not known yet. Wait (bounded) for the mode, and keep what systemd says of the
        # daemon for the assertion's message, so a failure says why.
        done["persistenced"] = ssh(fleet, "host02", "for _ in $(seq 60); do nvidia-smi --query-gpu=persistence_mode "
                                                    "--format=csv,noheader | grep -q Enabled && break; sleep 0.5; done; "
                                                    "systemctl status --no-pager nvidia-persistenced "
                                                    "sandbox-standin-kernel 2>&1 | tail -25; journalctl -b --no-pager "
                                                    "-u nvidia-persistenced 2>&1 | tail -15", check=False).stdout
        done["archive-host"] = ssh(fleet, "host02", booted + "nvidia-smi --query-gpu=driver_version,persistence_mode "
                                                    "--format=csv,noheader | sort -u; cat /sys/module/nvidia/version; "
                                                    "head -1 /proc/driver/nvidia/version; "
                                                    "dpkg-query -W nvidia-headless-515-server "
                                                    "nvidia-headless-525-server; systemctl is-enabled "
                                                    "nvidia-persistenced; head -2 /lib/modprobe.d/"
                                                    "nvidia-graphics-drivers.conf | tail -1").stdout.splitlines()
        done["check-again"] = run("check-again", "apply", os.path.join(FIXTURE, "site.yml"), "--check")
        yield done


def results(report: dict, host: str = "gpu01") -> dict[str, dict]:
    return {result["task"]: result for result in report["results"]
            if result["task"] != "Gathering Facts" and result["host"] == host}


def test_the_playbooks_validate_unchanged(runs):
    for playbook, result in runs["lint"].items():
        assert result.returncode == 0 and "no problems" in result.stdout, (playbook, result.stdout + result.stderr)


def test_check_mode_on_a_new_host_runs_through_and_says_what_it_cannot_check_yet(runs):
    result, report = runs["check-new"]
    assert result.returncode == 0, result.stdout[-3000:]
    found = results(report)
    assert not [task for task, entry in found.items() if entry["status"] == "failed"], found
    keyring = found["cuda_driver : CUDA keyring"]
    assert keyring["changed"] and "install cuda-keyring 1.1-1 from http://" in keyring["diff"]
    driver = found["cuda_driver : driver packages"]
    assert driver["changed"] and "install cuda-drivers-580 (not checkable yet: an earlier task in this check " \
                                 "adds apt sources it may come from)" in driver["diff"]
    service = found["cuda_driver : persistenced enabled"]
    assert service["changed"] and "nvidia-persistenced is not on the host yet" in service["diff"]
    assert found["cuda_driver : reboot into the new driver"]["changed"], "it would reboot: the driver changed"
    assert found["cuda_driver : nouveau blacklisted"]["diff"].count("/etc/modprobe.d/blacklist-ansible.conf") == 1
    assert runs["keyring-after-check"] != 0, "check mode installed nothing"


def test_check_mode_on_a_new_host_plans_the_driver_from_ubuntus_archive(runs):
    """NVIDIA's default Ubuntu path: nvidia-headless-515-server is a transitional package in
    Canonical's archive now, so the plan names the 525 release it brings; no CUDA keyring."""
    result, report = runs["check-new"]
    found = results(report, "gpu02")
    assert not [task for task, entry in found.items() if entry["status"] == "failed"], found
    driver = found["cuda_driver : driver packages from the archive"]
    assert driver["changed"] and "install nvidia-headless-515-server 525.147.05-0ubuntu0.22.04.1" in driver["diff"], driver
    assert "cuda_driver : CUDA keyring" not in found
    service = found["cuda_driver : persistenced enabled"]
    assert service["changed"] and "nvidia-persistenced is not on the host yet" in service["diff"]


def test_the_container_runtime_role_checks_on_a_new_host_through_the_legacy_repository(runs):
    """On a new host the list's URL needs the facts.d fact the check did not write: 'not checkable
    yet' (Ansible fails it); the package is planned after the cache update the check does not run;
    none failed; the key is new to the host (its fingerprint is read there)."""
    result, report = runs["check-new-container"]
    assert result.returncode == 0, result.stdout[-3000:]
    found = results(report)
    assert not [task for task, entry in found.items() if entry["status"] == "failed"], found
    assert found["container_runtime : repository key"]["changed"]
    listed = found["container_runtime : repository list"]
    assert listed["changed"] and listed["msg"].startswith("not checkable yet: it reads ansible_local"), listed
    assert "install nvidia-container-runtime (after the cache update)" in found["container_runtime : container runtime"]["diff"]
    assert found["container_runtime : RedHat repository and packages"]["status"] == "skipped"
    assert found["container_runtime : docker daemon settings"]["changed"]


def test_the_site_converges_with_nvidias_keyring_pin_and_persistence_mode(runs):
    result, report = runs["apply"]
    assert result.returncode == 0, result.stdout[-3000:]
    found = results(report)
    assert found["the driver answers"]["status"] == "ok", "ansible_local['gpus']['count'] held: the facts.d count"
    assert found["cuda_driver : reboot into the new driver"]["status"] == "changed"
    assert runs["host"][0] == "580.95.05, Enabled", runs["host"]
    assert runs["host"][1] == "Cuda compilation tools, release 13.0, V13.0.2", runs["host"]
    assert runs["host"][2].startswith("deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] http://")
    assert runs["host"][3] == "1", "NVIDIA's pin (l=NVIDIA CUDA, 600) matches the repository"
    assert runs["host"][4:] == ["blacklist nouveau"]
    # NVIDIA's list names only the frozen ubuntu18.04 folders: runtime 3.13.0-1 and toolkit 1.13.5-1
    # there, not the 3.14.0-1/1.18 of stable/deb
    container = runs["container"].splitlines()
    assert container[:2] == ["nvidia-container-runtime\t3.13.0-1", "nvidia-container-toolkit\t1.13.5-1"], container
    assert container[2] == "3" and container[3].startswith("# STAND-IN for tests"), container
    daemon = json.loads("\n".join(container[4:]))
    assert daemon["default-runtime"] == "nvidia" and daemon["runtimes"]["nvidia"]["path"] == "/usr/bin/nvidia-container-runtime"
    assert found["container_runtime : container runtime"]["status"] == "changed"
    restarts = [entry["status"] for task, entry in found.items() if task.endswith("restart docker")]
    assert restarts == ["skipped"], "notified, and skipped by the role's switch: the host runs no docker"


def test_the_archive_host_converges_to_the_525_driver_through_the_transitional_packages(runs):
    """gpu02 asked for branch 515: Canonical's 515-server names depend on 525-server's, so the
    driver is 525.147.05, at the kernel's paths after the reboot. The persistenced unit is static
    (no [Install]), as Canonical ships it, and runs anyway with the role's drop-in (persistence
    mode on): started as udev starts it on a real server, by the rule in nvidia-kernel-common."""
    result, report = runs["apply"]
    found = results(report, "gpu02")
    assert found["cuda_driver : driver packages from the archive"]["status"] == "changed"
    assert found["the driver answers"]["status"] == "ok"
    assert runs["archive-host"] == ["525.147.05, Enabled", "525.147.05",
                                    f"NVRM version: NVIDIA UNIX {platform.machine()} Kernel Module  525.147.05  "
                                    "Mon Sep 22 00:00:00 UTC 2025",
                                    "nvidia-headless-515-server\t525.147.05-0ubuntu0.22.04.1",
                                    "nvidia-headless-525-server\t525.147.05-0ubuntu0.22.04.1", "static",
                                    "blacklist nouveau"], (runs["archive-host"], runs["persistenced"])


def test_a_check_after_converging_changes_nothing(runs):
    result, report = runs["check-again"]
    assert result.returncode == 0, result.stdout[-3000:]
    for host in ("gpu01", "gpu02"):
        assert report["hosts"][host]["changed"] == 0 and report["hosts"][host]["failed"] == 0, \
            [(entry["host"], entry["task"]) for entry in report["results"] if entry["changed"]]

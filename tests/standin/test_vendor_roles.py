"""Vendor-style GPU roles (tests/fixtures/vendor_roles: NVIDIA's and DeepOps' constructs, our own
files) on a stand-in Ubuntu 22.04 H100 host, pointed at the stand-in repository by its base URL only.

A new user's path: the playbooks validate; the driver role alone runs in check mode on a new host
without a failure (where Ansible stops: its package comes from the repository cuda-keyring adds, and
its service from the package), saying which changes it cannot check yet; the whole site converges
(facts.d GPU count, keyring with NVIDIA's pin, driver, persistence mode, toolkit, reboot); and a
check afterwards changes nothing. The host has no other apt source: nothing leaves this machine.
"""
from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import provision

pytestmark = pytest.mark.sandbox

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "vendor_roles")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vendor-roles")
    with throwaway_sandbox("vnd", hosts=1, kind="systemd", os_name="ubuntu22.04") as fleet:
        ssh(fleet, "host01", "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*")
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
                "hosts": {"gpu01": {"ansible_host": fleet.host("host01").address}}}}, handle)

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
        done["host"] = ssh(fleet, "host01", "nvidia-smi --query-gpu=driver_version,persistence_mode "
                                            "--format=csv,noheader | sort -u; /usr/local/cuda/bin/nvcc --version "
                                            "| tail -2 | head -1; cat /etc/apt/sources.list.d/cuda-ubuntu2204-x86_64.list; "
                                            "apt-cache policy cuda-drivers-580 | grep -c ' 600 http'; "
                                            "cat /etc/modprobe.d/blacklist-ansible.conf").stdout.splitlines()
        done["container"] = ssh(fleet, "host01", "dpkg-query -W nvidia-container-runtime nvidia-container-toolkit; "
                                                 "grep -c '^deb ' /etc/apt/sources.list.d/nvidia-docker.list; "
                                                 "head -2 /usr/local/bin/nvidia-docker | tail -1; "
                                                 "cat /etc/docker/daemon.json").stdout
        done["check-again"] = run("check-again", "apply", os.path.join(FIXTURE, "site.yml"), "--check")
        yield done


def results(report: dict) -> dict[str, dict]:
    return {result["task"]: result for result in report["results"] if result["task"] != "Gathering Facts"}


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


def test_a_check_after_converging_changes_nothing(runs):
    result, report = runs["check-again"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert report["hosts"]["gpu01"]["changed"] == 0 and report["hosts"]["gpu01"]["failed"] == 0, \
        [entry["task"] for entry in report["results"] if entry["changed"]]

"""The site playbook end to end on docker sandbox hosts presenting as Ubuntu 22.04 (the usual HGX
H100 server) with the stand-in NVIDIA repository: bare hosts to verified with exactly the packages
NVIDIA documents for Ubuntu 22.04 at branch 580, idempotent, verify and the nightly drift check,
docker rollback, refusals. tests/roles/test_site_os.py runs the same on Ubuntu 24.04 and Debian 12."""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree

import pytest

from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import provision, read_report

pytestmark = pytest.mark.sandbox
SITE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "playbooks", "site.yaml")


@pytest.fixture(scope="module")
def gpu_fleet():
    with throwaway_sandbox("xg", hosts=2, kind="docker", os_name="ubuntu22.04") as fleet:
        yield fleet


@pytest.fixture(scope="module")
def converged(gpu_fleet, tmp_path_factory):
    report = tmp_path_factory.mktemp("site") / "first.json"
    run = provision("apply", gpu_fleet.inventory_path, SITE, "--report-json", str(report), timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return read_report(report)


def installed_packages(fleet, host: str) -> set[str]:
    listing = ssh(fleet, host, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'").stdout
    return {line.split()[1] for line in listing.splitlines() if line[1:2] == "i"}  # "ii", or "hi" when held


def test_bare_hosts_become_verified(gpu_fleet, converged):
    for host in gpu_fleet.hosts:
        runtimes = json.loads(ssh(gpu_fleet, host.name, "docker info --format '{{json .Runtimes}}'").stdout)
        assert "nvidia" in runtimes
        installed = installed_packages(gpu_fleet, host.name)
        # NVIDIA's documented set for Ubuntu 22.04, branch 580, open modules on an NVSwitch board
        assert {"nvidia-open-580", "nvidia-driver-580-open", "nvidia-dkms-580-open",
                "nvidia-fabricmanager-580"} <= installed
        wrong = {name for name in installed if name.startswith("cuda-drivers") or name == "nvidia-dkms-580"
                 or name in ("nvidia-open", "nvidia-driver", "nvidia-kernel-open-dkms", "nvidia-kernel-dkms")}
        assert wrong == set(), "no proprietary module, no cuda-drivers, no Debian names on Ubuntu"
        held = ssh(gpu_fleet, host.name, "apt-mark showhold").stdout.split()
        assert {"nvidia-open-580", "nvidia-dkms-580-open", "nvidia-fabricmanager-580",
                "nvidia-container-toolkit"} <= set(held)
        assert ssh(gpu_fleet, host.name, "nvidia-smi -L | wc -l").stdout.strip() == "8", "stand-in H100 x8 loaded"
        modes = ssh(gpu_fleet, host.name, "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader").stdout
        assert modes.split() == ["Enabled"] * 8
        assert ssh(gpu_fleet, host.name, "cat /sys/module/nvidia/version").stdout.strip() == \
            ssh(gpu_fleet, host.name, "dpkg-query -W -f='${Version}' nvidia-dkms-580-open").stdout.split("-")[0]
        last = json.loads(ssh(gpu_fleet, host.name, "cat /var/lib/provision/gpu_verify/last.json").stdout)
        statuses = {check["name"]: check["status"] for check in last["checks"]}
        assert statuses["matmul_cpu"] == "pass" and statuses["cuda_available"] == "skip"
        assert "fail" not in statuses.values()
    reboots = [row for row in converged["results"] if row["task"].startswith("reboot : reboot") and row["changed"]]
    assert len(reboots) == 2, "each host rebooted once, for the new driver"


def test_second_run_changes_nothing(gpu_fleet, converged, tmp_path):
    run = provision("apply", gpu_fleet.inventory_path, SITE, "--report-json", str(tmp_path / "r.json"), timeout=600)
    assert run.returncode == 0, run.stdout[-4000:]
    report = read_report(tmp_path / "r.json")
    changed = [(row["host"], row["task"]) for row in report["results"] if row["changed"]]
    assert changed == [], "nothing changes, and nothing reboots"


def test_verify_passes_and_a_broken_host_fails_the_right_checks(gpu_fleet, converged, tmp_path):
    clean = provision("verify", gpu_fleet.inventory_path, "--report-json", str(tmp_path / "v.json"))
    assert clean.returncode == 0, clean.stdout[-4000:]
    ssh(gpu_fleet, "host02", "apt-mark unhold nvidia-open-580 >/dev/null; rm /etc/apt/apt.conf.d/51provision-gpu-blacklist")
    try:
        broken = provision("verify", gpu_fleet.inventory_path, "--report-json", str(tmp_path / "b.json"))
        assert broken.returncode == 2
        failed = {(row["host"], row["task"].removeprefix("verify : ")) for row in read_report(tmp_path / "b.json")["results"]
                  if row["module"] == "testinfra" and row["status"] == "failed"}
        assert failed == {("host02", "test_driver_packages_on_the_pinned_branch_and_held"),
                          ("host02", "test_gpu_stack_is_blacklisted_from_unattended_upgrades")}
    finally:
        assert provision("apply", gpu_fleet.inventory_path, SITE, "-q", timeout=600).returncode == 0


def test_nightly_check_names_exactly_what_moved(gpu_fleet, converged, tmp_path):
    ssh(gpu_fleet, "host01", "echo '// edited by hand' >> /etc/apt/apt.conf.d/51provision-gpu-blacklist")
    ssh(gpu_fleet, "host02", "service nvidia-persistenced stop >/dev/null")
    files = {name: str(tmp_path / name) for name in ("report.json", "junit.xml", "metrics.prom")}
    history = str(tmp_path / "history.sqlite")
    run = provision("check", gpu_fleet.inventory_path, SITE, "--report-json", files["report.json"],
                    "--junit", files["junit.xml"], "--prom", files["metrics.prom"], "--state-db", history,
                    timeout=600)
    assert run.returncode == 3, run.stdout[-4000:]
    assert re.search(r"drift host01: packages_hygiene : keep the GPU stack out of unattended-upgrades", run.stdout)
    assert re.search(r"drift host02: reboot : nvidia-persistenced running", run.stdout)
    assert "-// edited by hand" in run.stdout, "the diff shows what moved"
    drift = read_report(files["report.json"])["drift"]
    diffs = {(row["host"], row["task"]): row["diff"] for row in read_report(files["report.json"])["results"]
             if row["changed"]}
    print(diffs, drift)  # shown when an assertion below fails
    tasks = {host: [task for task in names if not task.startswith("verify : ")] for host, names in drift.items()}
    assert tasks == {"host01": ["packages_hygiene : keep the GPU stack out of unattended-upgrades"],
                     "host02": ["reboot : nvidia-persistenced running on the loaded driver"]}
    # a check that failed is drift too (named "verify : test_..."): JUnit and metrics count the same
    failures = {(case.get("classname"), case.get("name").split(" (")[0])
                for case in ElementTree.parse(files["junit.xml"]).iter("testcase") if case.find("failure") is not None}
    assert failures == {(host, task) for host, names in drift.items() for task in names}
    metrics = open(files["metrics.prom"]).read()
    for host, names in drift.items():
        assert f'provision_drift_tasks{{host="{host}"}} {len(names)}' in metrics
    assert provision("apply", gpu_fleet.inventory_path, SITE, "-q", "--state-db", history,
                     timeout=600).returncode == 0
    # --summary: from cron (stdout not a terminal) a clean check prints nothing at all
    calm = provision("check", gpu_fleet.inventory_path, SITE, "--summary", "--state-db", history, timeout=600)
    assert calm.returncode == 0, calm.stdout[-3000:]
    assert "no drift on 2 host(s)" in calm.stdout
    shown = provision("history", "--host", "host01", "--state-db", history).stdout
    row = [line for line in shown.splitlines() if "unattended-upgrades" in line]
    assert row, shown  # the drift appeared in the first check...
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", row[0])) == 2, shown  # ...and a later run saw it gone


def test_docker_rollback_restores_the_previous_daemon_json(gpu_fleet, converged):
    before = ssh(gpu_fleet, "host01", "cat /etc/docker/daemon.json").stdout
    run = provision("apply", gpu_fleet.inventory_path, SITE, "--limit", "host01", "-e",
                    '{"docker_daemon_extra_options": {"bogus-directive": true}}', timeout=600)
    assert run.returncode == 2
    assert "previous one was restored" in run.stdout and "bogus-directive" in run.stdout
    assert ssh(gpu_fleet, "host01", "cat /etc/docker/daemon.json").stdout == before
    assert ssh(gpu_fleet, "host01", "docker info --format '{{.ServerVersion}}'").returncode == 0


def test_preflight_refuses_before_anything_is_installed(gpu_fleet, converged):
    marker = "stat -c %Y /etc/apt/sources.list.d/provision-nvidia-cuda.sources; dpkg-query -W -f='${Package} ${Version}\\n'"
    before = ssh(gpu_fleet, "host02", marker).stdout
    old = provision("apply", gpu_fleet.inventory_path, SITE, "--limit", "host02",
                    "-e", "nvidia_driver_branch=550", "-e", "pytorch_image_cuda_version=13.0")
    assert old.returncode == 2 and "too old for CUDA 13.0" in old.stdout
    arch = provision("apply", gpu_fleet.inventory_path, SITE, "--limit", "host02",
                     "-e", '{"pytorch_image_arch_list": ["sm_70", "sm_80"]}')
    assert arch.returncode == 2 and "cannot run on compute capability 9.0" in arch.stdout
    switch = provision("apply", gpu_fleet.inventory_path, SITE, "--limit", "host02",
                       "-e", "nvidia_driver_flavour=proprietary")
    assert switch.returncode == 2 and "a flavour switch is never implicit" in switch.stdout, switch.stdout[-3000:]
    assert "has the open kernel modules installed (nvidia-dkms-580-open" in switch.stdout
    ssh(gpu_fleet, "host02", "cp /etc/os-release /root/os-release.saved; rm /etc/os-release; "
                             "printf 'ID=fedora\\nNAME=Fedora Linux\\nVERSION_ID=40\\n' > /etc/os-release")
    try:
        fedora = provision("apply", gpu_fleet.inventory_path, SITE, "--limit", "host02")
    finally:
        ssh(gpu_fleet, "host02", "rm /etc/os-release; ln -s ../usr/lib/os-release /etc/os-release")
    assert fedora.returncode == 2 and "Fedora Linux 40 is not supported" in fedora.stdout or "Fedora 40" in fedora.stdout
    assert ssh(gpu_fleet, "host02", marker).stdout == before, "a refused plan touched the host"



def test_the_cdi_spec_follows_the_driver(gpu_fleet, converged, tmp_path):
    playbook = tmp_path / "cdi.yaml"
    playbook.write_text("- hosts: host01\n  become: true\n  vars: {nvidia_container_toolkit_cdi: true, "
                        "nvidia_driver_version: 580.95.05}\n  roles: [nvidia_container_toolkit, docker]\n")

    def cdi_changed() -> bool:
        run = provision("apply", gpu_fleet.inventory_path, str(playbook), timeout=300)
        assert run.returncode == 0, run.stdout[-3000:]
        return bool(re.search(r"changed +host01: nvidia_container_toolkit : CDI specification", run.stdout))

    assert cdi_changed()
    assert "580.95.05" in ssh(gpu_fleet, "host01", "cat /etc/cdi/nvidia.yaml").stdout, "the loaded driver's libraries"
    assert not cdi_changed()
    ssh(gpu_fleet, "host01", "echo 550.163.01 > /etc/cdi/.provision-nvidia-driver")  # as after a driver upgrade
    assert cdi_changed()
    assert ssh(gpu_fleet, "host01", "cat /etc/cdi/.provision-nvidia-driver").stdout.strip() == "580.95.05"

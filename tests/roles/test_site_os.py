"""The site playbook on the other supported distributions, one stand-in HGX H100 host each: bare to
verified with the packages NVIDIA documents for that distribution at branch 580, persistence mode on,
and a second run that changes nothing and does not reboot. (Ubuntu 22.04: tests/roles/test_site.py.)"""
from __future__ import annotations

import os

import pytest

from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import provision, read_report
from tests.roles.test_site import SITE, installed_packages

pytestmark = pytest.mark.sandbox

# What NVIDIA documents for each distribution at branch 580 with the open modules on an NVSwitch board,
# and names that must not be there (the other flavour's module, the other distribution's names).
EXPECTED = {
    "ubuntu24.04": ({"nvidia-open-580", "nvidia-driver-580-open", "nvidia-dkms-580-open", "nvidia-fabricmanager-580"},
                    {"nvidia-dkms-580", "cuda-drivers-580", "cuda-drivers", "nvidia-open", "nvidia-kernel-open-dkms"}),
    "debian12": ({"nvidia-open", "nvidia-kernel-open-dkms", "nvidia-driver", "nvidia-fabricmanager-580"},
                 {"nvidia-kernel-dkms", "cuda-drivers", "cuda-drivers-580", "nvidia-open-580", "nvidia-dkms-580-open"}),
}


@pytest.mark.parametrize("os_name", sorted(EXPECTED))
def test_site_converges_on(os_name, tmp_path):
    wanted, unwanted = EXPECTED[os_name]
    with throwaway_sandbox(f"xo{os_name[:2]}", hosts=1, kind="docker", os_name=os_name) as fleet:
        first = provision("apply", fleet.inventory_path, SITE, "--report-json", str(tmp_path / "1.json"), timeout=900)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
        installed = installed_packages(fleet, "host01")
        assert wanted <= installed and not unwanted & installed, (wanted - installed, unwanted & installed)
        assert {name for name in installed if name.startswith("nvidia-driver-pinning")} <= {"nvidia-driver-pinning-580"}
        modes = ssh(fleet, "host01", "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader").stdout.split()
        assert modes == ["Enabled"] * 8
        rebooted = [row for row in read_report(tmp_path / "1.json")["results"]
                    if row["task"].startswith("reboot : reboot") and row["changed"]]
        assert len(rebooted) == 1
        second = provision("apply", fleet.inventory_path, SITE, "--report-json", str(tmp_path / "2.json"), timeout=600)
        assert second.returncode == 0, second.stdout[-4000:]
        changed = [row["task"] for row in read_report(tmp_path / "2.json")["results"] if row["changed"]]
        assert changed == [], "a second run changes nothing and does not reboot"

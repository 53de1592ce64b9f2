"""The site playbook on the other supported distributions, one stand-in HGX H100 host each: bare to
verified with the packages NVIDIA documents for that distribution at branch 580, persistence mode on,
and a second run that changes nothing and does not reboot. (Ubuntu 22.04: tests/roles/test_site.py.)"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

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


@pytest.fixture(scope="module")
def first_runs(tmp_path_factory):
    """One host per distribution, converged side by side (most of a run is waiting on the host)."""
    folder = tmp_path_factory.mktemp("site_os")
    with ExitStack() as stack:
        fleets = {os_name: stack.enter_context(throwaway_sandbox(f"xo{os_name[:2]}", hosts=1, kind="docker",
                                                                 os_name=os_name)) for os_name in sorted(EXPECTED)}

        def converge(os_name):
            report = folder / f"{os_name}.json"
            return provision("apply", fleets[os_name].inventory_path, SITE, "--report-json", str(report),
                             timeout=900), report

        with ThreadPoolExecutor(max_workers=len(fleets)) as pool:
            runs = dict(zip(fleets, pool.map(converge, fleets)))
        yield {os_name: (fleets[os_name], *runs[os_name]) for os_name in fleets}


@pytest.mark.parametrize("os_name", sorted(EXPECTED))
def test_site_converges_on(os_name, first_runs, tmp_path):
    wanted, unwanted = EXPECTED[os_name]
    fleet, first, report = first_runs[os_name]
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    installed = installed_packages(fleet, "host01")
    assert wanted <= installed and not unwanted & installed, (wanted - installed, unwanted & installed)
    assert {name for name in installed if name.startswith("nvidia-driver-pinning")} <= {"nvidia-driver-pinning-580"}
    modes = ssh(fleet, "host01", "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader").stdout.split()
    assert modes == ["Enabled"] * 8
    rebooted = [row for row in read_report(report)["results"]
                if row["task"].startswith("reboot : reboot") and row["changed"]]
    assert len(rebooted) == 1
    second = provision("apply", fleet.inventory_path, SITE, "--report-json", str(tmp_path / "2.json"), timeout=600)
    assert second.returncode == 0, second.stdout[-4000:]
    changed = [row["task"] for row in read_report(tmp_path / "2.json")["results"] if row["changed"]]
    assert changed == [], "a second run changes nothing and does not reboot"

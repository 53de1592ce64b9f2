"""nvidia_fabricmanager's end state: on NVSwitch hosts, fabric manager at the driver's upstream version
(580.95.05-1 next to 580.95.05-0ubuntu1 is a match: the revisions differ by packaging)."""
import pytest

from provision.gpu import parse_lspci
from provision.gpu.packages import upstream_version


def test_fabric_manager_matches_the_driver_where_nvswitch_is_present(host, driver_plan):
    if not parse_lspci(host.run("lspci -Dnn -d 10de:").stdout).nvswitches:
        pytest.skip("no NVSwitch on this host")
    manager = host.package(driver_plan.fabricmanager)
    assert manager.is_installed, "NVSwitch present but fabric manager missing: CUDA will see no GPUs"
    driver = upstream_version(host.package(driver_plan.version_package).version)
    assert upstream_version(manager.version) == driver, f"fabric manager {manager.version} != driver {driver}"
    assert host.service("nvidia-fabricmanager").is_enabled

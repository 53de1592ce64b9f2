"""nvidia_fabricmanager's end state: on NVSwitch hosts, fabric manager at exactly the driver's version."""
import pytest


def test_fabric_manager_matches_the_driver_where_nvswitch_is_present(host, provision_vars):
    lspci = host.run(provision_vars["preflight_lspci_command"]).stdout
    if "Bridge [0680]" not in lspci:
        pytest.skip("no NVSwitch on this host")
    manager = host.package(provision_vars["nvidia_fabricmanager_package"])
    driver = host.package(provision_vars["nvidia_driver_version_package"])
    assert manager.is_installed, "NVSwitch present but fabric manager missing: CUDA will see no GPUs"
    assert manager.version == driver.version, f"fabric manager {manager.version} != driver {driver.version}"
    assert host.service("nvidia-fabricmanager").is_enabled

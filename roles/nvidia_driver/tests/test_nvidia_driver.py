"""nvidia_driver's end state: NVIDIA's documented packages for this distribution x branch x flavour
installed and held, nothing of the other flavour, nouveau out, the loaded driver is the installed one
(the NVML "Driver/library version mismatch" caught before users hit it), persistence mode on.

The expected names come from the `driver_plan` fixture (provision/verify/plugin.py): the host's own
os-release and GPUs and provision's package table, not anything the role wrote."""
import pytest

from provision.gpu.driver_state import LOADED_VERSION_COMMAND
from provision.gpu.packages import upstream_version


def test_driver_packages_on_the_pinned_branch_and_held(host, driver_plan):
    expected = driver_plan
    branch = str(expected.branch)
    held = set(host.run("apt-mark showhold").stdout.split())
    for name in (*expected.install, expected.kernel_module):
        assert host.package(name).is_installed, f"{name} is not installed"
    assert not host.package(expected.other_kernel_module).is_installed, (
        f"{expected.other_kernel_module} ({'proprietary' if expected.flavour == 'open' else 'open'} kernel module) "
        f"is installed on a host that needs the {expected.flavour} flavour")
    installed = [name for name in expected.hold if host.package(name).is_installed]
    for name in installed:
        assert host.package(name).version.split(":")[-1].startswith(branch + "."), f"{name} is not on branch {branch}"
        assert name in held, f"{name} is not held: an upgrade could replace it under the running module"


def test_branch_pin_in_place(host, driver_plan):
    expected = driver_plan
    pin = host.file("/etc/apt/preferences.d/provision-nvidia-driver")
    if not expected.pin_globs:
        assert not pin.exists, "every package name carries the branch here: no pin expected"
        return
    assert pin.exists and f"Pin: version {expected.branch}.*" in pin.content_string


def test_nouveau_blacklisted_and_not_loaded(host):
    blacklist = host.file("/etc/modprobe.d/blacklist-nouveau.conf").content_string
    assert "blacklist nouveau" in blacklist and "options nouveau modeset=0" in blacklist
    # a kernel built without module support has no /proc/modules: nothing can be loaded then
    loaded = host.run("cat /proc/modules 2>/dev/null").stdout.splitlines()
    assert "nouveau" not in [line.split()[0] for line in loaded if line.strip()]


def test_loaded_driver_is_the_installed_one(host, driver_plan):
    loaded = host.run(LOADED_VERSION_COMMAND).stdout.strip()
    installed = upstream_version(host.package(driver_plan.version_package).version)
    assert loaded == installed, (
        f"loaded driver {loaded or 'none'} differs from installed {installed}: "
        "reboot the host (NVML would fail with 'Driver/library version mismatch')")


def test_persistence_mode_enabled(host, provision_vars):
    if not provision_vars.get("nvidia_persistenced_enabled", True):
        pytest.skip("nvidia-persistenced disabled for this host")
    service = host.service("nvidia-persistenced")
    assert service.is_running and service.is_enabled
    modes = host.run("nvidia-smi --query-gpu=index,persistence_mode --format=csv,noheader").stdout.splitlines()
    assert modes and all(line.strip().endswith("Enabled") for line in modes), f"persistence mode: {modes}"

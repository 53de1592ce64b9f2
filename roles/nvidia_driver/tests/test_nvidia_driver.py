"""nvidia_driver's end state: the pinned branch installed and held, nouveau out, the loaded driver
is the installed one (the NVML "Driver/library version mismatch" caught before users hit it)."""
import pytest


def installed_driver(host, provision_vars) -> str:
    return host.package(provision_vars["nvidia_driver_version_package"]).version.split("-")[0]


def test_driver_packages_on_the_pinned_branch_and_held(host, provision_vars):
    branch = str(provision_vars["nvidia_driver_branch"])
    held = set(host.run("apt-mark showhold").stdout.split())
    installed = [name for name in provision_vars["nvidia_driver_held_packages"] if host.package(name).is_installed]
    assert installed, "no driver package is installed"
    for name in installed:
        assert host.package(name).version.startswith(branch + "."), f"{name} is not on branch {branch}"
        assert name in held, f"{name} is not held: an upgrade could replace it under the running module"


def test_branch_pin_in_place(host, provision_vars):
    pin = host.file("/etc/apt/preferences.d/provision-nvidia-driver")
    assert pin.exists and f"Pin: version {provision_vars['nvidia_driver_branch']}.*" in pin.content_string


def test_nouveau_blacklisted_and_not_loaded(host):
    blacklist = host.file("/etc/modprobe.d/blacklist-nouveau.conf").content_string
    assert "blacklist nouveau" in blacklist and "options nouveau modeset=0" in blacklist
    # a kernel built without module support has no /proc/modules: nothing can be loaded then
    loaded = host.run("cat /proc/modules 2>/dev/null").stdout.splitlines()
    assert "nouveau" not in [line.split()[0] for line in loaded if line.strip()]


def test_loaded_driver_is_the_installed_one(host, provision_vars):
    loaded = host.run(provision_vars["reboot_loaded_version_command"]).stdout.strip()
    assert loaded == installed_driver(host, provision_vars), (
        f"loaded driver {loaded or 'none'} differs from installed {installed_driver(host, provision_vars)}: "
        "reboot the host (NVML would fail with 'Driver/library version mismatch')")


def test_persistenced_running(host, provision_vars):
    if not provision_vars.get("nvidia_persistenced_enabled", True):
        pytest.skip("nvidia-persistenced disabled for this host")
    service = host.service("nvidia-persistenced")
    assert service.is_running and service.is_enabled

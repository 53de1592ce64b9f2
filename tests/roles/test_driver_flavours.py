"""The kernel module flavour on real sandbox hosts with stand-in boards: a pre-Turing board (V100) gets
the proprietary modules, a Blackwell board (RTX PRO 6000) the open ones only, and a switch is never
implicit. Driver plays only (playbooks/driver.yaml): no container runtime is needed for this."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import provision
from tests.roles.test_site import installed_packages

pytestmark = pytest.mark.sandbox
DRIVER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "playbooks", "driver.yaml")


@pytest.fixture(scope="module")
def boards():
    """A V100 host presenting as Ubuntu 22.04 and an RTX PRO 6000 Blackwell host as Debian 12, each
    through the driver plays once, side by side."""
    with ExitStack() as stack:
        fleets = {"v100x8": stack.enter_context(throwaway_sandbox("xv", hosts=1, gpus="v100x8", os_name="ubuntu22.04")),
                  "rtxpro6000x2": stack.enter_context(throwaway_sandbox("xb", hosts=1, gpus="rtxpro6000x2",
                                                                        os_name="debian12"))}
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = dict(zip(fleets, pool.map(lambda name: provision("apply", fleets[name].inventory_path, DRIVER,
                                                                    timeout=600), fleets)))
        yield {name: (fleets[name], runs[name]) for name in fleets}


def test_a_volta_host_gets_the_proprietary_modules(boards):
    fleet, run = boards["v100x8"]
    assert run.returncode == 0, run.stdout[-5000:]
    installed = installed_packages(fleet, "host01")
    assert {"cuda-drivers-580", "nvidia-driver-580", "nvidia-dkms-580"} <= installed
    assert not {name for name in installed if "open" in name.split("-")}, "no open-module package"
    assert "Kernel Module  580." in ssh(fleet, "host01", "cat /proc/driver/nvidia/version").stdout
    refused = provision("apply", fleet.inventory_path, DRIVER, "-e", "nvidia_driver_flavour=open")
    assert refused.returncode == 2 and "need the proprietary kernel modules" in refused.stdout
    assert installed_packages(fleet, "host01") == installed, "a refused plan changed nothing"


def test_a_blackwell_host_gets_open_modules_only_and_a_switch_is_refused(boards):
    fleet, run = boards["rtxpro6000x2"]
    assert run.returncode == 0, run.stdout[-5000:]
    installed = installed_packages(fleet, "host01")
    assert {"nvidia-open", "nvidia-kernel-open-dkms"} <= installed
    assert not {"nvidia-kernel-dkms", "cuda-drivers"} & installed
    assert "Open Kernel Module for" in ssh(fleet, "host01", "cat /proc/driver/nvidia/version").stdout
    refused = provision("apply", fleet.inventory_path, DRIVER, "-e", "nvidia_driver_flavour=proprietary")
    assert refused.returncode == 2 and "Blackwell GPUs need the open kernel modules" in refused.stdout
    assert installed_packages(fleet, "host01") == installed, "a refused plan changed nothing"

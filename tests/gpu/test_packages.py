"""Driver package names per CUDA repo x branch x flavour, and upstream versions."""
from __future__ import annotations

import pytest

from provision.gpu import GpuError
from provision.gpu.packages import driver_package_plan, upstream_version

# (repo, branch, flavour) -> (install, pinning, kernel_module, other_kernel_module, fabricmanager)
NAMES = [
    (("ubuntu2204", 580, "open"),
     (("nvidia-open-580",), ("nvidia-driver-pinning-580",), "nvidia-dkms-580-open", "nvidia-dkms-580",
      "nvidia-fabricmanager-580")),
    (("ubuntu2204", "580", "proprietary"),
     (("cuda-drivers-580",), ("nvidia-driver-pinning-580",), "nvidia-dkms-580", "nvidia-dkms-580-open",
      "nvidia-fabricmanager-580")),
    (("ubuntu2404", 570, "open"),
     (("nvidia-open-570",), (), "nvidia-dkms-570-open", "nvidia-dkms-570", "nvidia-fabricmanager-570")),
    (("ubuntu2404", 590, "open"),
     (("nvidia-open",), ("nvidia-driver-pinning-590",), "nvidia-dkms-open", "nvidia-dkms",
      "nvidia-fabricmanager")),
    (("ubuntu2404", "r595", "proprietary"),
     (("cuda-drivers",), ("nvidia-driver-pinning-595",), "nvidia-dkms", "nvidia-dkms-open",
      "nvidia-fabricmanager")),
    (("debian12", 580, "open"),
     (("nvidia-open",), ("nvidia-driver-pinning-580",), "nvidia-kernel-open-dkms", "nvidia-kernel-dkms",
      "nvidia-fabricmanager-580")),
    (("debian12", 580, "proprietary"),
     (("cuda-drivers",), ("nvidia-driver-pinning-580",), "nvidia-kernel-dkms", "nvidia-kernel-open-dkms",
      "nvidia-fabricmanager-580")),
    (("DEBIAN12", 595, "open"),
     (("nvidia-open",), ("nvidia-driver-pinning-595",), "nvidia-kernel-open-dkms", "nvidia-kernel-dkms",
      "nvidia-fabricmanager")),
]


@pytest.mark.parametrize("key, expected", NAMES, ids=["-".join(map(str, key)) for key, _ in NAMES])
def test_names_per_repo_branch_and_flavour(key, expected):
    plan = driver_package_plan(*key)
    got = (plan.install, plan.pinning, plan.kernel_module, plan.other_kernel_module, plan.fabricmanager)
    assert got == expected


@pytest.mark.parametrize("repo, branch, pinned", [
    ("ubuntu2204", 580, False), ("ubuntu2404", 575, False), ("ubuntu2404", 590, True),
    ("debian12", 580, True), ("debian12", 570, True),
])
def test_own_pin_only_where_names_do_not_carry_the_branch(repo, branch, pinned):
    plan = driver_package_plan(repo, branch, "open")
    assert bool(plan.pin_globs) is pinned
    assert plan.pin_version == f"{branch}.*"
    if pinned:
        # The drift the review and NVIDIA's forum report: cuda-drivers-580 pulling 59x sub-packages.
        assert {"nvidia-*", "libnvidia-*", "cuda-drivers*"} <= set(plan.pin_globs)


@pytest.mark.parametrize("repo, branch, flavour", [
    ("ubuntu2204", 580, "open"), ("ubuntu2404", 590, "proprietary"), ("debian12", 580, "open"),
    ("debian12", 595, "proprietary"),
])
def test_plan_is_self_consistent(repo, branch, flavour):
    plan = driver_package_plan(repo, branch, flavour)
    assert plan.version_package == plan.kernel_module
    assert set(plan.install) <= set(plan.hold) and plan.kernel_module in plan.hold
    assert plan.other_kernel_module not in plan.hold
    assert len(plan.hold) == len(set(plan.hold))
    assert plan.persistenced_unit == "nvidia-persistenced"
    assert plan.persistenced_dropin_needed is True
    assert (plan.cuda_repo, plan.branch, plan.flavour) == (repo, branch, flavour)


def test_ubuntu_580_holds_the_branch_named_user_space():
    plan = driver_package_plan("ubuntu2204", 580, "open")
    assert {"nvidia-driver-580-open", "libnvidia-compute-580", "nvidia-compute-utils-580"} <= set(plan.hold)
    assert all("580" in name for name in plan.hold)


def test_debian_never_holds_the_other_flavour_metapackage():
    # cuda-drivers depends on nvidia-kernel-dkms (proprietary) on Debian: holding/installing it on an
    # open host asks apt to switch flavours.
    plan = driver_package_plan("debian12", 580, "open")
    assert "cuda-drivers" not in plan.hold and "nvidia-kernel-dkms" not in plan.hold


@pytest.mark.parametrize("repo, branch, flavour, message", [
    ("rhel9", 580, "open", "apt-only"),
    ("rhel8", 580, "open", "apt-only"),
    ("ubuntu1804", 580, "open", "ubuntu2204"),
    ("ubuntu2204", 580, "closed", "flavour"),
])
def test_refusals(repo, branch, flavour, message):
    with pytest.raises(GpuError, match=message):
        driver_package_plan(repo, branch, flavour)


@pytest.mark.parametrize("branch", ["580.95.05", "abc", ""])
def test_bad_branch(branch):
    with pytest.raises(GpuError):
        driver_package_plan("ubuntu2204", branch, "open")


@pytest.mark.parametrize("debian, upstream", [
    ("580.95.05-0ubuntu1", "580.95.05"),
    ("1:580.95.05-1", "580.95.05"),
    ("580.95.05-1", "580.95.05"),
    ("580.95.05", "580.95.05"),
    ("580.159.03-0ubuntu0.22.04.1", "580.159.03"),
    ("550.120-1", "550.120"),
])
def test_upstream_version(debian, upstream):
    assert upstream_version(debian) == upstream


def test_driver_and_fabricmanager_compare_by_upstream_version():
    assert upstream_version("580.95.05-0ubuntu1") == upstream_version("580.95.05-1")


@pytest.mark.parametrize("bad", ["", "abc", "ubuntu1"])
def test_upstream_version_refuses_garbage(bad):
    with pytest.raises(GpuError):
        upstream_version(bad)

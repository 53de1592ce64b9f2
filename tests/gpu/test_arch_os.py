"""arch_list_covers (SASS within the major, or PTX) and supported_os (refusals by name)."""
from __future__ import annotations

import pytest

from provision.gpu import VersionFormatError, arch_list_covers, supported_os

TORCH_CU124 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
TORCH_CU128 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]

# arch list, capability, ok, covered_by
CASES = [
    (TORCH_CU124, "9.0", True, "sm_90"),
    (TORCH_CU124, "8.9", True, "sm_86"),        # Ada runs Ampere SASS of a lower minor
    (TORCH_CU124, "8.0", True, "sm_80"),
    (TORCH_CU124, "10.0", False, ""),           # Blackwell: no sm_10x, no PTX
    (TORCH_CU128, "10.0", True, "sm_100"),
    (TORCH_CU128, "10.3", True, "sm_100"),
    (TORCH_CU128, "12.0", True, "sm_120"),
    (TORCH_CU128, "7.0", False, ""),            # Volta dropped from the list
    (["sm_80", "compute_80"], "9.0", True, "compute_80"),   # PTX JIT forward
    (["sm_90", "compute_90"], "8.0", False, ""),            # PTX never runs backward
    (["sm_90a"], "9.0", True, "sm_90a"),
    (["sm_90a"], "10.0", False, ""),            # arch-specific: exactly 9.0
    (["compute_90a"], "10.0", False, ""),
    (["sm_100f"], "10.3", True, "sm_100f"),     # family-specific: same major, minor up
    (["sm_100f"], "12.0", False, ""),
    (["sm_86"], "8.0", False, ""),              # SASS never runs on a lower minor
    ([], "9.0", False, ""),
]


@pytest.mark.parametrize("arch_list, capability, ok, covered_by", CASES)
def test_arch_list_covers(arch_list, capability, ok, covered_by):
    result = arch_list_covers(arch_list, capability)
    assert (result.ok, result.covered_by) == (ok, covered_by), result.reason
    assert capability in result.reason


def test_ptx_coverage_says_it_costs_a_jit_and_a_refusal_says_what_to_use():
    assert "JIT" in arch_list_covers(["compute_80"], "9.0").reason
    ok, reason = arch_list_covers(TORCH_CU124, (10, 0))
    assert not ok and "sm_100" in reason and "sm_90" in reason


@pytest.mark.parametrize("capability", [9.0, "9", "sm_90", "nine"])
def test_unreadable_capability_is_refused(capability):
    with pytest.raises(VersionFormatError):
        arch_list_covers(TORCH_CU124, capability)


def test_unreadable_arch_entry_is_refused():
    with pytest.raises(VersionFormatError):
        arch_list_covers(["sm80"], "8.0")


@pytest.mark.parametrize("distribution, version, family, repo", [
    ("ubuntu", "22.04", "debian", "ubuntu2204"),
    ("Ubuntu", "24.04", "debian", "ubuntu2404"),
    ("debian", "12", "debian", "debian12"),
    ("debian", "12.7", "debian", "debian12"),
    ("rhel", "9.4", "redhat", "rhel9"),
    ("RedHat", "8", "redhat", "rhel8"),
    ("rocky", "9.3", "redhat", "rhel9"),
    ("Rocky Linux", 8, "redhat", "rhel8"),
])
def test_supported_os(distribution, version, family, repo):
    result = supported_os(distribution, version)
    assert (result.ok, result.family, result.cuda_repo) == (True, family, repo)


@pytest.mark.parametrize("distribution, version, named", [
    ("ubuntu", "20.04", "Ubuntu 20.04"),
    ("ubuntu", "22.10", "Ubuntu 22.10"),
    ("debian", "11", "Debian 11"),
    ("rocky", "10.0", "Rocky Linux 10.0"),
    ("fedora", "40", "fedora 40"),
    ("centos", "7", "centos 7"),
])
def test_unsupported_os_is_refused_by_name(distribution, version, named):
    ok, reason = supported_os(distribution, version)
    assert not ok
    assert reason.startswith(f"{named} is not supported")
    assert "Ubuntu 22.04/24.04" in reason

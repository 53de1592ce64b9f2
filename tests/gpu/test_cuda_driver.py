"""Driver versions, branches, and driver_supports_cuda: full support vs minor-version compatibility."""
from __future__ import annotations

import pytest

from provision.gpu import (
    VersionFormatError,
    driver_branch,
    driver_branch_version,
    driver_supports_cuda,
    newest_cuda_for_driver,
    parse_cuda_version,
    parse_driver_version,
)
from provision.gpu.cuda import FULL, MINOR_COMPAT, UNSUPPORTED


@pytest.mark.parametrize("newer, older", [
    ("580.65.06", "580.9"),        # 65 > 9: numbers, not strings
    ("535.104.05", "535.54.03"),
    ("570.124.06", "570.26"),
    ("550.54.15", "550.54.14"),
    ("580.65.06", "575.57.08"),
])
def test_driver_versions_compare_as_numbers(newer, older):
    assert parse_driver_version(newer) > parse_driver_version(older)


def test_driver_versions_print_as_nvidia_does():
    assert str(parse_driver_version("580.65.06")) == "580.65.06"
    assert str(parse_driver_version("570.26")) == "570.26"
    assert parse_driver_version("570.26") == parse_driver_version("570.26.0")


@pytest.mark.parametrize("text", ["", "abc", "580.x", "5.8.0.1.2", 580.65])
def test_unreadable_driver_versions_are_refused(text):
    with pytest.raises(VersionFormatError):
        parse_driver_version(text)


@pytest.mark.parametrize("branch", ["580", 580, "r580", "580-open", "580-server"])
def test_branch_spellings(branch):
    version = driver_branch_version(branch)
    assert version.branch_only and version.branch == 580 and str(version) == "branch 580"


def test_driver_branch_of_a_version():
    assert driver_branch("535.104.05") == 535


@pytest.mark.parametrize("text, expected", [
    ("12.4", (12, 4, 0)), ("12.4.1", (12, 4, 1)), ("cu124", (12, 4, 0)), ("cu130", (13, 0, 0)),
    ("cu118", (11, 8, 0)), ("CUDA 12.8", (12, 8, 0)),
])
def test_cuda_versions(text, expected):
    version = parse_cuda_version(text)
    assert (version.major, version.minor, version.update) == expected


# driver, cuda, ok, mode
CASES = [
    ("580.65.06", "13.0", True, FULL),
    ("580.65.06", "12.8", True, FULL),
    ("570.26", "12.8", True, FULL),
    ("570.26", "12.9", True, MINOR_COMPAT),       # same major, older than 12.9's 575.51.03
    ("525.60.13", "12.6", True, MINOR_COMPAT),    # the 12.x floor
    ("525.60.12", "12.6", False, UNSUPPORTED),    # just under the floor
    ("520.61.05", "11.8", True, FULL),
    ("470.82.01", "11.8", True, MINOR_COMPAT),    # 11.x floor 450.80.02
    ("450.80.01", "11.8", False, UNSUPPORTED),
    ("535.104.05", "13.0", False, UNSUPPORTED),   # 13.x needs the 580 family
    ("575.57.08", "13.0", False, UNSUPPORTED),
    ("550.54.14", "12.4", True, FULL),
    ("550.54.14", "12.4.1", True, MINOR_COMPAT),  # Update 1 needs 550.54.15
    ("580.9", "13.0", False, UNSUPPORTED),        # 580.9 < 580.65.06
    ("580", "13.0", True, FULL),                  # a branch stands for its newest release
    ("570", "12.9", True, MINOR_COMPAT),
    ("535", "13.0", False, UNSUPPORTED),
    ("580.65.06", "12.15", True, MINOR_COMPAT),   # a 12.x minor the table does not know
]


@pytest.mark.parametrize("driver, cuda, ok, mode", CASES)
def test_driver_supports_cuda(driver, cuda, ok, mode):
    result = driver_supports_cuda(driver, cuda)
    assert (result.ok, result.mode) == (ok, mode), result.reason
    assert driver.split(".")[0] in result.reason
    if mode == UNSUPPORTED:
        assert result.remedy.startswith("install driver >=")


def test_result_unpacks_as_ok_reason_remedy():
    ok, reason, remedy = driver_supports_cuda("535.104.05", "12.8")
    assert ok and "minor-version compatibility" in reason and "570.26" in remedy


def test_an_unknown_cuda_major_is_not_guessed():
    result = driver_supports_cuda("580.65.06", "14.0")
    assert not result.ok and "cuda_drivers.yaml" in result.remedy


def test_newest_cuda_a_driver_fully_supports():
    assert str(newest_cuda_for_driver("570.26")) == "12.8"
    assert str(newest_cuda_for_driver("560.35.05")) == "12.6.3"
    assert newest_cuda_for_driver("440.33") is None

"""Which apt packages install, pin, hold and identify the NVIDIA driver, per distro x branch x flavour.

The names come from data/driver_packages.yaml (each with its source). The easy thing to get wrong is
that one name does not fit every distribution: Ubuntu up to R580 carries the branch in every name
(`nvidia-dkms-580-open`), Ubuntu from R590 and NVIDIA's Debian 12 repo do not (`nvidia-dkms-open`,
`nvidia-kernel-open-dkms`). Where names do not carry the branch, apt drifts to the newest branch unless
every driver package is pinned: NVIDIA's `nvidia-driver-pinning-<b>` plus our own preferences file
(`pin_globs`). The globs also match nvidia-container-toolkit and libnvidia-container*, so the pin must
only *raise* `<branch>.*` (e.g. Pin-Priority 1001), never lower other versions.

Versions compare by their upstream part: the driver is `580.95.05-0ubuntu1`, fabric manager
`580.95.05-1`, and the two must match on `580.95.05` (see `upstream_version`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from provision.gpu.errors import GpuError, VersionFormatError
from provision.gpu.tables import load_table

FLAVOURS = ("open", "proprietary")
PERSISTENCED_UNIT = "nvidia-persistenced"

# [epoch:]upstream[-revision]; NVIDIA's upstream is dotted digits (580.95.05).
_DEBIAN_VERSION = re.compile(r"^\s*(?:\d+:)?(\d+(?:\.\d+)*)(?:[-~+].*)?\s*$")
_BRANCH = re.compile(r"^\s*[rR]?(\d{3})\s*$")


@dataclass(frozen=True)
class DriverPackagePlan:
    """What to apt-install for one repo/branch/flavour, what to pin and hold, and what to read back.

    `install`: NVIDIA's documented metapackage(s). `pinning`: NVIDIA's pinning package, installed
    first ("" tuple where none). `pin_globs`: our own preferences file pins these to "<branch>.*"
    (empty where every name carries the branch). `kernel_module` / `other_kernel_module`: the package
    carrying this / the other flavour's module (the other one installed means a flavour switch).
    `version_package`: the package whose upstream version is "the installed driver". `hold`: names
    to `apt-mark hold` *if installed* (never install them to hold them).
    """

    cuda_repo: str
    branch: int
    flavour: str
    install: tuple[str, ...]
    pinning: tuple[str, ...]
    pin_globs: tuple[str, ...]
    kernel_module: str
    other_kernel_module: str
    version_package: str
    hold: tuple[str, ...]
    fabricmanager: str
    persistenced_unit: str
    persistenced_dropin_needed: bool

    @property
    def pin_version(self) -> str:
        """The apt preferences `Pin: version` value for `pin_globs`: "580.*"."""
        return f"{self.branch}.*"


def driver_package_plan(cuda_repo: str, branch: int | str, flavour: str) -> DriverPackagePlan:
    """The package plan for NVIDIA's CUDA repo folder (`ubuntu2204`, `ubuntu2404`, `debian12`),
    a driver branch (580, "580", "r580") and a flavour ("open" / "proprietary").

    Raises GpuError for an unknown repo, a Red Hat repo (apt-only so far), or an unknown flavour.
    """
    table = load_table("driver_packages")
    family = table["repositories"].get(str(cuda_repo).strip().lower())
    if family is None:
        known = ", ".join(sorted(table["repositories"]))
        raise GpuError(f"no driver package names for CUDA repo {cuda_repo!r} (known: {known})")
    if family != "ubuntu" and family != "debian":
        raise GpuError(f"driver packages for {cuda_repo} are not supported: apt-only so far (Ubuntu, Debian)")
    if flavour not in FLAVOURS:
        raise GpuError(f"unknown kernel module flavour {flavour!r} (expected open or proprietary)")
    number = _branch_number(branch)
    layout = table["layouts"][_layout_name(family, number, table)]
    other = "proprietary" if flavour == "open" else "open"

    def names(values) -> tuple[str, ...]:
        return tuple(value.format(b=number) for value in values)

    install = names(layout["install"][flavour])
    kernel_module = layout["kernel_module"][flavour].format(b=number)
    user_space = names(layout["user_space"][flavour])
    hold = tuple(dict.fromkeys((*install, kernel_module, *user_space)))
    pinning = (f"nvidia-driver-pinning-{number}",) if number >= table["pinning_from"] else ()
    return DriverPackagePlan(
        cuda_repo=str(cuda_repo).strip().lower(),
        branch=number,
        flavour=flavour,
        install=install,
        pinning=pinning,
        pin_globs=tuple(layout["pin_globs"]),
        kernel_module=kernel_module,
        other_kernel_module=layout["kernel_module"][other].format(b=number),
        version_package=kernel_module,
        hold=hold,
        fabricmanager=_fabricmanager(number, table),
        persistenced_unit=PERSISTENCED_UNIT,
        persistenced_dropin_needed=bool(layout["persistenced_dropin_needed"]),
    )


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian version: "580.95.05-0ubuntu1" and "1:580.95.05-1" -> "580.95.05".

    The driver (`-0ubuntu1`) and fabric manager (`-1`) never share a full version, only this part.
    """
    match = _DEBIAN_VERSION.match(str(debian_version))
    if not match:
        raise VersionFormatError(f"cannot read package version {debian_version!r} (expected e.g. 580.95.05-1)")
    return match.group(1)


def _branch_number(branch: int | str) -> int:
    match = _BRANCH.match(str(branch))
    if not match:
        raise VersionFormatError(f"cannot read driver branch {branch!r} (expected e.g. 580)")
    return int(match.group(1))


def _layout_name(family: str, branch: int, table: dict) -> str:
    if family == "debian":
        return "debian"
    return "ubuntu_unversioned" if branch >= table["ubuntu_unversioned_from"] else "ubuntu_branch_named"


def _fabricmanager(branch: int, table: dict) -> str:
    names = table["fabricmanager"]
    if branch >= names["unversioned_from"]:
        return names["unversioned"]
    return names["versioned"].format(b=branch)

"""NVIDIA's CUDA repository for Ubuntu 22.04 and 24.04, as the stand-in serves it.

Up to branch 580 every name carries the branch: `nvidia-open-580` -> `nvidia-driver-580-open` ->
`nvidia-dkms-580-open`, `libnvidia-compute-580`, `nvidia-utils-580` (nvidia-smi),
`nvidia-compute-utils-580` (which only *provides* nvidia-persistenced). From 590 the branch is
dropped (`nvidia-open`, `nvidia-driver-open`, `nvidia-dkms-open`, ...) and `cuda-drivers-<b>` is gone.

The easy thing to get wrong: Debian's names (`nvidia-driver`, `nvidia-kernel-open-dkms`,
`nvidia-persistenced`, `libcuda1`) are not packages here below 590; some are virtual, most absent.
"""
from __future__ import annotations

from provision.sandbox.standin.catalog.common import Builder, pinned_branches
from provision.sandbox.standin.catalog.data import driver_branch, load
from provision.sandbox.standin.packages import SUPPORT_PACKAGE, PackageSpec

RENAMED_FROM = 590  # NVIDIA driver-installation-guide, "Recent updates"


def driver_packages(distro: str, repositories: tuple[str, ...]) -> list[PackageSpec]:
    packages = []
    names: set[str] = set()
    for branch_name in load()["distros"][distro]["branches"]:
        build = Builder(driver_branch(branch_name, distro), repositories)
        b = build.branch.branch
        suffix = "" if int(b) >= RENAMED_FROM else f"-{b}"
        exact = build.exactly
        compute, utils, compute_utils = f"libnvidia-compute{suffix}", f"nvidia-utils{suffix}", f"nvidia-compute-utils{suffix}"
        user_space = (exact(compute), exact(compute_utils), exact(utils))
        common = f"nvidia-kernel-common{suffix}"
        branch = [
            build.package(common, "Shared files used with the kernel module"),
            build.kernel_module(f"nvidia-dkms{suffix}-open", "open", "nvidia-dkms-kernel",
                                "NVIDIA DKMS package (open kernel module)", (exact(common),)),
            build.kernel_module(f"nvidia-dkms{suffix}", "proprietary", "nvidia-dkms-kernel", "NVIDIA DKMS package",
                                (exact(common),)),
            build.package(compute, "NVIDIA libcompute package: libcuda, NVML",
                          provides=(exact("libcuda1"), exact("libnvidia-ml1"))),
            build.smi(utils, "NVIDIA driver support binaries: nvidia-smi", depends=(SUPPORT_PACKAGE,),
                      **_virtual("nvidia-utils", "nvidia-smi", own=utils)),
            build.persistenced(compute_utils, "ubuntu", depends=(SUPPORT_PACKAGE, compute),
                               **_virtual("nvidia-persistenced", own=compute_utils)),
            build.package(f"nvidia-driver{suffix}-open", "NVIDIA driver metapackage (open kernel module)",
                          depends=(exact(f"nvidia-dkms{suffix}-open"), *user_space)),
            build.package(f"nvidia-driver{suffix}", "NVIDIA driver metapackage",
                          depends=(exact(f"nvidia-dkms{suffix}"), *user_space)),
            build.package(f"nvidia-open{suffix}", "NVIDIA driver with the open kernel modules, CUDA repository metapackage",
                          depends=(build.at_least(f"nvidia-driver{suffix}-open"),)),
            build.fabricmanager(f"nvidia-fabricmanager{suffix}"),
        ]
        fabric = branch[-1].version
        if suffix:
            branch += [
                build.package(f"cuda-drivers-{b}", f"CUDA driver metapackage for branch {b}",
                              depends=(build.at_least(f"nvidia-driver-{b}"),)),
                build.package(f"cuda-drivers-fabricmanager-{b}", f"CUDA driver and fabric manager for branch {b}",
                              depends=(build.at_least(f"cuda-drivers-{b}"), f"nvidia-fabricmanager-{b} (>= {fabric})")),
                build.package("cuda-drivers", "CUDA driver metapackage", depends=(build.at_least(f"cuda-drivers-{b}"),)),
            ]
        else:
            branch.append(build.package("cuda-drivers", "CUDA driver metapackage", depends=(build.at_least("nvidia-driver"),)))
        names.update(package.name for package in branch)
        packages += branch
    for branch_name in pinned_branches(distro):
        build = Builder(driver_branch(branch_name, distro), repositories)
        packages.append(build.pinning([name for name in names if "fabricmanager" not in name]))
    return packages


def _virtual(*names: str, own: str) -> dict:
    """Provides/Conflicts/Replaces of names the branch packages share, except the package's own."""
    shared = tuple(name for name in names if name != own)
    return {"provides": shared, "conflicts": shared, "replaces": shared} if shared else {}

"""NVIDIA's CUDA repository for Debian 12, as the stand-in serves it.

Unsuffixed names (`nvidia-driver`, `nvidia-kernel-open-dkms`, `libcuda1`, `nvidia-persistenced`),
branch-suffixed metapackages (`cuda-drivers-580`) and the fabric manager (`nvidia-fabricmanager-580`).

The easy thing to get wrong: the metapackages depend on their parts with `>=`, so without a pin
(`nvidia-driver-pinning-<b>`) apt takes every part from the newest branch served; and
`cuda-drivers` wants the PROPRIETARY module, so installing it on an open host switches flavour.
"""
from __future__ import annotations

from provision.sandbox.standin.catalog.common import Builder, pinned_branches
from provision.sandbox.standin.catalog.data import driver_branch, load
from provision.sandbox.standin.packages import SUPPORT_PACKAGE, PackageSpec


def driver_packages(distro: str, repositories: tuple[str, ...]) -> list[PackageSpec]:
    packages = []
    names: set[str] = set()
    for branch_name in load()["distros"][distro]["branches"]:
        build = Builder(driver_branch(branch_name, distro), repositories)
        b = build.branch.branch
        loose = build.at_least
        branch = [
            build.package("nvidia-kernel-support", "NVIDIA binary kernel module support files"),
            build.package("firmware-nvidia-gsp", "NVIDIA GSP firmware"),
            build.kernel_module("nvidia-kernel-open-dkms", "open", "nvidia-kernel-dkms-any",
                                "NVIDIA open GPU kernel modules, DKMS source", (loose("nvidia-kernel-support"),)),
            build.kernel_module("nvidia-kernel-dkms", "proprietary", "nvidia-kernel-dkms-any",
                                "NVIDIA proprietary GPU kernel modules, DKMS source", (loose("nvidia-kernel-support"),)),
            build.package("libnvidia-ml1", "NVIDIA Management Library (NVML)"),
            build.package("libcuda1", "NVIDIA CUDA driver library", depends=(loose("libnvidia-ml1"),)),
            build.smi("nvidia-driver-cuda", "NVIDIA driver CUDA integration components: nvidia-smi",
                      depends=(SUPPORT_PACKAGE, loose("libnvidia-ml1"), loose("libcuda1"))),
            build.persistenced("nvidia-persistenced", "debian", depends=(SUPPORT_PACKAGE,)),
            build.package("nvidia-driver", "NVIDIA driver metapackage",
                          depends=(loose("nvidia-driver-cuda"), loose("libcuda1"), loose("nvidia-persistenced"),
                                   loose("firmware-nvidia-gsp"),
                                   f"{loose('nvidia-kernel-open-dkms')} | {loose('nvidia-kernel-dkms')}")),
            build.package("nvidia-open", "NVIDIA driver with the open kernel modules, metapackage",
                          depends=(loose("nvidia-driver"), loose("nvidia-kernel-open-dkms"))),
            build.package(f"cuda-drivers-{b}", f"CUDA driver metapackage for branch {b} (proprietary modules)",
                          depends=(loose("nvidia-driver"), loose("nvidia-driver-cuda"), loose("libcuda1"),
                                   loose("nvidia-persistenced"), loose("nvidia-kernel-dkms"))),
            build.package("cuda-drivers", "CUDA driver metapackage", depends=(loose(f"cuda-drivers-{b}"),)),
            build.fabricmanager(f"nvidia-fabricmanager-{b}"),
        ]
        fabric = branch[-1].version
        branch.append(build.package(f"cuda-drivers-fabricmanager-{b}", f"CUDA driver and fabric manager for branch {b}",
                                    depends=(loose(f"cuda-drivers-{b}"), f"nvidia-fabricmanager-{b} (>= {fabric})")))
        names.update(package.name for package in branch)
        packages += branch
    for branch_name in pinned_branches(distro):
        build = Builder(driver_branch(branch_name, distro), repositories)
        packages.append(build.pinning([name for name in names if not name.startswith("nvidia-fabricmanager")]))
    return packages

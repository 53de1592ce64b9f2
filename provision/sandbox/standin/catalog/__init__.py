"""The stand-in repositories' catalog: which packages each of NVIDIA's repositories serves.

Built from `provision/sandbox/standin/data/catalog.yaml` (each fact there names its source), one module per
packaging family, because NVIDIA names the same driver differently per distro:

  debian.py   compute/cuda/repos/debian12: nvidia-open, cuda-drivers, nvidia-driver, nvidia-kernel-*-dkms
  ubuntu.py   compute/cuda/repos/ubuntu2204|2404: nvidia-open-580 -> nvidia-driver-580-open, ...
              and from 590 the same names without the branch
  toolkit.py  libnvidia-container/stable/deb: the container toolkit at each version, its last
              meta-packages, and the frozen ubuntu18.04 folders the legacy nvidia-docker.list names
  common.py   what both driver families share (fabric manager, pinning, daemons)
  canonical.py  Ubuntu's archive (restricted): Canonical's nvidia-headless-<b>-server and the rest,
              with the transitional packages of ended branches
  cuda.py     the CUDA Toolkit (cuda-toolkit -> cuda-toolkit-13-0), the same in every CUDA folder

The easy thing to get wrong: a package name that exists in one family must not leak into the
other; installing Debian's name from an Ubuntu source has to fail as it does against NVIDIA's.
"""
from __future__ import annotations

from provision.sandbox.standin.catalog import canonical, cuda, debian, toolkit, ubuntu
from provision.sandbox.standin.catalog.data import DATA_PATH, distros, driver_branch, load
from provision.sandbox.standin.packages import (
    LEGACY_TOOLKIT_REPOSITORY,
    TOOLKIT_REPOSITORY,
    PackageSpec,
    support_package,
)

FAMILIES = {"debian": debian.driver_packages, "ubuntu": ubuntu.driver_packages}


def distro_packages(distro: str) -> list[PackageSpec]:
    """The driver packages of one CUDA repository folder (without the shared support package)."""
    entry = load()["distros"][distro]
    return FAMILIES[entry["family"]](distro, (distro,))


def all_packages() -> list[PackageSpec]:
    """Every spec once; distros with the same recipe (ubuntu2204, ubuntu2404) share the same .debs."""
    recipes: dict[str, list[str]] = {}
    for distro, entry in load()["distros"].items():
        key = repr((entry["family"], entry["branches"], entry["revision"], sorted(load()["pinning"]["branches"][distro])))
        recipes.setdefault(key, []).append(distro)
    archives = tuple(canonical.archive_repository(codename) for codename in canonical.releases())
    packages = [support_package((*distros(), TOOLKIT_REPOSITORY, LEGACY_TOOLKIT_REPOSITORY, *archives))]
    for folders in recipes.values():
        entry = load()["distros"][folders[0]]
        packages += FAMILIES[entry["family"]](folders[0], tuple(folders))
    return packages + cuda.toolkit_packages(distros()) + toolkit.all_versions() + canonical.archive_packages()


__all__ = ["DATA_PATH", "all_packages", "distro_packages", "distros", "driver_branch", "load"]

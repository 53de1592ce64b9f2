"""The container toolkit repository (libnvidia-container/stable/deb/<arch>/), every version served,
and the frozen ubuntu18.04 repositories the legacy nvidia-docker.list names.

Each version is the four packages NVIDIA releases together. From 1.18 the base package also ships
the `nvidia-cdi-refresh` path/service pair that regenerates /var/run/cdi/nvidia.yaml. Beside them,
stable/deb still holds the last nvidia-container-runtime and nvidia-docker2, meta-packages that only
depend on the toolkit (NVIDIA removed both from 1.15 on); stable/ubuntu18.04 stopped at 1.13.5.

The easy thing to get wrong: the parts depend on each other with `>=`, so pinning one package
to an old version still lets apt take the newest of the others; pin all four.
"""
from __future__ import annotations

from provision.sandbox.standin.catalog.data import load
from provision.sandbox.standin.packages import (
    LEGACY_TOOLKIT_REPOSITORY,
    SUPPORT_PACKAGE,
    TOOLKIT_REPOSITORY,
    FileSpec,
    PackageSpec,
)


def versions() -> tuple[str, ...]:
    return tuple(load()["toolkit"]["versions"])


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split("."))


def toolkit_packages(version: str, repository: str = TOOLKIT_REPOSITORY) -> list[PackageSpec]:
    upstream = version.rsplit("-", 1)[0]
    subs = {"TOOLKIT_VERSION": version, "TOOLKIT_UPSTREAM": upstream}

    def package(name, summary, **fields) -> PackageSpec:
        return PackageSpec(name, version, summary, (repository,), substitutions=subs, **fields)

    base_files = [FileSpec("/usr/bin/nvidia-ctk", "nvidia-ctk", 0o755),
                  FileSpec("/usr/bin/nvidia-container-runtime", "nvidia-container-runtime", 0o755),
                  FileSpec("/usr/bin/nvidia-cdi-hook", "nvidia-cdi-hook", 0o755),
                  FileSpec("/etc/nvidia-container-runtime/config.toml", "config.toml", conffile=True)]
    base_scripts = {}
    if _number(version) >= _number(load()["toolkit"]["cdi_refresh_from"]):
        base_files += [FileSpec("/usr/lib/systemd/system/nvidia-cdi-refresh.path", "nvidia-cdi-refresh.path"),
                       FileSpec("/usr/lib/systemd/system/nvidia-cdi-refresh.service", "nvidia-cdi-refresh.service")]
        base_scripts = {"postinst": "toolkit-base.postinst"}
    return [
        package("libnvidia-container1", "NVIDIA container runtime library"),
        package("libnvidia-container-tools", "NVIDIA container runtime library (command-line tools)",
                depends=(f"libnvidia-container1 (>= {version})", "libnvidia-container1 (<< 2.0.0)", SUPPORT_PACKAGE),
                files=(FileSpec("/usr/bin/nvidia-container-cli", "nvidia-container-cli", 0o755),)),
        package("nvidia-container-toolkit-base", "NVIDIA Container Toolkit Base: nvidia-ctk, the runtime",
                depends=(SUPPORT_PACKAGE,), files=tuple(base_files), scripts=base_scripts),
        package("nvidia-container-toolkit", "NVIDIA Container Toolkit: the OCI hook for docker --gpus",
                depends=(f"nvidia-container-toolkit-base (= {version})", f"libnvidia-container-tools (>= {version})",
                         "libnvidia-container-tools (<< 2.0.0)"),
                files=(FileSpec("/usr/bin/nvidia-container-runtime-hook", "nvidia-container-runtime-hook", 0o755),)),
    ]


def meta_packages() -> list[PackageSpec]:
    """nvidia-container-runtime and nvidia-docker2 as stable/deb and stable/ubuntu18.04 hold them:
    Architecture all, no files of their own, a `>=` on the toolkit (so apt takes the newest)."""
    legacy = load()["nvidia_docker"]

    def runtime(entry: dict, repository: str) -> PackageSpec:
        toolkit = f"nvidia-container-toolkit (>= {entry['toolkit']})"
        return PackageSpec("nvidia-container-runtime", entry["version"], "NVIDIA Container Toolkit meta-package",
                           (repository,), depends=(toolkit, "nvidia-container-toolkit (<< 2.0.0)"),
                           architecture="all")

    docker2 = legacy["docker2"]
    return [runtime(legacy["runtime"]["stable"], TOOLKIT_REPOSITORY),
            runtime(legacy["runtime"]["legacy"], LEGACY_TOOLKIT_REPOSITORY),
            PackageSpec("nvidia-docker2", docker2["version"], "NVIDIA Container Toolkit meta-package (the "
                        "nvidia-docker wrapper it once shipped is deprecated)", (TOOLKIT_REPOSITORY,),
                        depends=(f"nvidia-container-toolkit (>= {docker2['toolkit']})",),
                        breaks=("nvidia-docker (<< 2.0.0)",), replaces=("nvidia-docker (<< 2.0.0)",),
                        architecture="all")]


def all_versions() -> list[PackageSpec]:
    legacy = toolkit_packages(load()["nvidia_docker"]["legacy_toolkit"], LEGACY_TOOLKIT_REPOSITORY)
    return [spec for version in versions() for spec in toolkit_packages(version)] + legacy + meta_packages()

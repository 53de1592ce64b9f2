"""Ubuntu's archive, component restricted: Canonical's NVIDIA `-server` driver packages.

This is where NVIDIA's ansible-role-nvidia-driver takes the driver from on Ubuntu by default
(`nvidia-headless-<b>-server` and three more names) and DeepOps' driver playbook too (the `-open`
names). Canonical packages one source per flavour (`nvidia-graphics-drivers-580-server`); a branch
past its end keeps its names as transitional packages that depend on a newer flavour's names, so
`nvidia-headless-515-server` installs the 525 driver on Ubuntu 22.04 today.

The easy thing to get wrong: the flavours share unversioned virtual names (nvidia-kernel-common,
nvidia-dkms-kernel, nvidia-utils, ...) which each Provides, Conflicts with and Replaces, so asking
for two flavours at once fails in apt, as it does against Canonical's archive; and the metapackages
pin the kernel-common package to the driver's upstream version with `(<= U-1)` and `(>= U)`.
"""
from __future__ import annotations

from provision.sandbox.standin.catalog.common import PERSISTENCED_PIDFILE
from provision.sandbox.standin.catalog.data import load
from provision.sandbox.standin.packages import SUPPORT_PACKAGE, FileSpec, PackageSpec, service_files

# the names the stand-in serves per flavour, `-open` ones where the flavour has them
USER_SPACE = ("nvidia-kernel-common", "libnvidia-compute", "nvidia-compute-utils", "libnvidia-cfg1", "nvidia-utils")
PER_MODULE = ("nvidia-headless", "nvidia-headless-no-dkms", "nvidia-dkms", "nvidia-kernel-source")
STATIC_UNIT_SCRIPTS = {"postinst": "compute-utils.postinst"}


def archive_repository(codename: str) -> str:
    """The repository key of one release's suite, e.g. "ubuntu-archive:jammy"."""
    return f"ubuntu-archive:{codename}"


def releases() -> dict[str, dict]:
    return load()["ubuntu_archive"]["releases"]


def archive_packages() -> list[PackageSpec]:
    packages = []
    for codename, release in releases().items():
        repository = (archive_repository(codename),)
        for flavour, entry in release["flavours"].items():
            if "to" in entry:
                packages += _transitional(flavour, entry, repository)
            else:
                packages += _flavour(flavour, entry, repository)
    return packages


def _transitional(flavour: str, entry: dict, repository: tuple[str, ...]) -> list[PackageSpec]:
    """Each name of `flavour` depending on the same name of the newer flavour, nothing else."""
    names = [f"{name}-{flavour}" for name in (*USER_SPACE, *PER_MODULE)]
    if entry["open"]:
        names += [f"{name}-{flavour}-open" for name in PER_MODULE]
    return [PackageSpec(name, entry["version"], f"transitional package for {name.replace(flavour, entry['to'])}",
                        repository, depends=(name.replace(flavour, entry["to"]),)) for name in names]


def _flavour(flavour: str, entry: dict, repository: tuple[str, ...]) -> list[PackageSpec]:
    upstream = str(entry["full"])
    version = upstream + entry["revision"]
    subs = {"DRIVER_VERSION": upstream, "CUDA_VERSION": str(entry["cuda"])}
    archive = load()["ubuntu_archive"]

    def package(name: str, summary: str, **fields) -> PackageSpec:
        return PackageSpec(name, version, summary, repository,
                           substitutions={**subs, **fields.pop("substitutions", {})}, **fields)

    def shared(*names: str) -> dict:
        return {"provides": names, "conflicts": names, "replaces": names}

    common = f"nvidia-kernel-common-{flavour}"
    firmware = f"nvidia-firmware-{flavour}-{upstream}"
    narrow = (f"{common} (<= {upstream}-1)", f"{common} (>= {upstream})")
    # from 580 the user-space packages need exactly this driver's kernel-common, by its versioned virtual
    needs_common = (f"{common}-{upstream}",) if entry["versioned_common"] else ()
    common_fields = shared("nvidia-kernel-common")
    if entry["versioned_common"]:
        common_fields["provides"] += (f"{common}-{upstream}",)
    # Canonical ships the unit only (no init script), without [Install]: udev starts it
    _files, persistenced_subs = service_files(
        "nvidia-persistenced", archive["persistenced"], PERSISTENCED_PIDFILE, "NVIDIA Persistence Daemon")
    unit = FileSpec("/lib/systemd/system/nvidia-persistenced.service", "service-static.unit")
    packages = [
        package(common, "Shared files used with the kernel module",
                depends=(SUPPORT_PACKAGE, *((firmware,) if entry["firmware"] else ())),
                files=(FileSpec("/lib/modprobe.d/nvidia-graphics-drivers.conf", "canonical-modprobe.conf"),
                       FileSpec("/lib/udev/rules.d/71-nvidia.rules", "canonical-71-nvidia.rules")),
                substitutions={"MODPROBE_CONF": archive["modprobe_conf"]}, **common_fields),
        package(f"libnvidia-compute-{flavour}", "NVIDIA libcompute package",
                depends=needs_common, **shared("libnvidia-compute")),
        package(f"nvidia-compute-utils-{flavour}", "NVIDIA compute utilities: nvidia-persistenced",
                depends=(f"libnvidia-compute-{flavour}",),
                files=(FileSpec("/usr/bin/nvidia-persistenced", "nvidia-persistenced", 0o755), unit),
                scripts=STATIC_UNIT_SCRIPTS, substitutions=persistenced_subs,
                **shared("nvidia-compute-utils", "nvidia-persistenced")),
        package(f"libnvidia-cfg1-{flavour}", "NVIDIA binary OpenGL/GLX configuration library",
                depends=needs_common, **shared("libnvidia-cfg1-any")),
        package(f"nvidia-utils-{flavour}", "NVIDIA Server Driver support binaries: nvidia-smi",
                depends=(SUPPORT_PACKAGE, *needs_common),
                files=(FileSpec("/usr/bin/nvidia-smi", "nvidia-smi", 0o755),), **shared("nvidia-utils", "nvidia-smi")),
    ]
    if entry["firmware"]:
        packages.append(package(firmware, "Firmware files used by the kernel module",
                                breaks=(f"nvidia-firmware-{flavour.removesuffix('-server')}-{upstream}",),
                                replaces=(f"nvidia-firmware-{flavour.removesuffix('-server')}-{upstream}",)))
    for module, suffix in (("proprietary", ""), *((("open", "-open"),) if entry["open"] else ())):
        source = f"nvidia-kernel-source-{flavour}{suffix}"
        dkms = f"nvidia-dkms-{flavour}{suffix}"
        no_dkms = f"nvidia-headless-no-dkms-{flavour}{suffix}"
        exact = f"(= {version})"
        packages += [
            package(source, f"NVIDIA kernel source package{' (open kernel module)' if suffix else ''}",
                    **shared("nvidia-kernel-source")),
            package(dkms, f"NVIDIA DKMS package{' (open kernel module)' if suffix else ''}",
                    depends=(SUPPORT_PACKAGE, f"{source} (<= {upstream}-1)", f"{source} (>= {upstream})", *narrow,
                             *((firmware,) if entry["firmware"] and not suffix else ())),
                    scripts={"postinst": "kernel-module.postinst", "postrm": "kernel-module.postrm"},
                    substitutions={"FLAVOUR": module}, **shared("nvidia-dkms-kernel")),
            package(no_dkms, "NVIDIA headless metapackage - no DKMS",
                    depends=(*narrow, f"{source} {exact}", f"libnvidia-compute-{flavour} {exact}",
                             f"nvidia-compute-utils-{flavour} {exact}", f"libnvidia-cfg1-{flavour} {exact}")),
            package(f"nvidia-headless-{flavour}{suffix}", "NVIDIA headless metapackage",
                    depends=(no_dkms, dkms), **shared("nvidia-headless")),
        ]
    return packages

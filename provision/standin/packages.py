"""The stand-in packages as data: NVIDIA's package names and versions, none of NVIDIA's software.

Every package's Description begins with STAND_IN, and every file it installs comes from
`provision/standin/files/` with `@NAME@` placeholders filled in. Two repositories are served, each
at the path NVIDIA's real one has, so a role changes only the base URL:

  compute/cuda/repos/<distro>/<arch>/   the CUDA repository: driver branches 580 and 550
  libnvidia-container/stable/deb/<arch>/  the container toolkit at one version

The easy thing to get wrong: the meta packages depend on their parts with `(= VERSION)`, so that
`apt-get install nvidia-open=550.163.01-1` pulls the old branch whole and apt never mixes branches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STAND_IN = "STAND-IN for tests: not NVIDIA software"
MAINTAINER = "provision stand-in repository <standin@provision.invalid>"
SUPPORT_PACKAGE = "nvidia-standin-support"
SUPPORT_VERSION = "1.0-1"


@dataclass(frozen=True)
class DriverBranch:
    branch: str
    version: str  # Debian version, e.g. 580.95.05-1
    cuda_version: str  # the CUDA version nvidia-smi reports for this driver

    @property
    def upstream(self) -> str:
        return self.version.rsplit("-", 1)[0]


DRIVER_BRANCHES = (
    DriverBranch("580", "580.95.05-1", "13.0"),
    DriverBranch("550", "550.163.01-1", "12.4"),  # old enough to fail "driver too old" for CUDA 12.8+
)
TOOLKIT_VERSION = "1.17.8-1"


@dataclass(frozen=True)
class FileSpec:
    destination: str  # absolute path on the host
    source: str  # a file under provision/standin/files/
    mode: int = 0o644
    conffile: bool = False


@dataclass(frozen=True)
class PackageSpec:
    name: str
    version: str
    summary: str  # what the real package is; the Description says it is a stand-in first
    repository: str  # "cuda" or "toolkit"
    depends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)  # postinst/prerm/postrm -> source file
    substitutions: dict[str, str] = field(default_factory=dict)

    def control(self, architecture: str, installed_size_kib: int) -> str:
        lines = [f"Package: {self.name}", f"Version: {self.version}", f"Architecture: {architecture}",
                 f"Maintainer: {MAINTAINER}", f"Installed-Size: {installed_size_kib}", "Section: non-free/libs",
                 "Priority: optional"]
        for label, values in (("Depends", self.depends), ("Conflicts", self.conflicts),
                              ("Replaces", self.replaces), ("Provides", self.provides)):
            if values:
                lines.append(f"{label}: {', '.join(values)}")
        lines.append(f"Description: {STAND_IN} ({self.summary})")
        lines.append(" Part of provision's stand-in vendor repository, built from provision's own files")
        lines.append(" for tests on hosts without a GPU. It carries the name and version of NVIDIA's")
        lines.append(" package and simulates its behaviour; it contains no NVIDIA software.")
        return "\n".join(lines) + "\n"


def _service_files(service: str, daemon: str, pidfile: str, summary: str) -> tuple[tuple[FileSpec, ...], dict[str, str]]:
    files = (FileSpec(f"/etc/init.d/{service}", "service.init", 0o755, conffile=True),
             FileSpec(f"/lib/systemd/system/{service}.service", "service.unit"))
    return files, {"SERVICE": service, "DAEMON": daemon, "PIDFILE": pidfile, "SUMMARY": summary}


SERVICE_SCRIPTS = {"postinst": "service.postinst", "prerm": "service.prerm", "postrm": "service.postrm"}


def support_package() -> PackageSpec:
    """What the other stand-ins share: the simulated module state, the JSON library, the daemon helper."""
    return PackageSpec(
        SUPPORT_PACKAGE, SUPPORT_VERSION, "shared helpers of the stand-in packages", "both",
        files=(FileSpec("/usr/sbin/nvidia-standin-module", "nvidia-standin-module", 0o755),
               FileSpec("/usr/share/nvidia-standin/perl5/StandinJSON.pm", "StandinJSON.pm"),
               FileSpec("/usr/lib/nvidia-standin/daemonize", "daemonize", 0o755)))


def driver_packages(branch: DriverBranch) -> list[PackageSpec]:
    version, upstream = branch.version, branch.upstream

    def exact(name: str) -> str:
        return f"{name} (= {version})"

    common = {"DRIVER_VERSION": upstream, "CUDA_VERSION": branch.cuda_version, "BRANCH": branch.branch}
    module_scripts = {"postinst": "kernel-module.postinst", "postrm": "kernel-module.postrm"}
    persistenced_files, persistenced_subs = _service_files(
        "nvidia-persistenced", "/usr/bin/nvidia-persistenced --verbose",
        "/var/run/nvidia-persistenced/nvidia-persistenced.pid", "NVIDIA Persistence Daemon")
    fabric_files, fabric_subs = _service_files(
        "nvidia-fabricmanager", "/usr/bin/nv-fabricmanager -c /usr/share/nvidia/nvswitch/fabricmanager.cfg",
        "/var/run/nvidia-fabricmanager/nv-fabricmanager.pid", "NVIDIA fabric manager service")

    def package(name, summary, **fields) -> PackageSpec:
        substitutions = {**common, **fields.pop("substitutions", {})}
        return PackageSpec(name, version, summary, "cuda", substitutions=substitutions, **fields)

    return [
        package("nvidia-kernel-open-dkms", "NVIDIA open GPU kernel modules, DKMS source",
                depends=(f"{SUPPORT_PACKAGE}",), conflicts=("nvidia-kernel-dkms",),
                replaces=("nvidia-kernel-dkms",), provides=(f"nvidia-kernel-dkms-any (= {version})",),
                scripts=module_scripts, substitutions={"FLAVOUR": "open"}),
        package("nvidia-kernel-dkms", "NVIDIA proprietary GPU kernel modules, DKMS source",
                depends=(f"{SUPPORT_PACKAGE}",), conflicts=("nvidia-kernel-open-dkms",),
                replaces=("nvidia-kernel-open-dkms",), provides=(f"nvidia-kernel-dkms-any (= {version})",),
                scripts=module_scripts, substitutions={"FLAVOUR": "proprietary"}),
        package("libnvidia-ml1", "NVIDIA Management Library (NVML)"),
        package("nvidia-driver-cuda", "NVIDIA driver CUDA integration components: nvidia-smi",
                depends=(SUPPORT_PACKAGE, exact("libnvidia-ml1")),
                files=(FileSpec("/usr/bin/nvidia-smi", "nvidia-smi", 0o755),)),
        package("nvidia-persistenced", "daemon to maintain persistent software state in the NVIDIA driver",
                depends=(SUPPORT_PACKAGE,), files=(FileSpec("/usr/bin/nvidia-persistenced", "nvidia-persistenced", 0o755),
                                                   *persistenced_files),
                scripts=SERVICE_SCRIPTS, substitutions=persistenced_subs),
        package("nvidia-driver", "NVIDIA driver metapackage",
                depends=(exact("nvidia-driver-cuda"), exact("libnvidia-ml1"), exact("nvidia-persistenced"),
                         f"{exact('nvidia-kernel-open-dkms')} | {exact('nvidia-kernel-dkms')}")),
        package("nvidia-open", "NVIDIA driver with the open kernel modules, metapackage",
                depends=(exact("nvidia-driver"), exact("nvidia-kernel-open-dkms"))),
        package(f"cuda-drivers-{branch.branch}", f"CUDA driver metapackage for branch {branch.branch}",
                depends=(exact("nvidia-driver"),)),
        package("cuda-drivers", "CUDA driver metapackage",
                depends=(exact(f"cuda-drivers-{branch.branch}"),)),
        package("nvidia-fabricmanager", "NVIDIA Fabric Manager for NVSwitch systems",
                depends=(SUPPORT_PACKAGE,),
                files=(FileSpec("/usr/bin/nv-fabricmanager", "nv-fabricmanager", 0o755), *fabric_files),
                scripts=SERVICE_SCRIPTS, substitutions=fabric_subs),
    ]


def toolkit_packages(version: str = TOOLKIT_VERSION) -> list[PackageSpec]:
    upstream = version.rsplit("-", 1)[0]
    subs = {"TOOLKIT_VERSION": version, "TOOLKIT_UPSTREAM": upstream}

    def package(name, summary, **fields) -> PackageSpec:
        return PackageSpec(name, version, summary, "toolkit", substitutions=subs, **fields)

    return [
        package("libnvidia-container1", "NVIDIA container runtime library"),
        package("libnvidia-container-tools", "NVIDIA container runtime library (command-line tools)",
                depends=(f"libnvidia-container1 (>= {version})", "libnvidia-container1 (<< 2.0.0)", SUPPORT_PACKAGE),
                files=(FileSpec("/usr/bin/nvidia-container-cli", "nvidia-container-cli", 0o755),)),
        package("nvidia-container-toolkit-base", "NVIDIA Container Toolkit Base: nvidia-ctk, the runtime",
                depends=(SUPPORT_PACKAGE,),
                files=(FileSpec("/usr/bin/nvidia-ctk", "nvidia-ctk", 0o755),
                       FileSpec("/usr/bin/nvidia-container-runtime", "nvidia-container-runtime", 0o755),
                       FileSpec("/usr/bin/nvidia-cdi-hook", "nvidia-cdi-hook", 0o755),
                       FileSpec("/etc/nvidia-container-runtime/config.toml", "config.toml", conffile=True))),
        package("nvidia-container-toolkit", "NVIDIA Container Toolkit: the OCI hook for docker --gpus",
                depends=(f"nvidia-container-toolkit-base (= {version})", f"libnvidia-container-tools (>= {version})",
                         "libnvidia-container-tools (<< 2.0.0)"),
                files=(FileSpec("/usr/bin/nvidia-container-runtime-hook", "nvidia-container-runtime-hook", 0o755),)),
    ]


def all_packages() -> list[PackageSpec]:
    packages = [support_package()]
    for branch in DRIVER_BRANCHES:
        packages += driver_packages(branch)
    return packages + toolkit_packages()

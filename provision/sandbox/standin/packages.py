"""The stand-in packages' shape: NVIDIA's package names and versions, none of NVIDIA's software.

A PackageSpec is one .deb: its control fields, the files it installs (taken from
`provision/sandbox/standin/files/` with `@NAME@` placeholders filled in) and the repositories it is served
in. Which packages exist, per distro and branch, is data (`data/catalog.yaml`) turned into specs by
`provision/sandbox/standin/catalog/`.

The easy thing to get wrong: a name and version can exist in several repositories with different
contents (Debian's and Ubuntu's `nvidia-fabricmanager-580 580.95.05-1` are two packages), so a spec
is built once per spec, never looked up by name and version alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STAND_IN = "STAND-IN for tests: not NVIDIA software"
MAINTAINER = "provision stand-in repository <standin@provision.invalid>"
SUPPORT_PACKAGE = "nvidia-standin-support"
SUPPORT_VERSION = "1.1-1"
TOOLKIT_REPOSITORY = "toolkit"  # the container toolkit; the CUDA repositories are named by distro
# the frozen repositories nvidia-docker.list names (catalog.yaml `nvidia_docker`)
LEGACY_TOOLKIT_REPOSITORY = "toolkit-ubuntu18.04"
LEGACY_RUNTIME_REPOSITORY = "runtime-ubuntu18.04"
LEGACY_DOCKER_REPOSITORY = "nvidia-docker-ubuntu18.04"


@dataclass(frozen=True)
class DriverBranch:
    """One driver release of a branch as a distro's repository versions it."""
    branch: str  # "580"
    upstream: str  # 580.95.05
    cuda_version: str  # the CUDA version nvidia-smi reports for this driver
    revision: str = "-1"  # Debian "-1", Ubuntu "-0ubuntu1"

    @property
    def version(self) -> str:
        return self.upstream + self.revision


@dataclass(frozen=True)
class FileSpec:
    destination: str  # absolute path on the host
    source: str  # a file under provision/sandbox/standin/files/
    mode: int = 0o644
    conffile: bool = False


@dataclass(frozen=True)
class PackageSpec:
    name: str
    version: str
    summary: str  # what the real package is; the Description says it is a stand-in first
    repositories: tuple[str, ...]  # distro folders ("debian12", ...) and/or TOOLKIT_REPOSITORY
    depends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)  # postinst/prerm/postrm -> source file
    substitutions: dict[str, str] = field(default_factory=dict)
    architecture: str | None = None  # "all" for a package NVIDIA builds once; None: the build machine's
    breaks: tuple[str, ...] = ()

    def control(self, architecture: str, installed_size_kib: int) -> str:
        lines = [f"Package: {self.name}", f"Version: {self.version}",
                 f"Architecture: {self.architecture or architecture}",
                 f"Maintainer: {MAINTAINER}", f"Installed-Size: {installed_size_kib}", "Section: non-free/libs",
                 "Priority: optional"]
        for label, values in (("Depends", self.depends), ("Breaks", self.breaks), ("Conflicts", self.conflicts),
                              ("Replaces", self.replaces), ("Provides", self.provides)):
            if values:
                lines.append(f"{label}: {', '.join(values)}")
        lines.append(f"Description: {STAND_IN} ({self.summary})")
        lines.append(" Part of provision's stand-in vendor repository, built from provision's own files")
        lines.append(" for tests on hosts without a GPU. It carries the name and version of NVIDIA's")
        lines.append(" package and simulates its behaviour; it contains no NVIDIA software.")
        return "\n".join(lines) + "\n"


SERVICE_SCRIPTS = {"postinst": "service.postinst", "prerm": "service.prerm", "postrm": "service.postrm"}
MODULE_SCRIPTS = {"postinst": "kernel-module.postinst", "postrm": "kernel-module.postrm"}


def service_files(service: str, daemon: str, pidfile: str, summary: str) -> tuple[tuple[FileSpec, ...], dict[str, str]]:
    """A daemon's systemd unit and the SysV script that runs the unit's ExecStart where systemd is absent."""
    files = (FileSpec(f"/etc/init.d/{service}", "service.init", 0o755, conffile=True),
             FileSpec(f"/lib/systemd/system/{service}.service", "service.unit"))
    return files, {"SERVICE": service, "DAEMON": daemon, "PIDFILE": pidfile, "SUMMARY": summary}


def support_package(repositories: tuple[str, ...]) -> PackageSpec:
    """What the other stand-ins share: the simulated module state, the JSON library, the daemon helper."""
    return PackageSpec(
        SUPPORT_PACKAGE, SUPPORT_VERSION, "shared helpers of the stand-in packages", repositories,
        files=(FileSpec("/usr/sbin/nvidia-standin-module", "nvidia-standin-module", 0o755),
               FileSpec("/usr/share/nvidia-standin/perl5/StandinJSON.pm", "StandinJSON.pm"),
               FileSpec("/usr/lib/nvidia-standin/daemonize", "daemonize", 0o755)))

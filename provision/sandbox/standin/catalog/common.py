"""Driver pieces both packaging families share: the daemons, fabric manager, the branch pin.

Names differ per family, behaviour does not: the stand-in daemons check the loaded module's
version as the real ones do, and the fabric manager carries its own `-1` revision everywhere.
"""
from __future__ import annotations

from provision.sandbox.standin.catalog.data import fabricmanager_version, load
from provision.sandbox.standin.packages import MODULE_SCRIPTS, SERVICE_SCRIPTS, SUPPORT_PACKAGE, DriverBranch, FileSpec, \
    PackageSpec, service_files

PERSISTENCED_PIDFILE = "/var/run/nvidia-persistenced/nvidia-persistenced.pid"
FABRIC_PIDFILE = "/var/run/nvidia-fabricmanager/nv-fabricmanager.pid"


class Builder:
    """Makes specs of one branch for a set of repository folders, with the branch's substitutions."""

    def __init__(self, branch: DriverBranch, repositories: tuple[str, ...]):
        self.branch = branch
        self.repositories = repositories
        self.common = {"DRIVER_VERSION": branch.upstream, "CUDA_VERSION": branch.cuda_version,
                       "BRANCH": branch.branch}

    def package(self, name: str, summary: str, version: str | None = None, **fields) -> PackageSpec:
        substitutions = {**self.common, **fields.pop("substitutions", {})}
        return PackageSpec(name, version or self.branch.version, summary, self.repositories,
                           substitutions=substitutions, **fields)

    def at_least(self, name: str) -> str:
        return f"{name} (>= {self.branch.version})"

    def exactly(self, name: str) -> str:
        return f"{name} (= {self.branch.version})"

    def kernel_module(self, name: str, flavour: str, shared: str, summary: str, depends: tuple[str, ...] = ()) -> PackageSpec:
        """A DKMS module package; `shared` is the name both flavours provide and conflict with."""
        return self.package(name, summary, depends=(SUPPORT_PACKAGE, *depends), provides=(f"{shared} (= {self.branch.version})",),
                            conflicts=(shared,), replaces=(shared,), scripts=MODULE_SCRIPTS,
                            substitutions={"FLAVOUR": flavour})

    def smi(self, name: str, summary: str, **fields) -> PackageSpec:
        return self.package(name, summary, files=(FileSpec("/usr/bin/nvidia-smi", "nvidia-smi", 0o755),), **fields)

    def persistenced(self, name: str, family: str, **fields) -> PackageSpec:
        files, substitutions = service_files("nvidia-persistenced", load()["persistenced"][family],
                                             PERSISTENCED_PIDFILE, "NVIDIA Persistence Daemon")
        return self.package(name, f"{'NVIDIA compute utilities: ' if name != 'nvidia-persistenced' else ''}"
                            "daemon to maintain persistent software state in the NVIDIA driver",
                            files=(FileSpec("/usr/bin/nvidia-persistenced", "nvidia-persistenced", 0o755), *files),
                            scripts=SERVICE_SCRIPTS, substitutions=substitutions, **fields)

    def fabricmanager(self, name: str) -> PackageSpec:
        """nvidia-fabricmanager[-<b>]; the suffixed one provides and conflicts with the bare name."""
        files, substitutions = service_files(
            "nvidia-fabricmanager", "/usr/bin/nv-fabricmanager -c /usr/share/nvidia/nvswitch/fabricmanager.cfg",
            FABRIC_PIDFILE, "NVIDIA fabric manager service")
        virtual = {} if name == "nvidia-fabricmanager" else {
            "provides": ("nvidia-fabricmanager",), "conflicts": ("nvidia-fabricmanager",),
            "replaces": ("nvidia-fabricmanager",)}
        return self.package(name, "Fabric Manager for NVSwitch based systems", fabricmanager_version(self.branch),
                            depends=(SUPPORT_PACKAGE,),
                            files=(FileSpec("/usr/bin/nv-fabricmanager", "nv-fabricmanager", 0o755), *files),
                            scripts=SERVICE_SCRIPTS, substitutions=substitutions, **virtual)

    def pinning(self, pinned_names: list[str]) -> PackageSpec:
        """nvidia-driver-pinning-<b>: an apt preferences file holding `pinned_names` to the branch."""
        pinning = load()["pinning"]
        return self.package(f"nvidia-driver-pinning-{self.branch.branch}",
                            f"APT driver pinning file for driver branch {self.branch.branch}",
                            provides=("nvidia-driver-pinning",), conflicts=("nvidia-driver-pinning",),
                            replaces=("nvidia-driver-pinning",),
                            files=(FileSpec(pinning["path"], "driver-pinning.pref", conffile=True),),
                            substitutions={"PACKAGES": " ".join(sorted(set(pinned_names))),
                                           "PRIORITY": str(pinning["priority"])})


def pinned_branches(distro: str) -> list[str]:
    return [str(branch) for branch in load()["pinning"]["branches"].get(distro, [])]

"""Which operating system a sandbox host presents itself as: `--os debian12|ubuntu22.04|ubuntu24.04`.

Every host runs the same Debian 12 userland (the base image). For `ubuntu22.04`/`ubuntu24.04` the
host's identity files are Ubuntu's, verbatim from those releases: `/etc/os-release` (and
`/usr/lib/os-release`, which it links to on a real system), `/etc/lsb-release`, and
`/etc/debian_version` as Ubuntu ships it. Facts, preflight and the roles then take the Ubuntu path
for real: NVIDIA's `ubuntu2204`/`ubuntu2404` repository folder, Ubuntu's driver package names.

An Ubuntu host also gets Ubuntu's archive, component restricted, as an apt source: the stand-in
repository's copy of it (Canonical's `-server` driver packages), since a real Ubuntu server has
`restricted` in its sources and NVIDIA's driver role installs from there by default. The source
file and its keyring are named as stand-ins.

What this is not: an Ubuntu userland. The Debian packages the roles install from the distribution
(docker.io, for example) are Debian 12's, and `uname -r` is this machine's kernel. The thing easy to
get wrong: `/etc/os-release` is a symlink in the image, so the seeded file must replace the link in
the host's upper folder, never be written through it into the shared image.
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.errors import SandboxError


@dataclass(frozen=True)
class OsIdentity:
    name: str  # the --os value
    cuda_repo: str  # NVIDIA's CUDA repository folder for it
    files: dict[str, str]  # absolute path -> content; empty for the image's own OS
    codename: str = ""  # Ubuntu's release codename; "" for the image's own OS

    @property
    def archive_suite(self) -> str:
        """The suite of Ubuntu's archive the stand-in serves for this release (catalog.yaml
        ubuntu_archive), "" where it serves none."""
        from provision.sandbox.standin.catalog import canonical

        return canonical.releases().get(self.codename, {}).get("suite", "") if self.codename else ""

    def seed_files(self) -> dict[str, bytes]:
        return {path: content.encode() for path, content in self.files.items()}

    def archive_files(self, archive_url: str, keyring: bytes) -> dict[str, bytes]:
        """The apt source of the stand-in Ubuntu archive (restricted) and the keyring it is signed
        with; nothing for an OS without one."""
        if not self.archive_suite:
            return {}
        source = ("# STAND-IN for tests: Ubuntu's archive, component restricted (Canonical's NVIDIA -server\n"
                  "# driver packages), served by provision's stand-in repository; a real host names\n"
                  "# archive.ubuntu.com here.\n"
                  f"Types: deb\nURIs: {archive_url}\nSuites: {self.archive_suite}\nComponents: restricted\n"
                  f"Signed-By: {ARCHIVE_KEYRING}\n")
        return {ARCHIVE_SOURCE: source.encode(), ARCHIVE_KEYRING: keyring}


def _ubuntu(version: str, point: str, codename: str, animal: str, debian_version: str) -> dict[str, str]:
    os_release = (f'PRETTY_NAME="Ubuntu {point} LTS"\nNAME="Ubuntu"\nVERSION_ID="{version}"\n'
                  f'VERSION="{point} LTS ({animal})"\nVERSION_CODENAME={codename}\nID=ubuntu\nID_LIKE=debian\n'
                  'HOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\n'
                  'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"\n'
                  'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\n'
                  f'UBUNTU_CODENAME={codename}\n')
    lsb_release = (f"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={version}\nDISTRIB_CODENAME={codename}\n"
                   f'DISTRIB_DESCRIPTION="Ubuntu {point} LTS"\n')
    return {"/etc/os-release": os_release, "/usr/lib/os-release": os_release, "/etc/lsb-release": lsb_release,
            "/etc/debian_version": debian_version + "\n"}


ARCHIVE_SOURCE = "/etc/apt/sources.list.d/ubuntu-archive-standin.sources"
ARCHIVE_KEYRING = "/usr/share/keyrings/ubuntu-archive-standin.gpg"

IDENTITIES: dict[str, OsIdentity] = {
    "debian12": OsIdentity("debian12", "debian12", {}),
    "ubuntu22.04": OsIdentity("ubuntu22.04", "ubuntu2204",
                              _ubuntu("22.04", "22.04.5", "jammy", "Jammy Jellyfish", "bookworm/sid"), "jammy"),
    "ubuntu24.04": OsIdentity("ubuntu24.04", "ubuntu2404",
                              _ubuntu("24.04", "24.04.3", "noble", "Noble Numbat", "trixie/sid"), "noble"),
}
DEFAULT_OS = "debian12"


def os_identity(name: str) -> OsIdentity:
    """The identity of an --os value; a clear error naming the choices for anything else."""
    try:
        return IDENTITIES[name]
    except KeyError:
        raise SandboxError(f"sandbox --os {name!r} is not available; available: {', '.join(IDENTITIES)}") from None

"""Which operating systems the GPU roles support, from data/os_support.yaml.

Anything not listed is refused by name ("Fedora 40 is not supported"), never guessed at. The easy
thing to get wrong: Ubuntu versions match exactly (22.10 is not 22.04), while Debian and
RHEL-family versions match on the major (Rocky 9.4 is 9).
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.gpu.tables import load_table


@dataclass(frozen=True)
class OsSupport:
    """`ok`, a `reason`; when ok also the `family` (debian/redhat) and NVIDIA's `cuda_repo` folder.
    Unpacks as (ok, reason)."""

    ok: bool
    reason: str
    family: str = ""
    cuda_repo: str = ""

    def __iter__(self):
        return iter((self.ok, self.reason))


def supported_os(distribution: str, version: str | int | float) -> OsSupport:
    """Whether `distribution` (an os-release ID or name: "ubuntu", "Rocky Linux", "rhel") at
    `version` ("22.04", "9.4", "12") is supported; the refusal names the OS and lists the supported ones."""
    table = load_table("os_support")
    key = table["aliases"].get(str(distribution).strip().lower())
    named = f"{distribution} {version}".strip()
    if key is None:
        return OsSupport(False, f"{named} is not supported; supported: {supported_list()}")
    entry = table["distributions"][key]
    wanted = str(version).strip()
    if entry["match"] == "major":
        wanted = wanted.split(".")[0]
    repo = entry["versions"].get(wanted)
    if repo is None:
        return OsSupport(False, f"{entry['label']} {version} is not supported; supported: {supported_list()}")
    return OsSupport(True, f"{entry['label']} {version} is supported", entry["family"], repo)


def supported_list() -> str:
    """"Ubuntu 22.04/24.04, Debian 12, RHEL 8/9, Rocky Linux 8/9", from the table."""
    distributions = load_table("os_support")["distributions"].values()
    return ", ".join(f"{entry['label']} {'/'.join(entry['versions'])}" for entry in distributions)

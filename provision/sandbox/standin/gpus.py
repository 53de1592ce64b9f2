"""Fake-GPU hardware descriptions (STAND-IN for tests: not NVIDIA hardware) and what a host shows of them.

A description is a JSON file listing GPUs and NVSwitch bridges with the details `lspci` and
`nvidia-smi` print. The sandbox seeds one into each host at `/etc/nvidia-standin/gpus.json`, where
the stand-in `nvidia-smi` reads it, and a stand-in `/usr/bin/lspci` (hosts have no pciutils) that
prints those devices as real lspci does. The older `lspci -Dnn -d 10de:` text file is still seeded
for roles that read it through a configurable command.

The easy thing to get wrong: lspci lists devices sorted by PCI address, GPUs and bridges mixed,
with lower-case hex; nvidia-smi prints bus ids with an 8-digit domain in upper case.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
HOST_DESCRIPTION_PATH = "/etc/nvidia-standin/gpus.json"
HOST_LSPCI_PATH = "/etc/nvidia-standin/lspci-Dnn-d-10de.txt"
HOST_LSPCI_TOOL = "/usr/bin/lspci"
# The host boots no kernel of its own: the stand-in answers `update-initramfs -u` at its real path.
HOST_INITRAMFS_TOOL = "/usr/sbin/update-initramfs"
# Stand-in tools where a package puts the real one (pciutils, initramfs-tools): the sandbox diverts
# those paths (dpkg-divert --local), so a role that installs the package keeps the stand-in working
# (DeepOps' facts role installs pciutils, then counts GPUs with lspci).
STANDIN_TOOLS = (HOST_LSPCI_TOOL, HOST_INITRAMFS_TOOL)
FILES_DIR = os.path.join(os.path.dirname(__file__), "files")
# The command a role runs on a sandbox host instead of `lspci -Dnn -d 10de:`.
LSPCI_COMMAND = f"cat {HOST_LSPCI_PATH}"
PROFILES = ("h100x8", "a100x1", "v100x8", "rtxpro6000x2")
DEFAULT_PROFILE = "h100x8"


class DescriptionError(ValueError):
    """A GPU description file that cannot be used."""


@dataclass(frozen=True)
class PciDevice:
    bus_id: str  # lspci form, e.g. 0000:18:00.0
    device_class: str  # e.g. "3D controller [0302]"
    name: str  # e.g. "NVIDIA Corporation GH100 [H100 SXM5 80GB]"
    vendor_id: str
    device_id: str
    revision: str

    def lspci_line(self) -> str:
        return (f"{self.bus_id} {self.device_class}: {self.name} "
                f"[{_hex4(self.vendor_id)}:{_hex4(self.device_id)}] (rev {self.revision})")


def _hex4(value: str) -> str:
    return f"{int(value, 16):04x}"


def description_path(profile: str) -> str:
    """The shipped description file of a profile name (one of PROFILES)."""
    if profile not in PROFILES:
        raise DescriptionError(f"unknown GPU profile {profile!r}; known: {', '.join(PROFILES)}")
    return os.path.join(DATA_DIR, f"gpus-{profile}.json")


def load_description(profile_or_path: str = DEFAULT_PROFILE) -> dict:
    """A description by profile name or file path, checked for the fields the stand-ins read."""
    path = profile_or_path if os.sep in profile_or_path or profile_or_path.endswith(".json") \
        else description_path(profile_or_path)
    try:
        with open(path) as handle:
            description = json.load(handle)
    except (OSError, ValueError) as error:
        raise DescriptionError(f"{path}: {error}") from error
    for number, gpu in enumerate(description.get("gpus", [])):
        missing = [key for key in ("index", "name", "pci_bus_id", "device_id", "compute_cap", "memory_total_mib", "uuid")
                   if key not in gpu]
        if missing:
            raise DescriptionError(f"{path}: GPU {number} lacks {', '.join(missing)}")
    return description


def pci_devices(description: dict) -> list[PciDevice]:
    """GPUs and NVSwitches in PCI address order, as lspci lists them."""
    devices = []
    for entry in [*description.get("gpus", []), *description.get("nvswitches", [])]:
        devices.append(PciDevice(bus_id=entry["pci_bus_id"].lower(),
                                 device_class=entry.get("class", "3D controller [0302]"),
                                 name=entry.get("lspci_name", entry.get("name", "NVIDIA Corporation Device")),
                                 vendor_id=entry.get("vendor_id", "0x10de"), device_id=entry["device_id"],
                                 revision=entry.get("revision", "a1")))
    return sorted(devices, key=lambda device: device.bus_id)


def render_lspci(description: dict) -> str:
    """What `lspci -Dnn -d 10de:` prints on a host with this hardware."""
    return "".join(device.lspci_line() + "\n" for device in pci_devices(description))


def lspci_script() -> bytes:
    """The stand-in lspci with the JSON reader inlined: it runs before any stand-in package is installed."""
    with open(os.path.join(FILES_DIR, "lspci")) as handle:
        script = handle.read()
    with open(os.path.join(FILES_DIR, "StandinJSON.pm")) as handle:
        library = handle.read()
    loader = "use lib ($ENV{NVIDIA_STANDIN_PERL5LIB} || '/usr/share/nvidia-standin/perl5');\nuse StandinJSON;\n"
    if loader not in script:
        raise DescriptionError("files/lspci no longer loads StandinJSON as seed_files expects")
    return script.replace(loader, "BEGIN {\n" + library + "}\npackage main;\n").encode()


def _standin_file(name: str) -> bytes:
    with open(os.path.join(FILES_DIR, name), "rb") as handle:
        return handle.read()


def seed_files(description: dict) -> dict[str, bytes]:
    """The files the sandbox writes into each host: {absolute path: content}; those starting with
    `#!` are programs (mode 0755)."""
    return {HOST_DESCRIPTION_PATH: (json.dumps(description, indent=2) + "\n").encode(),
            HOST_LSPCI_PATH: render_lspci(description).encode(),
            HOST_LSPCI_TOOL: lspci_script(),
            HOST_INITRAMFS_TOOL: _standin_file("update-initramfs")}

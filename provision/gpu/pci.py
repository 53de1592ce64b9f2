"""Read `lspci -Dnn -d 10de:` output into GPUs, NVSwitch bridges and other NVIDIA functions.

A line looks like
    0000:18:00.0 3D controller [0302]: NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)
The easy thing to get wrong: a GPU the table does not know is still a GPU (the device count
check compares against it), so it is kept with `model=None`, never dropped. The class code, not
the name, decides what a function is: pci.ids names lag behind new boards.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from provision.gpu.models import GpuModel, NvSwitchModel, gpu_model, nvswitch_model

NVIDIA_VENDOR = "10de"
GPU_CLASSES = {"0300", "0302", "0380"}  # VGA, 3D controller, other display controller
BRIDGE_CLASS = "0680"  # "Bridge [0680]": how NVSwitch chips appear

_LINE = re.compile(
    r"^(?P<address>(?:[0-9a-fA-F]{4,}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
    r"(?P<class_name>.+?)\s+\[(?P<class_code>[0-9a-fA-F]{4})\]:\s+"
    r"(?P<description>.*?)\s*\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]"
    r"(?:\s+\(rev\s+(?P<revision>[0-9a-fA-F]+)\))?"
)


@dataclass(frozen=True)
class PciDevice:
    """One NVIDIA PCI function. `kind` is "gpu", "nvswitch" or "other" (audio, USB-C, ...)."""

    address: str
    device_id: str
    class_code: str
    description: str
    kind: str
    model: GpuModel | NvSwitchModel | None = None

    @property
    def known(self) -> bool:
        """Whether the table knows this device id (always False for kind "other")."""
        return self.model is not None

    @property
    def model_name(self) -> str:
        """The table's name, or the lspci description marked unknown."""
        if self.model is not None:
            return self.model.name
        return f"unknown NVIDIA device 10de:{self.device_id} ({self.description or 'no name'})"


@dataclass(frozen=True)
class NvidiaInventory:
    """What lspci showed: GPUs, NVSwitch bridges, other functions, and lines it could not read."""

    gpus: list[PciDevice] = field(default_factory=list)
    nvswitches: list[PciDevice] = field(default_factory=list)
    others: list[PciDevice] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    @property
    def unknown_gpus(self) -> list[PciDevice]:
        return [gpu for gpu in self.gpus if not gpu.known]


def parse_lspci(text: str) -> NvidiaInventory:
    """Parse `lspci -Dnn -d 10de:` output (without -D the addresses lack the domain; both work).

    Devices of other vendors are ignored; a non-empty line that is not an lspci device line is
    kept in `unparsed` so a caller can report it instead of silently miscounting.
    """
    inventory = NvidiaInventory()
    for line in text.splitlines():
        if not line.strip():
            continue
        device = parse_lspci_line(line)
        if device is None:
            inventory.unparsed.append(line)
        elif device.kind == "gpu":
            inventory.gpus.append(device)
        elif device.kind == "nvswitch":
            inventory.nvswitches.append(device)
        elif device.kind == "other":
            inventory.others.append(device)
    return inventory


def parse_lspci_line(line: str) -> PciDevice | None:
    """One lspci -nn line -> PciDevice (kind "foreign" for another vendor), None if unreadable."""
    match = _LINE.match(line.strip())
    if not match:
        return None
    vendor = match.group("vendor").lower()
    device_id = match.group("device").lower()
    class_code = match.group("class_code").lower()
    description = _strip_vendor(match.group("description"))
    kind = _kind(vendor, class_code)
    model = gpu_model(device_id) if kind == "gpu" else nvswitch_model(device_id) if kind == "nvswitch" else None
    return PciDevice(match.group("address").lower(), device_id, class_code, description, kind, model)


def _kind(vendor: str, class_code: str) -> str:
    if vendor != NVIDIA_VENDOR:
        return "foreign"
    if class_code in GPU_CLASSES:
        return "gpu"
    if class_code == BRIDGE_CLASS:
        return "nvswitch"
    return "other"


def _strip_vendor(description: str) -> str:
    prefix = "NVIDIA Corporation"
    text = description.strip()
    return text[len(prefix):].strip() if text.startswith(prefix) else text

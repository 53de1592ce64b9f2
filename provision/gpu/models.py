"""GPU and NVSwitch models from data/gpus.yaml, looked up by PCI device id.

A model is plain data; lookups return None for an id the table does not know, so callers decide
whether "unknown" is fine (listing devices) or an error (choosing a driver flavour).
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.gpu.tables import load_table

ARCHITECTURES = ("Maxwell", "Pascal", "Volta", "Turing", "Ampere", "Ada", "Hopper", "Blackwell")


@dataclass(frozen=True)
class GpuModel:
    """One GPU product: `capability` is "major.minor"; `bf16_tflops` the dense datasheet peak or None.

    `fabric` is "nvlink5" for HGX/DGX B200/B300 and GB200/GB300, whose fabric needs nvlsm and whose
    NVSwitches are not NVIDIA PCI bridges, so callers can refuse them plainly. `min_branch` is the
    model's own first driver branch where it is stricter than its capability's (see branches.py).
    """

    device_id: str
    name: str
    architecture: str
    capability: str
    memory_gb: float | None
    bf16_tflops: float | None
    unsure: str | None = None
    fabric: str | None = None
    min_branch: int | None = None

    @property
    def nvlink5(self) -> bool:
        """Whether the board's fabric is NVLink 5 (fabric manager alone does not bring it up)."""
        return self.fabric == "nvlink5"

    @property
    def capability_tuple(self) -> tuple[int, int]:
        major, minor = self.capability.split(".")
        return int(major), int(minor)


@dataclass(frozen=True)
class NvSwitchModel:
    """One NVSwitch chip generation, as seen on the PCI bus."""

    device_id: str
    name: str
    generation: int
    architecture: str


def normalise_device_id(device_id: str | int) -> str:
    """"0x2330", "2330", "10de:2330" or 0x2330 -> "2330"."""
    if isinstance(device_id, int):
        return f"{device_id:04x}"
    text = str(device_id).strip().lower()
    text = text.split(":")[-1]
    return text[2:] if text.startswith("0x") else text


def gpu_model(device_id: str | int) -> GpuModel | None:
    """The GPU model for a PCI device id, or None when the table does not list it."""
    key = normalise_device_id(device_id)
    entry = load_table("gpus")["gpus"].get(key)
    if entry is None:
        return None
    return GpuModel(
        device_id=key,
        name=entry["name"],
        architecture=entry["architecture"],
        capability=str(entry["capability"]),
        memory_gb=entry.get("memory_gb"),
        bf16_tflops=entry.get("bf16_tflops"),
        unsure=entry.get("unsure"),
        fabric=entry.get("fabric"),
        min_branch=entry.get("min_branch"),
    )


def nvswitch_model(device_id: str | int) -> NvSwitchModel | None:
    """The NVSwitch model for a PCI device id, or None when the table does not list it."""
    key = normalise_device_id(device_id)
    entry = load_table("gpus")["nvswitches"].get(key)
    if entry is None:
        return None
    return NvSwitchModel(key, entry["name"], int(entry["generation"]), entry["architecture"])


def all_gpu_models() -> list[GpuModel]:
    """Every GPU in the table, in file order (for documentation and tests)."""
    return [gpu_model(device_id) for device_id in load_table("gpus")["gpus"]]


def architecture_rule(architecture: str) -> str:
    """The open kernel module rule of an architecture: "unsupported", "supported" or "required"."""
    return load_table("gpus")["architectures"][architecture]["open_module"]

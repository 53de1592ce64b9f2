"""GPU and NVSwitch models from data/gpus.yaml, looked up by PCI device id.

A model is plain data; lookups return None for an id the table does not know, so callers decide
whether "unknown" is fine (listing devices) or an error (choosing a driver flavour).
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.gpu.tables import load_table

ARCHITECTURES = ("Pascal", "Volta", "Turing", "Ampere", "Ada", "Hopper", "Blackwell")


@dataclass(frozen=True)
class GpuModel:
    """One GPU product: `capability` is "major.minor"; `bf16_tflops` the dense datasheet peak or None."""

    device_id: str
    name: str
    architecture: str
    capability: str
    memory_gb: float | None
    bf16_tflops: float | None
    unsure: str | None = None

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

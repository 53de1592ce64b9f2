"""Which NVIDIA kernel module flavour a host needs: "open" or "proprietary".

The open modules support Turing and newer and are the only ones for Blackwell; Pascal and Volta
need the proprietary modules. One host loads one flavour, so a host that mixes a GPU that needs
open modules with one that cannot use them has no answer, and that is an error, not a guess.
"""
from __future__ import annotations

from typing import Iterable, Union

from provision.gpu.errors import FlavourConflict, UnknownGpu
from provision.gpu.models import ARCHITECTURES, GpuModel, architecture_rule
from provision.gpu.pci import PciDevice

GpuLike = Union[GpuModel, PciDevice, str]


def kernel_module_flavour(gpus: Iterable[GpuLike]) -> str:
    """The flavour serving every GPU: "open" or "proprietary".

    Takes GpuModels, PciDevices from parse_lspci, or architecture names. Turing..Hopper alone gives
    "open" (NVIDIA's default since the 560 branch). Raises FlavourConflict when open is required
    (Blackwell) next to a GPU it does not support (Pascal/Volta), and UnknownGpu for a GPU the
    table does not know or for an empty list.
    """
    architectures = [_architecture_of(gpu) for gpu in gpus]
    if not architectures:
        raise UnknownGpu("no NVIDIA GPU to choose a kernel module flavour for")
    rules = {architecture: architecture_rule(architecture) for architecture in architectures}
    needs_open = _ordered(a for a, rule in rules.items() if rule == "required")
    cannot_open = _ordered(a for a, rule in rules.items() if rule == "unsupported")
    if needs_open and cannot_open:
        raise FlavourConflict(
            f"no kernel module flavour serves this host: {', '.join(needs_open)} needs the open modules, "
            f"{', '.join(cannot_open)} only works with the proprietary ones; "
            "put these GPUs in different hosts"
        )
    return "proprietary" if cannot_open else "open"


def _architecture_of(gpu: GpuLike) -> str:
    if isinstance(gpu, str):
        if gpu not in ARCHITECTURES:
            raise UnknownGpu(f"unknown GPU architecture {gpu!r} (known: {', '.join(ARCHITECTURES)})")
        return gpu
    if isinstance(gpu, PciDevice):
        if not isinstance(gpu.model, GpuModel):
            raise UnknownGpu(
                f"{gpu.model_name} at {gpu.address}: its generation decides the driver flavour; "
                "add its id to provision/gpu/data/gpus.yaml or set nvidia_driver_flavour"
            )
        return gpu.model.architecture
    return gpu.architecture


def _ordered(architectures: Iterable[str]) -> list[str]:
    return sorted(set(architectures), key=ARCHITECTURES.index)

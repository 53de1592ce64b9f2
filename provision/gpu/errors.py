"""Errors of the GPU tables and checks: all ProvisionErrors, so the CLI prints them without a traceback."""
from __future__ import annotations

from provision.errors import ProvisionError


class GpuError(ProvisionError):
    """Base of the errors raised by provision.gpu."""


class VersionFormatError(GpuError):
    """A driver, CUDA or capability version string that cannot be read."""


class FlavourConflict(GpuError):
    """No single kernel module flavour serves every GPU of a host (e.g. Pascal next to Blackwell)."""


class UnknownGpu(GpuError):
    """A GPU whose PCI id is not in provision/gpu/data/gpus.yaml, where its generation matters."""

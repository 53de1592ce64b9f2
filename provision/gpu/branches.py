"""Does a driver branch drive a GPU at all? Old architectures age out, new GPUs need a first branch.

The easy thing to get wrong: a branch that does not know a GPU installs cleanly and then sees no GPU
(R595 ignores Maxwell, Pascal and Volta; a pre-R570 driver does not know Blackwell). Nothing fails
until the module loads, so preflight asks here first. Limits live in data/gpus.yaml: `max_branch` per
architecture, `capability_min_branch` as the floor per compute capability, and a stricter
`min_branch` per model where one is known.
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.gpu.errors import UnknownGpu
from provision.gpu.models import GpuModel, gpu_model
from provision.gpu.tables import load_table
from provision.gpu.versions import driver_branch_version


@dataclass(frozen=True)
class BranchSupport:
    """The answer: `ok` and a `reason` a user can read. Unpacks as (ok, reason)."""

    ok: bool
    reason: str

    def __iter__(self):
        return iter((self.ok, self.reason))


def branch_supports(model_or_architecture: GpuModel | str, branch: int | str) -> BranchSupport:
    """Whether driver `branch` (580, "r595", "580-open") drives a GPU model, a PCI device id
    ("2330", "10de:2330") or a whole architecture ("Volta").

    An architecture answers only its upper limit (its GPUs' first branches differ). Raises UnknownGpu
    for a device id the table does not know.
    """
    number = driver_branch_version(branch).branch
    model, architecture = _resolve(model_or_architecture)
    label = model.name if model else f"{architecture} GPUs"
    maximum = load_table("gpus")["architectures"][architecture].get("max_branch")
    if maximum is not None and number > maximum:
        return BranchSupport(False, (
            f"driver branch {number} does not drive {label}: R{maximum} is the last branch for {architecture}; "
            f"pin nvidia_driver_branch to {maximum}"))
    if model is None:
        return BranchSupport(True, f"driver branch {number} is not past the last branch for {architecture}")
    minimum = minimum_branch(model)
    if minimum is not None and number < minimum:
        return BranchSupport(False, (
            f"driver branch {number} is too old for {model.name} (compute {model.capability}): it needs "
            f"branch {minimum} or newer"))
    limits = [f"from R{minimum}"] if minimum is not None else []
    limits += [f"up to R{maximum}"] if maximum is not None else []
    known = f" ({', '.join(limits)})" if limits else ""
    return BranchSupport(True, f"driver branch {number} drives {model.name}{known}")


def minimum_branch(model: GpuModel) -> int | None:
    """The first branch that drives `model`: its own `min_branch` or its capability's floor,
    whichever is newer; None when neither is known."""
    floor = load_table("gpus")["capability_min_branch"].get(model.capability)
    candidates = [value for value in (floor, model.min_branch) if value is not None]
    return max(candidates) if candidates else None


def _resolve(model_or_architecture: GpuModel | str) -> tuple[GpuModel | None, str]:
    if isinstance(model_or_architecture, GpuModel):
        return model_or_architecture, model_or_architecture.architecture
    text = str(model_or_architecture).strip()
    for name in load_table("gpus")["architectures"]:
        if name.lower() == text.lower():
            return None, name
    model = gpu_model(text)
    if model is None:
        raise UnknownGpu(
            f"GPU {text!r} is neither an architecture nor a PCI device id in provision/gpu/data/gpus.yaml")
    return model, model.architecture

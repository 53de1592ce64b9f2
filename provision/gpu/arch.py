"""Does a PyTorch build's arch list run on a GPU of a given compute capability?

torch.cuda.get_arch_list() names SASS ("sm_80": machine code) and PTX ("compute_90": portable code
the driver compiles at first use). SASS runs on GPUs of the same major with an equal or higher
minor (sm_80 runs on 8.6, not on 9.0); PTX runs on any equal or higher capability. The easy thing
to get wrong: the "a" (sm_90a) variants run on exactly that capability, and the "f" family variants
(sm_100f, CUDA 12.9+) on the same major from that minor up; neither moves to a newer major.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from provision.gpu.errors import VersionFormatError

_ARCH = re.compile(r"^(sm|compute)_(\d+)([af]?)$")
_CAPABILITY = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class ArchCoverage:
    """`ok` and a readable `reason`; `covered_by` is the entry that runs it, or "". Unpacks as (ok, reason)."""

    ok: bool
    reason: str
    covered_by: str = ""

    def __iter__(self):
        return iter((self.ok, self.reason))


@dataclass(frozen=True)
class ArchEntry:
    """One arch list entry: kind "sass" or "ptx", capability, and variant "", "a" or "f"."""

    text: str
    kind: str
    capability: tuple[int, int]
    variant: str

    def runs_on(self, gpu: tuple[int, int]) -> bool:
        major, minor = self.capability
        if self.variant == "a":
            return gpu == self.capability
        if self.kind == "sass" or self.variant == "f":
            return gpu[0] == major and gpu[1] >= minor
        return gpu >= self.capability


def parse_capability(capability: str | float | tuple[int, int]) -> tuple[int, int]:
    """"9.0", "10.0" or (9, 0) -> (major, minor). Floats are refused: 10.0 would read as 10.0 or 1.0."""
    if isinstance(capability, tuple):
        return int(capability[0]), int(capability[1])
    match = _CAPABILITY.match(str(capability).strip())
    if not match or isinstance(capability, float):
        raise VersionFormatError(f"cannot read compute capability {capability!r} (expected e.g. \"9.0\")")
    return int(match.group(1)), int(match.group(2))


def parse_arch_entry(text: str) -> ArchEntry:
    """"sm_86" -> SASS 8.6; "compute_90" -> PTX 9.0; "sm_100a" -> SASS 10.0 arch-specific."""
    match = _ARCH.match(text.strip().lower())
    if not match:
        raise VersionFormatError(f"cannot read arch list entry {text!r} (expected e.g. sm_90 or compute_90)")
    digits = match.group(2)
    capability = (int(digits[:-1]), int(digits[-1]))
    kind = "sass" if match.group(1) == "sm" else "ptx"
    return ArchEntry(text.strip(), kind, capability, match.group(3))


def arch_list_covers(arch_list: Iterable[str], capability: str | tuple[int, int]) -> ArchCoverage:
    """Whether `arch_list` (torch.cuda.get_arch_list() style) runs on a GPU of `capability`.

    SASS is preferred in the reason; PTX coverage is reported with its cost (JIT at first start).
    """
    gpu = parse_capability(capability)
    entries = [parse_arch_entry(text) for text in arch_list]
    shown = f"{gpu[0]}.{gpu[1]}"
    sass = [entry for entry in entries if entry.kind == "sass" and entry.runs_on(gpu)]
    if sass:
        best = max(sass, key=lambda entry: entry.capability)
        return ArchCoverage(True, f"{best.text} machine code runs on compute capability {shown}", best.text)
    ptx = [entry for entry in entries if entry.kind == "ptx" and entry.runs_on(gpu)]
    if ptx:
        best = max(ptx, key=lambda entry: entry.capability)
        return ArchCoverage(
            True, f"{best.text} PTX is JIT-compiled for compute capability {shown} (slow first start)", best.text
        )
    listed = " ".join(entry.text for entry in entries) or "an empty arch list"
    return ArchCoverage(
        False,
        f"arch list [{listed}] has neither sm_{gpu[0]}X machine code with X <= {gpu[1]} nor PTX "
        f"(compute_XY) at or below {shown}: it cannot run on compute capability {shown}; "
        f"use a PyTorch build whose arch list includes sm_{gpu[0]}{gpu[1]}",
    )

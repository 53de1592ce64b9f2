"""Driver and CUDA version values that compare as numbers, not strings.

The easy thing to get wrong: "580.65.06" > "580.9" as versions (65 > 9), but not as strings or
floats. Each dotted part is compared as an integer, and "06" is 6.
A driver *branch* ("580") stands for the newest release of that branch, which is what a pinned
branch installs; comparisons against it say "branch" in their reasons.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from provision.gpu.errors import VersionFormatError

_DRIVER = re.compile(r"^\s*[rR]?(\d{2,4})(?:\.(\d+))?(?:\.(\d+))?\s*$")
_BRANCH = re.compile(r"^\s*[rR]?(\d{2,4})(?:[-_ ](?:open|server|server-open|open-server))?\s*$")
_CUDA = re.compile(r"^\s*(?:cuda[- ]?)?(\d{1,2})\.(\d{1,2})(?:\.(\d{1,3}))?\s*$", re.IGNORECASE)
_CUDA_TAG = re.compile(r"^\s*cu(\d{2,3})\s*$", re.IGNORECASE)


@total_ordering
@dataclass(frozen=True, eq=False)
class DriverVersion:
    """An NVIDIA driver version, e.g. 580.65.06; `branch_only` when only the branch (580) is known."""

    parts: tuple[int, ...]
    branch_only: bool = False

    def _key(self) -> tuple[tuple[int, ...], bool]:
        return _padded(self.parts), self.branch_only

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DriverVersion) and self._key() == other._key()

    def __lt__(self, other: "DriverVersion") -> bool:
        return _padded(self.parts) < _padded(other.parts)

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def branch(self) -> int:
        """The driver branch: the first number (580 for 580.65.06)."""
        return self.parts[0]

    def at_least(self, minimum: "DriverVersion") -> bool:
        """Whether this driver satisfies `minimum`. A bare branch is its newest release: 580 covers
        580.65.06, and any later branch covers every release of an earlier one."""
        if self.branch_only:
            return self.branch >= minimum.branch
        return _padded(self.parts) >= _padded(minimum.parts)

    def __str__(self) -> str:
        if self.branch_only:
            return f"branch {self.branch}"
        return ".".join(_driver_part(index, part) for index, part in enumerate(self.parts))


@dataclass(frozen=True, order=True)
class CudaVersion:
    """A CUDA toolkit version: major.minor with an optional update (12.4.1)."""

    major: int
    minor: int
    update: int = 0

    @property
    def release(self) -> str:
        """The GA key of the driver table, e.g. "12.4"."""
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.release}.{self.update}" if self.update else self.release


def parse_driver_version(text: str | int | float) -> DriverVersion:
    """Read "580.65.06", "570.26" or "535.104.05" (a bare "580" reads as that branch)."""
    if isinstance(text, float):
        raise VersionFormatError(f"driver version {text!r} must be quoted in YAML: a float loses digits")
    match = _DRIVER.match(str(text))
    if not match:
        raise VersionFormatError(f"cannot read NVIDIA driver version {text!r} (expected e.g. 580.65.06)")
    parts = tuple(int(part) for part in match.groups() if part is not None)
    return DriverVersion(parts, branch_only=len(parts) == 1)


def driver_branch_version(branch: str | int) -> DriverVersion:
    """The value a pinned branch stands for: "580", 580, "r580" or "580-open" -> branch 580.

    Compared with a CUDA minimum it means "the newest release of this branch", which is what the
    nvidia_driver role installs for `nvidia_driver_branch`.
    """
    match = _BRANCH.match(str(branch))
    if not match:
        raise VersionFormatError(f"cannot read driver branch {branch!r} (expected e.g. 580)")
    return DriverVersion((int(match.group(1)),), branch_only=True)


def driver_branch(version: str | DriverVersion) -> int:
    """The branch of a driver version: 580 for "580.65.06"."""
    if isinstance(version, DriverVersion):
        return version.branch
    return parse_driver_version(version).branch


def parse_cuda_version(text: str | int | float) -> CudaVersion:
    """Read "12.4", "12.4.1", "cuda-12.4" or an image tag part like "cu124" / "cu130"."""
    tag = _CUDA_TAG.match(str(text))
    if tag:
        digits = tag.group(1)
        major_digits = 2 if len(digits) == 3 else 1
        return CudaVersion(int(digits[:major_digits]), int(digits[major_digits:]))
    match = _CUDA.match(str(text))
    if not match:
        raise VersionFormatError(f"cannot read CUDA version {text!r} (expected e.g. 12.4 or cu124)")
    return CudaVersion(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def _padded(parts: tuple[int, ...]) -> tuple[int, ...]:
    return parts + (0,) * (3 - len(parts))


def _driver_part(index: int, part: int) -> str:
    # NVIDIA prints the third part with two digits (580.65.06), the second without padding.
    return f"{part:02d}" if index == 2 else str(part)

"""Does a driver run a CUDA toolkit? Full support, minor-version compatibility, or no.

Each toolkit release names a minimum driver (data/cuda_drivers.yaml). Since CUDA 11 a driver
below that minimum still runs the toolkit when it is at least the floor of the toolkit's major
family ("minor-version compatibility"), with limits: no JIT of PTX newer than the driver, and
some newer APIs fail. The easy thing to get wrong is treating that as a failure (it runs) or as
full support (it is not); the result says which.
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.gpu.tables import load_table
from provision.gpu.versions import (
    CudaVersion,
    DriverVersion,
    parse_cuda_version,
    parse_driver_version,
)

FULL = "full"
MINOR_COMPAT = "minor-version-compatibility"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class CudaSupport:
    """The answer: `ok`, a `reason` a user can read, a `remedy` ("" when nothing to do), and
    `mode` (full / minor-version-compatibility / unsupported). Unpacks as (ok, reason, remedy)."""

    ok: bool
    reason: str
    remedy: str
    mode: str

    def __iter__(self):
        return iter((self.ok, self.reason, self.remedy))


def minimum_driver_for_cuda(cuda_version: str | CudaVersion) -> DriverVersion | None:
    """The toolkit's own minimum driver (full support), or None when the table lacks the release.

    An update (12.4.1) uses its own entry when it has one, else the newest entry of that release
    at or below it.
    """
    cuda = cuda_version if isinstance(cuda_version, CudaVersion) else parse_cuda_version(cuda_version)
    same_release = [key for key in _toolkit_table() if key.release == cuda.release and key <= cuda]
    return _toolkit_table()[max(same_release)] if same_release else None


def _toolkit_table() -> dict[CudaVersion, DriverVersion]:
    table = load_table("cuda_drivers")["toolkit_minimum"]
    return {parse_cuda_version(key): parse_driver_version(value) for key, value in table.items()}


def major_floor(major: int) -> DriverVersion | None:
    """The oldest driver that runs any toolkit of a CUDA major (minor-version compatibility)."""
    floor = load_table("cuda_drivers")["major_floor"].get(major)
    return parse_driver_version(floor) if floor else None


def driver_supports_cuda(driver_version: str | DriverVersion, cuda_version: str | CudaVersion) -> CudaSupport:
    """Whether `driver_version` (e.g. "570.26", or a branch "580") runs CUDA `cuda_version`."""
    driver = driver_version if isinstance(driver_version, DriverVersion) else parse_driver_version(driver_version)
    cuda = cuda_version if isinstance(cuda_version, CudaVersion) else parse_cuda_version(cuda_version)
    minimum = minimum_driver_for_cuda(cuda)
    floor = major_floor(cuda.major)
    if minimum is not None and driver.at_least(minimum):
        return CudaSupport(True, f"driver {driver} fully supports CUDA {cuda} (needs >= {minimum})", "", FULL)
    if floor is None:
        return CudaSupport(
            False, f"CUDA {cuda.major}.x is not in provision's driver table",
            f"add CUDA {cuda.release} to provision/gpu/data/cuda_drivers.yaml", UNSUPPORTED,
        )
    wanted = minimum or floor
    upgrade = f"install driver >= {wanted} (branch {wanted.branch} or newer)"
    if driver.at_least(floor):
        known = f"CUDA {cuda} needs >= {minimum}" if minimum else f"CUDA {cuda} is not in the table"
        return CudaSupport(
            True,
            f"driver {driver} runs CUDA {cuda} under minor-version compatibility ({known}; "
            f"CUDA {cuda.major}.x runs on >= {floor}): no JIT of newer PTX, some newer APIs fail",
            f"for full support {upgrade}" if minimum else "",
            MINOR_COMPAT,
        )
    compat = f" (minor-version compatibility needs >= {floor})" if wanted != floor else ""
    return CudaSupport(False, f"driver {driver} is too old for CUDA {cuda}: it needs >= {wanted}{compat}", upgrade, UNSUPPORTED)


def newest_cuda_for_driver(driver_version: str | DriverVersion) -> CudaVersion | None:
    """The newest CUDA release in the table that the driver fully supports, or None."""
    driver = driver_version if isinstance(driver_version, DriverVersion) else parse_driver_version(driver_version)
    supported = [cuda for cuda, minimum in _toolkit_table().items() if driver.at_least(minimum)]
    return max(supported) if supported else None

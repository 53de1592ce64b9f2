"""GPU facts as data: PCI ids -> models, driver flavour, CUDA -> driver, arch coverage, supported OS.

Pure functions over the YAML tables in provision/gpu/data/ (each names its sources). Nothing here
touches a host: roles gather lspci output, versions and arch lists, and ask these functions.
"""
from provision.gpu.arch import ArchCoverage, arch_list_covers, parse_capability
from provision.gpu.branches import BranchSupport, branch_supports, minimum_branch
from provision.gpu.cuda import (
    CudaSupport,
    driver_supports_cuda,
    major_floor,
    minimum_driver_for_cuda,
    newest_cuda_for_driver,
)
from provision.gpu.driver_state import (
    LOADED_VERSION_COMMAND,
    installed_version_command,
    loaded_version_command,
    parse_installed_version,
    parse_nvrm_version,
    versions_match,
)
from provision.gpu.errors import FlavourConflict, GpuError, UnknownGpu, VersionFormatError
from provision.gpu.flavour import kernel_module_flavour
from provision.gpu.models import GpuModel, NvSwitchModel, all_gpu_models, gpu_model, nvswitch_model
from provision.gpu.os_support import OsSupport, supported_os
from provision.gpu.packages import DriverPackagePlan, driver_package_plan, upstream_version
from provision.gpu.pci import NvidiaInventory, PciDevice, parse_lspci
from provision.gpu.pytorch_images import arch_names, image_arch_list, image_cuda_version
from provision.gpu.versions import (
    CudaVersion,
    DriverVersion,
    driver_branch,
    driver_branch_version,
    parse_cuda_version,
    parse_driver_version,
)

__all__ = [
    "ArchCoverage", "CudaSupport", "CudaVersion", "DriverVersion", "FlavourConflict", "GpuError",
    "GpuModel", "NvSwitchModel", "NvidiaInventory", "OsSupport", "PciDevice", "UnknownGpu",
    "VersionFormatError", "all_gpu_models", "arch_list_covers", "driver_branch", "driver_branch_version",
    "driver_supports_cuda", "gpu_model", "kernel_module_flavour", "major_floor", "minimum_driver_for_cuda",
    "newest_cuda_for_driver", "nvswitch_model", "parse_capability", "parse_cuda_version",
    "parse_driver_version", "parse_lspci", "supported_os",
    # driver packages and the loaded/installed driver version
    "DriverPackagePlan", "LOADED_VERSION_COMMAND", "driver_package_plan", "installed_version_command",
    "loaded_version_command", "parse_installed_version", "parse_nvrm_version", "upstream_version",
    "versions_match",
    # driver branch vs GPU generation
    "BranchSupport", "branch_supports", "minimum_branch",
    # PyTorch image tags
    "arch_names", "image_arch_list", "image_cuda_version",
]

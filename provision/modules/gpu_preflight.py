"""gpu_preflight: what a GPU host is, and whether the plan for it can work. Read-only.

One round trip reads the host (NVIDIA PCI devices, kernel, Secure Boot, pending reboot, free space
where Docker keeps images, the installed and loaded driver as gpu_driver_facts reads them);
provision.gpu's tables then decide: the OS is supported, the kernel module flavour the GPUs need (and
that it is not a silent switch from the installed one), the branch drives every GPU (R580 is the last
for Pascal/Volta; new boards need a first branch), the branch runs the image's CUDA, and the image's
arch list (from its tag, until the pulled image is asked) covers every GPU. Secure Boot without
module signing and NVLink 5 boards are refused plainly. A plan that cannot work fails here, every
reason at once with its remedy, before anything is installed. It also hands the roles the package
names for this distribution x branch x flavour (`driver_packages`).

The easy thing to get wrong: this must run in check mode too (it only reads), or a nightly
`--check` would skip the facts every later `when:` depends on.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from provision.facts import split_sections
from provision.gpu.arch import arch_list_covers
from provision.gpu import branch_supports, image_arch_list, image_cuda_version
from provision.gpu.cuda import driver_supports_cuda
from provision.gpu.errors import GpuError, UnknownGpu
from provision.gpu.flavour import kernel_module_flavour
from provision.gpu.os_support import supported_os
from provision.gpu.pci import parse_lspci
from provision.gpu.versions import driver_branch_version
from provision.gpu.packages import driver_package_plan
from provision.modules.base import Arg, Module, ModuleFailed
from provision.modules.gpu_driver_facts import driver_state_script, parse_driver_state
from provision.shell import quote
from provision.transport.base import CommandResult

READ_SCRIPT = r"""
s() { printf '\n@@provision:%s@@\n' "$1"; }
s lspci; sh -c @LSPCI@ 2>&1; echo "rc=$?"
s kernel; uname -r; s arch; uname -m
s secure_boot; (mokutil --sb-state 2>/dev/null || echo unknown) | head -n 1
s reboot_required; [ -e /var/run/reboot-required ] && echo yes || echo no
s free_kb; dir=@DOCKER_ROOT@; while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done; df -Pk "$dir" | awk 'NR==2 {print $4}'
"""


class GpuPreflight(Module):
    name = "gpu_preflight"
    read_only = True
    spec = {
        "lspci_command": Arg("str", default="lspci -Dnn -d 10de:"),
        "driver_branch": Arg("str", default="580"),
        "driver_flavour": Arg("str", default="auto", choices=("auto", "open", "proprietary")),
        "image": Arg("str", default=""),
        "image_cuda_version": Arg("str", default=""),
        "image_arch_list": Arg("list", elements="str", default=[]),
        "docker_root": Arg("path", default="/var/lib/docker"),
        "min_free_gb": Arg("float", default=30.0),
        "require_gpu": Arg("bool", default=True),
        "allow_flavour_switch": Arg("bool", default=False,
                                    help="allow replacing the installed kernel module flavour with the other one"),
        "secure_boot_signing": Arg("bool", default=False,
                                   help="Secure Boot is on and DKMS signs the module with a MOK enrolled in the firmware"),
    }

    def read_command(self) -> str | None:
        script = READ_SCRIPT.replace("@LSPCI@", quote(self.args["lspci_command"])).replace(
            "@DOCKER_ROOT@", quote(self.args["docker_root"]))
        return script + driver_state_script([])

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        """The script's sections, the driver's state among them; a reply without its end fails."""
        sections = split_sections(result.stdout if result else "")
        if result is None or "end" not in sections:
            raise ModuleFailed(f"could not read the host (rc={result.rc if result else None}): "
                               f"{result.stderr.strip()[:300] if result else ''}")
        sections["driver_state"] = parse_driver_state(result.stdout, [])
        return sections

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        facts, problems = assess(current, self.args, self.context.facts)
        if problems:
            raise ModuleFailed("preflight refused this host: " + " | ".join(problems), facts)
        return facts


def assess(sections: dict[str, Any], args: dict[str, Any], host_facts: dict[str, Any]) -> tuple[dict, list[str]]:
    """The host's facts and every reason the plan cannot work (each with its remedy). Pure."""
    problems: list[str] = []
    distribution = host_facts.get("ansible_distribution", "")
    version = host_facts.get("ansible_distribution_version", "")
    os_support = supported_os(distribution, version)
    if not os_support.ok:
        problems.append(f"{os_support.reason} (remedy: reinstall the host with a supported OS)")
    lspci_text, _, lspci_rc = sections.get("lspci", "").rpartition("rc=")
    if lspci_rc.strip() not in ("0", "1"):  # lspci -d exits 1 when nothing matches on some versions
        problems.append(f"cannot list PCI devices: {lspci_text.strip()[:200]} (remedy: install pciutils)")
    inventory = parse_lspci(lspci_text)
    gpus = [{"address": gpu.address, "device_id": gpu.device_id, "model": gpu.model_name,
             "architecture": getattr(gpu.model, "architecture", None),
             "capability": getattr(gpu.model, "capability", None),
             "bf16_tflops": getattr(gpu.model, "bf16_tflops", None)} for gpu in inventory.gpus]
    if not gpus and args["require_gpu"]:
        problems.append("no NVIDIA GPU found by `" + args["lspci_command"] + "` (remedy: check the hardware, "
                        "or set preflight_require_gpu: false for a host without GPUs)")
    flavour = _flavour(inventory, gpus, args["driver_flavour"], problems)
    branch = args["driver_branch"]
    _check_branch(inventory, branch, problems)
    driver = sections.get("driver_state") or {}
    _check_flavour_switch(driver, flavour, args, problems)
    secure_boot = str(sections.get("secure_boot", "unknown")).strip()
    if "enabled" in secure_boot.lower() and not args["secure_boot_signing"]:
        problems.append(
            "Secure Boot is enabled: the firmware will refuse the DKMS-built nvidia module, which is signed by no "
            "key it trusts, and the host would come back from its reboot without a driver (remedy: enroll DKMS's "
            "MOK - `mokutil --import /var/lib/dkms/mok.pub`, confirm at the console on the next boot - then set "
            "nvidia_driver_secure_boot_signing: true; or disable Secure Boot in the firmware)")
    image = args["image"]
    cuda = args["image_cuda_version"] or (image_cuda_version(image) if image else None) or ""
    cuda_support = ""
    if cuda:
        try:
            support = driver_supports_cuda(driver_branch_version(branch), cuda)
        except GpuError as error:
            problems.append(f"{error}")
        else:
            cuda_support = support.mode
            if not support.ok:
                problems.append(f"the image {image} needs CUDA {cuda}: {support.reason} "
                                f"(remedy: {support.remedy}, e.g. nvidia_driver_branch)")
    arch_list = list(args["image_arch_list"]) or (image_arch_list(image) if image else None) or []
    coverage = []
    for gpu in gpus:
        if gpu["capability"] and arch_list:
            covered = arch_list_covers(arch_list, gpu["capability"])
            coverage.append({"gpu": gpu["address"], "ok": covered.ok, "reason": covered.reason})
            if not covered.ok:
                problems.append(f"{gpu['model']} at {gpu['address']}: {covered.reason}")
    free_kb = str(sections.get("free_kb", "")).strip()
    free_gb = int(free_kb) / 2**20 if free_kb.isdigit() else None
    if free_gb is not None and free_gb < args["min_free_gb"]:
        problems.append(f"only {free_gb:.1f} GiB free under {args['docker_root']}, the image needs "
                        f"{args['min_free_gb']:g} GiB (remedy: free space or set docker data-root elsewhere)")
    packages = {}
    if os_support.ok and os_support.family == "debian":
        try:
            packages = asdict(driver_package_plan(os_support.cuda_repo, branch, flavour))
        except GpuError as error:
            problems.append(str(error))
    peaks = [gpu["bf16_tflops"] for gpu in gpus if gpu["bf16_tflops"]]
    facts = {
        "os": f"{distribution} {version}".strip(), "os_family": os_support.family, "cuda_repo": os_support.cuda_repo,
        "kernel": sections.get("kernel", ""), "arch": sections.get("arch", ""),
        "gpus": gpus, "gpu_count": len(gpus), "nvswitch_count": len(inventory.nvswitches),
        "nvswitches": [switch.address for switch in inventory.nvswitches],
        "flavour": flavour, "driver_packages": packages,
        "secure_boot": secure_boot,
        "reboot_pending": sections.get("reboot_required") == "yes",
        "docker_free_gb": round(free_gb, 1) if free_gb is not None else None,
        "installed_driver": driver.get("installed", ""),
        "installed_flavour": driver.get("installed_flavour", ""),
        "loaded_driver": driver.get("loaded", ""),
        "peak_bf16_tflops": min(peaks) if peaks else 0,
        "image_cuda_version": cuda, "image_arch_list": arch_list,
        "arch_coverage": coverage,
        "cuda_support": cuda_support,
        "problems": problems,
    }
    return facts, problems


def _flavour(inventory, gpus: list[dict], wanted: str, problems: list[str]) -> str:
    """The flavour to install: the GPUs' own need, or the user's choice where it can serve them.

    An unknown GPU (a board newer than the table) is fine when the user names the flavour."""
    try:
        needed = kernel_module_flavour(inventory.gpus) if gpus else None
    except UnknownGpu as error:
        needed = None
        if wanted == "auto":
            problems.append(f"{error} (remedy: see the GPU table in provision/gpu/data/gpus.yaml)")
    except GpuError as error:
        needed = None
        problems.append(f"{error} (remedy: see the GPU table in provision/gpu/data/gpus.yaml)")
    if wanted == "auto":
        return needed or "open"
    if needed == "open" and wanted == "proprietary" and any(g["architecture"] == "Blackwell" for g in gpus):
        problems.append("Blackwell GPUs need the open kernel modules (remedy: nvidia_driver_flavour: open or auto)")
    elif needed == "proprietary" and wanted == "open":
        problems.append("Pascal/Volta GPUs need the proprietary kernel modules "
                        "(remedy: nvidia_driver_flavour: proprietary or auto)")
    return wanted


def _check_branch(inventory, branch: str, problems: list[str]) -> None:
    """Each known GPU runs on the branch (R580 is the last for Pascal/Volta; new boards need a minimum),
    and NVLink 5 boards, whose fabric provision cannot bring up yet, are refused plainly."""
    seen = set()
    for gpu in inventory.gpus:
        model = gpu.model
        if model is None or model.device_id in seen:
            continue
        seen.add(model.device_id)
        ok, reason = branch_supports(model, branch)
        if not ok:
            problems.append(f"{model.name}: {reason}")
        if getattr(model, "fabric", None) == "nvlink5":
            problems.append(
                f"{model.name}: an NVLink 5 board (HGX/DGX B200/B300, GB200/GB300) needs NVIDIA's NVLink subnet "
                "manager (nvlsm) next to fabric manager, and its NVSwitches are InfiniBand devices, not the PCI "
                "bridges provision detects: provision cannot bring its fabric up yet (remedy: install the fabric "
                "stack by hand following NVIDIA's fabric manager guide, then run the roles with "
                "nvidia_fabricmanager_enabled: false)")


def _check_flavour_switch(driver: dict, flavour: str, args: dict[str, Any], problems: list[str]) -> None:
    """A host that has one kernel module flavour never gets the other one implicitly: apt would remove
    the installed module to satisfy the new one, and a Blackwell host left on proprietary sees no GPU."""
    installed = driver.get("installed_flavour", "")
    if not installed or installed == flavour or args["allow_flavour_switch"]:
        return
    modules = ", ".join(f"{module['name']} {module['version']}" for module in driver.get("kernel_modules", []))
    problems.append(
        f"this host has the {installed} kernel modules installed ({modules}) and the plan wants the {flavour} "
        f"ones: a flavour switch is never implicit (remedy: nvidia_driver_flavour: {installed} to keep them, or "
        "nvidia_driver_allow_flavour_switch: true to replace them; the switch reinstalls the driver and reboots)")

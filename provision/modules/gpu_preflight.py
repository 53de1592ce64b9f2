"""gpu_preflight: what a GPU host is, and whether the plan for it can work. Read-only.

One round trip reads the host (NVIDIA PCI devices, kernel, Secure Boot, pending reboot, free space
where Docker keeps images, the installed and loaded driver); provision.gpu's tables then decide:
the OS is supported, the kernel module flavour the GPUs need, the driver branch runs the image's
CUDA, and the image's arch list covers every GPU. A plan that cannot work fails here, every reason
at once with its remedy, before anything is installed.

The easy thing to get wrong: this must run in check mode too (it only reads), or a nightly
`--check` would skip the facts every later `when:` depends on.
"""
from __future__ import annotations

from typing import Any

from provision.facts import split_sections
from provision.gpu.arch import arch_list_covers
from provision.gpu.cuda import driver_supports_cuda
from provision.gpu.errors import GpuError
from provision.gpu.flavour import kernel_module_flavour
from provision.gpu.os_support import supported_os
from provision.gpu.pci import parse_lspci
from provision.gpu.versions import driver_branch_version
from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import quote

READ_SCRIPT = r"""
s() { printf '\n@@provision:%s@@\n' "$1"; }
s lspci; sh -c @LSPCI@ 2>&1; echo "rc=$?"
s kernel; uname -r; s arch; uname -m
s secure_boot; (mokutil --sb-state 2>/dev/null || echo unknown) | head -n 1
s reboot_required; [ -e /var/run/reboot-required ] && echo yes || echo no
s free_kb; dir=@DOCKER_ROOT@; while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done; df -Pk "$dir" | awk 'NR==2 {print $4}'
s loaded; sed -n 's/.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' /proc/driver/nvidia/version 2>/dev/null
s installed; dpkg-query -W -f='${Version}' nvidia-driver 2>/dev/null || rpm -q --qf '%{VERSION}' nvidia-driver 2>/dev/null || true
s end
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
    }

    def read(self) -> dict[str, Any]:
        script = READ_SCRIPT.replace("@LSPCI@", quote(self.args["lspci_command"])).replace(
            "@DOCKER_ROOT@", quote(self.args["docker_root"]))
        result = self.context.run(script)
        sections = split_sections(result.stdout)
        if "end" not in sections:
            raise ModuleFailed(f"could not read the host (rc={result.rc}): {result.stderr.strip()[:300]}")
        return sections

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        facts, problems = assess(current, self.args, self.context.facts)
        if problems:
            raise ModuleFailed("preflight refused this host: " + " | ".join(problems), facts)
        return facts


def assess(sections: dict[str, str], args: dict[str, Any], host_facts: dict[str, Any]) -> tuple[dict, list[str]]:
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
    flavour = args["driver_flavour"]
    if not gpus and args["require_gpu"]:
        problems.append("no NVIDIA GPU found by `" + args["lspci_command"] + "` (remedy: check the hardware, "
                        "or set preflight_require_gpu: false for a host without GPUs)")
    if gpus:
        try:
            needed = kernel_module_flavour(inventory.gpus)
        except GpuError as error:
            needed = None
            problems.append(f"{error} (remedy: see the GPU table in provision/gpu/data/gpus.yaml)")
        if flavour == "auto":
            flavour = needed or "open"
        elif needed == "open" and flavour == "proprietary" and any(g["architecture"] == "Blackwell" for g in gpus):
            problems.append("Blackwell GPUs need the open kernel modules (remedy: nvidia_driver_flavour: open or auto)")
        elif needed == "proprietary" and flavour == "open":
            problems.append("Pascal/Volta GPUs need the proprietary kernel modules "
                            "(remedy: nvidia_driver_flavour: proprietary or auto)")
    cuda = args["image_cuda_version"]
    cuda_support = ""
    if cuda:
        try:
            support = driver_supports_cuda(driver_branch_version(args["driver_branch"]), cuda)
        except GpuError as error:
            problems.append(f"{error}")
        else:
            cuda_support = support.mode
            if not support.ok:
                problems.append(f"the image {args['image'] or ''} needs CUDA {cuda}: {support.reason} "
                                f"(remedy: {support.remedy}, e.g. nvidia_driver_branch)")
    coverage = []
    for gpu in gpus:
        if gpu["capability"] and args["image_arch_list"]:
            covered = arch_list_covers(args["image_arch_list"], gpu["capability"])
            coverage.append({"gpu": gpu["address"], "ok": covered.ok, "reason": covered.reason})
            if not covered.ok:
                problems.append(f"{gpu['model']} at {gpu['address']}: {covered.reason}")
    free_kb = sections.get("free_kb", "").strip()
    free_gb = int(free_kb) / 2**20 if free_kb.isdigit() else None
    if free_gb is not None and free_gb < args["min_free_gb"]:
        problems.append(f"only {free_gb:.1f} GiB free under {args['docker_root']}, the image needs "
                        f"{args['min_free_gb']:g} GiB (remedy: free space or set docker data-root elsewhere)")
    peaks = [gpu["bf16_tflops"] for gpu in gpus if gpu["bf16_tflops"]]
    facts = {
        "os": f"{distribution} {version}".strip(), "os_family": os_support.family, "cuda_repo": os_support.cuda_repo,
        "kernel": sections.get("kernel", ""), "arch": sections.get("arch", ""),
        "gpus": gpus, "gpu_count": len(gpus), "nvswitch_count": len(inventory.nvswitches),
        "nvswitches": [switch.address for switch in inventory.nvswitches],
        "flavour": flavour if flavour != "auto" else "open",
        "secure_boot": sections.get("secure_boot", "unknown"),
        "reboot_pending": sections.get("reboot_required") == "yes",
        "docker_free_gb": round(free_gb, 1) if free_gb is not None else None,
        "installed_driver": sections.get("installed", "").split("-")[0],
        "loaded_driver": sections.get("loaded", ""),
        "peak_bf16_tflops": min(peaks) if peaks else 0,
        "arch_coverage": coverage,
        "cuda_support": cuda_support,
        "problems": problems,
    }
    return facts, problems

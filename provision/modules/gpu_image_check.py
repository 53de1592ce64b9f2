"""gpu_image_check: does the pulled PyTorch image run on this host's GPUs and driver? Reads nothing.

Preflight judged the image before anything was installed, from a table keyed by the image's tag
(provision/gpu/data/pytorch_arch.yaml). After the pull the truth is in the image itself: torch
reports the CUDA it was built with and the architectures it carries (`torch._C._cuda_getArchFlags()`,
which needs no GPU). This module judges those figures against the GPUs preflight found and the
installed driver, every reason at once.

The easy thing to get wrong: a CPU build of torch reports no CUDA and no arch list. On a host that
needs GPUs that is a failure ("this image cannot use the GPUs"), never an empty list that "covers
nothing, so nothing fails".
"""
from __future__ import annotations

from typing import Any

from provision.gpu.arch import arch_list_covers
from provision.gpu.cuda import driver_supports_cuda
from provision.gpu.errors import GpuError
from provision.modules.base import Arg, Module, ModuleFailed


class GpuImageCheck(Module):
    name = "gpu_image_check"
    read_only = True
    spec = {
        "image": Arg("str", required=True),
        "torch_version": Arg("str", default=""),
        "cuda_version": Arg("str", default="", help="torch.version.cuda of the image; empty for a CPU build"),
        "arch_list": Arg("list", elements="str", default=[], help="what the image's torch was compiled for"),
        "gpus": Arg("list", default=[], help="gpu_preflight.gpus: address, model, capability of each GPU"),
        "driver_version": Arg("str", default="", help="the installed driver (580.95.05)"),
        "require_gpu": Arg("bool", default=True),
    }

    def result_data(self, current: Any, plan: Any) -> dict[str, Any]:
        checked = judge_image(self.args)
        if checked["problems"]:
            raise ModuleFailed(f"{self.args['image']}: " + " | ".join(checked["problems"]), checked)
        return checked


def judge_image(args: dict[str, Any]) -> dict[str, Any]:
    """{arch_list, cuda_version, coverage, cuda_support, problems, note} for the image (pure)."""
    problems: list[str] = []
    coverage = []
    cuda, arch_list = args["cuda_version"], list(args["arch_list"] or [])
    gpus = [gpu for gpu in args["gpus"] or [] if isinstance(gpu, dict)]
    note = ""
    if not cuda:
        if args["require_gpu"] and gpus:
            problems.append(f"its torch {args['torch_version']} is a CPU build (torch.version.cuda is None): "
                            "it cannot use this host's GPUs (remedy: a pytorch/pytorch ...-cudaX.Y-... image)")
        note = "CPU build of torch: no CUDA, no arch list; GPU checks do not apply"
    else:
        if not arch_list:
            problems.append(f"its torch {args['torch_version']} (CUDA {cuda}) reports no compiled architectures")
        for gpu in gpus:
            if not gpu.get("capability") or not arch_list:
                continue
            covered = arch_list_covers(arch_list, str(gpu["capability"]))
            coverage.append({"gpu": gpu.get("address"), "ok": covered.ok, "reason": covered.reason})
            if not covered.ok:
                problems.append(f"{gpu.get('model')} at {gpu.get('address')}: {covered.reason}")
    support_mode = ""
    if cuda and args["driver_version"]:
        try:
            support = driver_supports_cuda(args["driver_version"], cuda)
        except GpuError as error:
            problems.append(str(error))
        else:
            support_mode = support.mode
            if not support.ok:
                problems.append(f"it needs CUDA {cuda}: {support.reason} (remedy: {support.remedy})")
    return {"image": args["image"], "torch_version": args["torch_version"], "cuda_version": cuda,
            "arch_list": arch_list, "coverage": coverage, "cuda_support": support_mode, "problems": problems,
            "note": note}

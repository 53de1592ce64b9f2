"""Which GPU architectures a PyTorch image carries, read from its tag before it is pulled.

`pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime` is torch 2.8 built for CUDA 12.8, whose arch list is
in data/pytorch_arch.yaml (from PyTorch's build script). The easy thing to get wrong: a newer CUDA
tag does not mean "more GPUs". cu128 dropped sm_50/sm_60 (P100/P40 fail with "no kernel image"),
cu126 has no sm_100/sm_120 (B200, RTX 50 fail). Unknown tags answer None, never a guess; the pulled
image's torch.cuda.get_arch_list() is the truth.
"""
from __future__ import annotations

import re

from provision.gpu.tables import load_table

# [registry/]pytorch/pytorch:<torch>-cuda<X.Y>-cudnn<N>-<runtime|devel>
_PYTORCH_TAG = re.compile(
    r"^(?:[\w.-]+(?::\d+)?/)?pytorch/pytorch:(\d+)\.(\d+)(?:\.\d+)?-cuda(\d+)\.(\d+)(?:\.\d+)?-cudnn\d+-(?:runtime|devel)$")
# Any other tag that names its CUDA: "...:12.8.1-cudnn-runtime-ubuntu22.04" (nvidia/cuda) or "...-cuda12.8-...".
_CUDA_IN_TAG = re.compile(r"(?:^|[-_])cuda-?(\d+\.\d+(?:\.\d+)?)(?:$|[-_])")
_NVIDIA_CUDA_TAG = re.compile(r"^(\d+\.\d+(?:\.\d+)?)-")


def image_arch_list(image: str) -> list[str] | None:
    """The arch list of a pytorch/pytorch image tag, in torch.cuda.get_arch_list() spelling
    (["sm_70", ..., "sm_120", "compute_120"]), or None when the tag or its torch x CUDA is unknown."""
    match = _PYTORCH_TAG.match(image.strip())
    if not match:
        return None
    torch_major, torch_minor, cuda_major, cuda_minor = match.groups()
    builds = load_table("pytorch_arch")["torch"].get(f"{torch_major}.{torch_minor}", {})
    arch_list = builds.get(f"cu{cuda_major}{cuda_minor}")
    return arch_names(arch_list) if arch_list else None


def image_cuda_version(image: str) -> str | None:
    """The CUDA version an image tag names ("12.8" for pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime,
    "12.8.1" for nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04), or None."""
    tag = _tag(image)
    if tag is None:
        return None
    pytorch = _PYTORCH_TAG.match(image.strip())
    if pytorch:
        return f"{pytorch.group(3)}.{pytorch.group(4)}"
    named = _CUDA_IN_TAG.search(tag)
    if named:
        return named.group(1)
    repository = image.strip().rsplit(":", 1)[0]
    if repository.endswith("nvidia/cuda"):
        plain = _NVIDIA_CUDA_TAG.match(tag)
        return plain.group(1) if plain else None
    return None


def arch_names(torch_cuda_arch_list: str) -> list[str]:
    """"7.0;9.0;12.0+PTX" -> ["sm_70", "sm_90", "sm_120", "compute_120"] (get_arch_list() order)."""
    names: list[str] = []
    for item in torch_cuda_arch_list.replace(" ", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        capability, _, suffix = item.partition("+")
        digits = capability.replace(".", "")
        names.append(f"sm_{digits}")
        if suffix.upper() == "PTX":
            names.append(f"compute_{digits}")
    return names


def _tag(image: str) -> str | None:
    text = image.strip()
    last = text.rsplit("/", 1)[-1]
    if ":" not in last or "@" in last:
        return None
    return last.rsplit(":", 1)[1]

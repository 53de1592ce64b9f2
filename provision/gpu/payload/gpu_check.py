#!/usr/bin/env python3
"""Verify a PyTorch-CUDA environment from inside it and print one JSON document.

Sent into the image and run as `python gpu_check.py --json [options]`, so it uses the standard
library and torch only and never imports provision. Each check reports pass, fail or skip, with a
detail, a remedy for anything but pass, the measured value and the floor it was held to.

Without a usable CUDA device (CPU build of torch, or no GPU visible) the script runs in CPU mode:
every GPU check is skipped with the reason, the checks that need no GPU still run, and the exit code
is 0 unless one of those failed. `--require-gpu` turns "no CUDA" into a failure. Exit code: 0 when
every check passed or was skipped, 1 when any failed, 2 for bad arguments.

Two depths: `--depth full` (the default) runs every check, the timed benchmarks too; `--depth quick`
is a health check of seconds (devices against --expect-gpus, arch coverage, a small matmul checked
for correctness, an NCCL process group with one small all-reduce) and times nothing. The report says
its `depth` and lists the checks it left out in `not_run`: they were not tried, so they are neither
passes nor skips.

The easy thing to get wrong: a skipped GPU check is not a pass. It says the host could not be
tested, and the JSON keeps the two apart so a caller can require a GPU where one should be. So
with `--require-gpu` a check whose floor is unknown (a GPU missing from provision's datasheet
table, no PCIe link in sysfs) fails with the reason; only without it does it stay a skip.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = "provision.gpu_verify"
SCHEMA_VERSION = 1
PASS, FAIL, SKIP = "pass", "fail", "skip"
GPU_REMEDY = "run on a host with an NVIDIA GPU and start the container with --gpus all"


@dataclass
class Check:
    """One check's outcome, as it appears in the JSON document."""

    name: str
    status: str
    detail: str
    remedy: str = ""
    value: Any = None
    floor: Any = None


def passed(name: str, detail: str, value: Any = None, remedy: str = "", floor: Any = None) -> Check:
    return Check(name, PASS, detail, remedy, value, floor)


def failed(name: str, detail: str, remedy: str, value: Any = None, floor: Any = None) -> Check:
    return Check(name, FAIL, detail, remedy, value, floor)


def skipped(name: str, detail: str, remedy: str, value: Any = None, floor: Any = None) -> Check:
    return Check(name, SKIP, detail, remedy, value, floor)


def unknown_floor(name: str, detail: str, remedy: str, require_gpu: bool, value: Any = None) -> Check:
    """A measurement with nothing to hold it to: a failure on a GPU host (--require-gpu), else a skip."""
    if require_gpu:
        return failed(name, detail + " (--require-gpu: an unknown floor is not a pass)", remedy, value)
    return skipped(name, detail, remedy, value)


def at_least(name: str, what: str, measured: float, floor: float, unit: str, remedy: str, value: Any = None) -> Check:
    """The common shape: `what` measured against its floor."""
    value = round(measured, 2) if value is None else value
    if measured >= floor:
        return passed(name, f"{what} {measured:.1f} {unit} (floor {floor:.1f})", value, floor=round(floor, 2))
    return failed(name, f"{what} {measured:.1f} {unit}, below the floor {floor:.1f}", remedy, value, round(floor, 2))


# --- pure decisions: plain values in, a Check out (unit-tested without a GPU) -------------------


def no_cuda_reason(torch_cuda: str | None) -> str:
    """Why CUDA is unavailable, in the words the GPU checks' skips use."""
    if torch_cuda is None:
        return "no CUDA device: CPU build of torch (torch.version.cuda is None)"
    return f"no CUDA device: torch is built for CUDA {torch_cuda} but sees no GPU (no driver, or no --gpus)"


def check_cuda_available(available: bool, torch_cuda: str | None, require_gpu: bool) -> Check:
    if available:
        return passed("cuda_available", f"torch.cuda.is_available() with CUDA {torch_cuda}", True)
    remedy = "install a CUDA build of torch" if torch_cuda is None else GPU_REMEDY
    if require_gpu:
        return failed("cuda_available", no_cuda_reason(torch_cuda) + " (--require-gpu)", remedy, False)
    return skipped("cuda_available", no_cuda_reason(torch_cuda), remedy, False)


def check_device_count(count: int, expected: int | None) -> Check:
    if expected is None:
        return skipped("device_count", f"{count} GPU(s) visible; no --expect-gpus given",
                       "pass --expect-gpus with the number lspci shows", count)
    if count == expected:
        return passed("device_count", f"{count} GPU(s) visible, as expected", count, floor=expected)
    return failed("device_count", f"{count} GPU(s) visible, {expected} expected from lspci",
                  "check nvidia-smi on the host, CUDA_VISIBLE_DEVICES and the container's --gpus", count, expected)


def parse_arch_entry(text: str) -> tuple[str, tuple[int, int], str]:
    """"sm_86" -> ("sm", (8, 6), ""); "compute_90a" -> ("compute", (9, 0), "a")."""
    match = re.match(r"^(sm|compute)_(\d+)([af]?)$", text.strip().lower())
    if not match:
        raise ValueError(f"cannot read arch list entry {text!r}")
    digits = match.group(2)
    return match.group(1), (int(digits[:-1]), int(digits[-1])), match.group(3)


def arch_covers(arch_list: list[str], capability: tuple[int, int]) -> tuple[bool, str]:
    """SASS (sm_XY) runs on the same major with minor >= Y; PTX (compute_XY) on any capability
    >= X.Y; "a" variants only on exactly X.Y, "f" variants on the same major from Y up.
    Keep in step with provision/gpu/arch.py, which the preflight role uses before anything runs."""
    runs = []
    for text in arch_list:
        kind, arch, variant = parse_arch_entry(text)
        if variant == "a":
            fits = capability == arch
        elif kind == "sm" or variant == "f":
            fits = capability[0] == arch[0] and capability[1] >= arch[1]
        else:
            fits = capability >= arch
        if fits:
            runs.append((kind == "sm", arch, text))
    if not runs:
        return False, "no SASS of its major at or below it and no PTX at or below it"
    is_sass, _, text = max(runs)
    return True, f"{text} {'machine code' if is_sass else 'PTX (JIT at first use)'}"


def check_arch_coverage(arch_list: list[str], devices: list[dict]) -> Check:
    """`devices` hold index, name and capability (major, minor)."""
    found, missing = [], []
    for device in devices:
        capability = tuple(device["capability"])
        ok, how = arch_covers(arch_list, capability)
        line = f"GPU {device['index']} {device['name']} ({capability[0]}.{capability[1]}): {how}"
        (found if ok else missing).append(line)
    value = {"arch_list": arch_list}
    if missing:
        return failed("arch_coverage", "; ".join(missing) + f" in [{' '.join(arch_list)}]",
                      "use a PyTorch build (image tag) whose arch list covers these GPUs", value)
    return passed("arch_coverage", "; ".join(found), value)


def version_tuple(text: str) -> tuple[int, ...]:
    """"580.65.06" -> (580, 65, 6): parts compare as numbers, so 580.65.06 > 580.9."""
    return tuple(int(part) for part in text.strip().split("."))


def check_cuda_driver(torch_cuda: str, driver_cuda: tuple[int, int] | None,
                      driver_version: str | None, min_driver: str | None) -> Check:
    """torch's CUDA runtime against the driver: full support, minor-version compatibility, or fail.

    `driver_cuda` is the newest CUDA the driver supports (cudaDriverGetVersion); `min_driver` is the
    toolkit's minimum from provision's table when the caller passes it.
    """
    runtime = tuple(int(part) for part in torch_cuda.split(".")[:2])
    value = {"torch_cuda": torch_cuda, "driver": driver_version,
             "driver_cuda": f"{driver_cuda[0]}.{driver_cuda[1]}" if driver_cuda else None}
    if min_driver and driver_version:
        if version_tuple(driver_version) >= version_tuple(min_driver):
            return passed("cuda_driver", f"driver {driver_version} >= {min_driver}: full support for CUDA {torch_cuda}", value)
        if driver_cuda and driver_cuda[0] == runtime[0]:
            return passed("cuda_driver", f"driver {driver_version} < {min_driver}: CUDA {torch_cuda} runs "
                          "under minor-version compatibility", value, f"install driver >= {min_driver} for full support")
        return failed("cuda_driver", f"driver {driver_version} is too old for CUDA {torch_cuda} (needs >= {min_driver})",
                      f"install driver >= {min_driver}", value)
    if driver_cuda is None:
        return skipped("cuda_driver", "the driver's CUDA version could not be read",
                       "pass --driver-version and --min-driver", value)
    shown = f"driver {driver_version or ''} supports CUDA {value['driver_cuda']}".replace("  ", " ")
    if driver_cuda >= runtime:
        return passed("cuda_driver", f"{shown} >= torch's CUDA {torch_cuda}: full support", value)
    if driver_cuda[0] == runtime[0]:
        return passed("cuda_driver", f"{shown} < torch's CUDA {torch_cuda}: minor-version compatibility",
                      value, f"upgrade the driver to one supporting CUDA {torch_cuda} for full support")
    return failed("cuda_driver", f"{shown}, torch needs CUDA {torch_cuda}",
                  f"install a driver branch that supports CUDA {torch_cuda}, or use an image built for CUDA {value['driver_cuda']}", value)


def format_cudnn(version: int) -> str:
    """torch.backends.cudnn.version(): 90100 -> "9.1.0" (cuDNN 9+), 8902 -> "8.9.2" (cuDNN 8)."""
    if version >= 10000:
        return f"{version // 10000}.{version % 10000 // 100}.{version % 100}"
    return f"{version // 1000}.{version % 1000 // 100}.{version % 100}"


def check_cudnn(version: int | None) -> Check:
    if not version:
        return failed("cudnn_version", "cuDNN is not available to torch", "use an image with cuDNN (a -cudnn tag)")
    return passed("cudnn_version", f"cuDNN {format_cudnn(version)}", format_cudnn(version))


def check_nccl(version: tuple | int | None) -> Check:
    if not version:
        return failed("nccl_version", "NCCL is not available to torch", "use a torch build with NCCL (the official CUDA builds)")
    shown = ".".join(str(part) for part in version) if isinstance(version, tuple) else str(version)
    return passed("nccl_version", f"NCCL {shown}", shown)


def check_bf16(devices: list[dict]) -> Check:
    """`devices` hold index, name, capability and `works` (a bf16 matmul ran) for CC >= 8.0."""
    capable = [device for device in devices if tuple(device["capability"]) >= (8, 0)]
    if not capable:
        return skipped("bf16_support", "no GPU with compute capability >= 8.0: no bf16 tensor cores",
                       "train in fp16 or fp32 on these GPUs")
    broken = [f"GPU {device['index']} {device['name']}" for device in capable if not device["works"]]
    if broken:
        return failed("bf16_support", "bf16 matmul failed on " + ", ".join(broken),
                      "check the driver and torch build; bf16 needs CUDA 11+ and CC >= 8.0")
    return passed("bf16_support", f"bf16 works on {len(capable)} GPU(s) with CC >= 8.0", len(capable))


def check_matmul(name: str, where: str, error: float, tolerance: float) -> Check:
    value = {"relative_error": error, "tolerance": tolerance}
    if error <= tolerance:
        return passed(name, f"matmul on {where} matches the reference (relative error {error:.2e})", value)
    return failed(name, f"matmul on {where} is off by {error:.2e} (tolerance {tolerance:.0e})",
                  "suspect the GPU or its memory: run nvidia-smi -q for Xid/ECC errors and dcgmi diag", value)


def check_shm(size_bytes: int | None, min_gb: float) -> Check:
    if size_bytes is None:
        return skipped("shm_size", "/dev/shm does not exist here", "run inside a Linux container")
    size_gb = size_bytes / 2**30
    if size_gb >= min_gb:
        return passed("shm_size", f"/dev/shm is {size_gb:.2f} GiB (>= {min_gb})", round(size_gb, 3), floor=min_gb)
    return failed("shm_size", f"/dev/shm is {size_gb:.2f} GiB, below {min_gb} GiB (DataLoader workers and NCCL need it)",
                  "start the container with --ipc=host or a larger --shm-size", round(size_gb, 3), min_gb)


def check_tflops_vs_peak(measured: float, peak: float | None, fraction: float, require_gpu: bool = False) -> Check:
    value = {"tflops": round(measured, 1), "peak": peak, "fraction": fraction}
    if peak is None:
        return unknown_floor("bf16_tflops_vs_peak", f"bf16 matmul {measured:.1f} TFLOPS; no datasheet peak for this GPU",
                             "set gpu_verify_peak_tflops (--peak-tflops), e.g. from a healthy host of the same model",
                             require_gpu, value)
    floor = round(fraction * peak, 1)
    if measured >= fraction * peak:
        return passed("bf16_tflops_vs_peak", f"bf16 matmul {measured:.1f} TFLOPS >= {fraction:.0%} of the {peak} peak",
                      value, floor=floor)
    return failed("bf16_tflops_vs_peak", f"bf16 matmul {measured:.1f} TFLOPS < {fraction:.0%} of the {peak} peak ({floor})",
                  "check clocks and power (nvidia-smi -q -d PERFORMANCE,POWER), thermals and other GPU processes",
                  value, floor)


def check_tflops_vs_baseline(measured: float, baseline: float | None, drop: float) -> Check:
    value = {"tflops": round(measured, 1), "baseline": baseline, "threshold": drop}
    if baseline is None:
        return skipped("bf16_tflops_vs_baseline", f"bf16 matmul {measured:.1f} TFLOPS; no --baseline-tflops recorded yet",
                       "record this value as the host's baseline", value)
    floor = round(drop * baseline, 1)
    if measured >= drop * baseline:
        return passed("bf16_tflops_vs_baseline", f"bf16 matmul {measured:.1f} TFLOPS >= {drop:.0%} of the host's {baseline} baseline",
                      value, floor=floor)
    return failed("bf16_tflops_vs_baseline", f"bf16 matmul {measured:.1f} TFLOPS fell below {drop:.0%} of the host's {baseline} baseline ({floor})",
                  "compare driver, clocks and power limits with the runs that set the baseline", value, floor)


def worst(per_device: list[dict]) -> dict:
    """The device furthest below (or least above) its floor; one without a floor counts as worst."""
    return min(per_device, key=lambda entry: entry["measured"] / entry["floor"] if entry.get("floor") else -1.0)


def check_h2d(per_device: list[dict], require_gpu: bool = False) -> Check:
    """`per_device`: index, measured GB/s, floor GB/s (None when the PCIe link is unknown), how."""
    entry = worst(per_device)
    what = f"pinned host->device copy on GPU {entry['index']}"
    if not entry.get("floor"):
        return unknown_floor("h2d_bandwidth", f"{what} {entry['measured']:.1f} GB/s; no floor: the PCIe link could not "
                             "be read from sysfs", "pass --min-h2d-gbps (gpu_verify_min_h2d_gbps)", require_gpu,
                             round(entry["measured"], 2))
    return at_least("h2d_bandwidth", f"{what} ({entry.get('how', 'explicit floor')})", entry["measured"], entry["floor"],
                    "GB/s", "check the PCIe link (lspci -vv LnkSta: speed and width), the slot and NUMA placement")


def check_allreduce(count: int, busbw: float | None, error: str | None, minimum: float | None,
                    require_gpu: bool = False) -> Check:
    if count < 2:
        return skipped("nccl_allreduce", f"{count} GPU: no all-reduce on a single-GPU host", "nothing to do")
    if error is not None:
        return failed("nccl_allreduce", f"NCCL all-reduce over {count} GPUs failed: {error}",
                      "run with NCCL_DEBUG=INFO; check fabric manager on NVSwitch hosts and --ipc=host", floor=minimum)
    if not minimum:
        return unknown_floor("nccl_allreduce", f"all-reduce bus bandwidth {busbw:.1f} GB/s over {count} GPUs; no floor given",
                             "pass --min-busbw-gbps (the role sets it from the topology)", require_gpu, round(busbw, 2))
    return at_least("nccl_allreduce", f"all-reduce bus bandwidth over {count} GPUs", busbw, minimum, "GB/s",
                    "check NVLink (nvidia-smi nvlink -s), fabric manager and topology (nvidia-smi topo -m)")


def check_nccl_init(count: int, result: dict | None, error: str | None) -> Check:
    """The quick depth's NCCL check: a process group over every GPU and one small all-reduce whose
    sum must be exact; untimed, so it proves NCCL works, not how fast. `result`: sum and seconds."""
    if count < 2:
        return skipped("nccl_init", f"{count} GPU: no process group to form on a single-GPU host", "nothing to do")
    remedy = "run with NCCL_DEBUG=INFO; check fabric manager on NVSwitch hosts, --ipc=host and nvidia-smi topo -m"
    if error is not None:
        return failed("nccl_init", f"NCCL process group over {count} GPUs failed: {error}", remedy)
    expected = float(count * (count + 1) // 2)  # rank r contributes r + 1
    value = {"sum": result["sum"], "seconds": round(result["seconds"], 2)}
    if result["sum"] != expected:
        return failed("nccl_init", f"NCCL all-reduce over {count} GPUs gave {result['sum']}, not {expected}",
                      "suspect NVLink or GPU memory: run dcgmi diag and check dmesg for Xid", value, expected)
    return passed("nccl_init", f"NCCL process group over {count} GPUs formed and a small all-reduce is exact "
                  f"({result['seconds']:.1f} s, untimed: quick depth)", value, floor=expected)


def check_hbm(per_device: list[dict], peak_gbps: float | None, fraction: float, require_gpu: bool = False) -> Check:
    """`per_device`: index and measured GB/s of a device-to-device copy (bytes read + written)."""
    entry = min(per_device, key=lambda item: item["measured"])
    what = f"device-to-device copy on GPU {entry['index']}"
    if not peak_gbps:
        return unknown_floor("hbm_bandwidth", f"{what} {entry['measured']:.0f} GB/s; no datasheet memory bandwidth "
                             "for this GPU", "set gpu_verify_hbm_peak_gbps (--hbm-peak-gbps)", require_gpu,
                             round(entry["measured"], 1))
    return at_least("hbm_bandwidth", f"{what} ({fraction:.0%} of the {peak_gbps:g} GB/s datasheet)",
                    entry["measured"], fraction * peak_gbps, "GB/s",
                    "check memory clocks and ECC/row-remap state (nvidia-smi -q -d MEMORY,CLOCK,ROW_REMAPPER)")


def check_pcie_link(links: list[dict], require_gpu: bool = False) -> Check:
    """`links`: index and the link read under load (gen, width) against its maximum (max_gen,
    max_width: the lower of the GPU's and its upstream port's), or None where sysfs lacks it."""
    unread = [f"GPU {link['index']}" for link in links if link.get("gen") is None]
    shown = {f"GPU {link['index']}": f"Gen{link['gen']} x{link['width']} (max Gen{link['max_gen']} x{link['max_width']})"
             for link in links if link.get("gen") is not None}
    if unread:
        return unknown_floor("pcie_link", "PCIe link of " + ", ".join(unread) + " not readable from sysfs",
                             "run the container with /sys (Docker mounts it read-only by default)", require_gpu, shown)
    slow = [f"GPU {link['index']} Gen{link['gen']} x{link['width']} < Gen{link['max_gen']} x{link['max_width']}"
            for link in links if link["gen"] < link["max_gen"] or link["width"] < link["max_width"]]
    floor = {f"GPU {link['index']}": f"Gen{link['max_gen']} x{link['max_width']}" for link in links}
    if slow:
        return failed("pcie_link", "PCIe link below its maximum while copying: " + "; ".join(slow),
                      "reseat the GPU or riser, check the slot's BIOS link settings and lspci -vv LnkSta/LnkCap",
                      shown, floor)
    return passed("pcie_link", f"{len(links)} GPU link(s) at their maximum under load", shown, floor=floor)


def check_conv(per_device: list[dict], tolerance: dict[str, float]) -> Check:
    """`per_device`: index, dtype, and error (relative, vs the CPU) or failure (the exception text)."""
    broken = [f"GPU {item['index']}: {item['failure']}" for item in per_device if item.get("failure")]
    if broken:
        return failed("cudnn_conv", "conv2d forward/backward through cuDNN raised: " + "; ".join(broken),
                      "use an image whose cuDNN matches the driver and GPU (a -cudnn tag); check dmesg for Xid",
                      floor=tolerance)
    item = max(per_device, key=lambda entry: entry["error"] / tolerance[entry["dtype"]])
    value = {"relative_error": item["error"], "dtype": item["dtype"]}
    if item["error"] <= tolerance[item["dtype"]]:
        return passed("cudnn_conv", f"{item['dtype']} conv2d forward+backward on {len(per_device)} GPU(s) matches the "
                      f"CPU (worst relative error {item['error']:.1e})", value, floor=tolerance[item["dtype"]])
    return failed("cudnn_conv", f"{item['dtype']} conv2d on GPU {item['index']} is off the CPU result by "
                  f"{item['error']:.1e} (tolerance {tolerance[item['dtype']]:.0e})",
                  "suspect cuDNN, the GPU or its memory: run dcgmi diag and check dmesg for Xid", value,
                  tolerance[item["dtype"]])


def check_amp(per_device: list[dict]) -> Check:
    """`per_device`: index and loss, scale, updated (weights moved) of one fp16 autocast + GradScaler
    step, or failure (the exception text)."""
    problems = []
    for item in per_device:
        if item.get("failure"):
            problems.append(f"GPU {item['index']}: {item['failure']}")
            continue
        if not math.isfinite(item["loss"]):
            problems.append(f"GPU {item['index']}: loss {item['loss']}")
        if not (1.0 <= item["scale"] <= 2.0**24 and math.isfinite(item["scale"])):
            problems.append(f"GPU {item['index']}: GradScaler scale {item['scale']} (inf/NaN gradients every step)")
        if not item["updated"]:
            problems.append(f"GPU {item['index']}: the optimizer step left the weights unchanged")
    value = [{key: item.get(key) for key in ("index", "loss", "scale", "updated")} for item in per_device]
    if problems:
        return failed("amp_fp16_step", "fp16 autocast + GradScaler step: " + "; ".join(problems),
                      "check the GPU with dcgmi diag; an fp16 step that overflows every time points at bad math units",
                      value, "finite loss, 1 <= scale <= 2^24, weights updated")
    return passed("amp_fp16_step", f"fp16 autocast + GradScaler step on {len(per_device)} GPU(s): finite loss, "
                  "sane scale, weights updated", value, floor="finite loss, 1 <= scale <= 2^24, weights updated")


def format_bytes(value: int) -> str:
    if value < 0:
        return "unlimited"
    return f"{value / 2**20:g} MiB" if value >= 2**20 else f"{value / 2**10:g} KiB"


def check_limit(name: str, what: str, soft: int | None, floor: int, remedy: str) -> Check:
    """A resource limit inside the container against its floor; -1 (RLIM_INFINITY) is unlimited."""
    if soft is None:
        return skipped(name, f"{what} cannot be read here", remedy)
    met = soft < 0 or (floor >= 0 and soft >= floor)
    shown = format_bytes(soft)
    if met:
        return passed(name, f"{what} is {shown} (floor {format_bytes(floor)})", shown, floor=format_bytes(floor))
    return failed(name, f"{what} is {shown}, below {format_bytes(floor)}", remedy, shown, format_bytes(floor))


MEMLOCK_REMEDY = ("set dockerd's default-ulimits memlock to -1 (roles/docker, docker_daemon_options) or run with "
                  "--ulimit memlock=-1: NCCL and GPUDirect RDMA pin memory")
STACK_REMEDY = "set docker's default-ulimits stack to 67108864 or run with --ulimit stack=67108864 (NGC's advice)"


def judge_without_gpu(check: Check) -> Check:
    """In CPU mode without --require-gpu, a check that guards GPU jobs reports what it saw as a skip."""
    seen = {PASS: "would pass", FAIL: "would fail", SKIP: "not measured"}[check.status]
    return skipped(check.name, f"{check.detail} ({seen}; not judged: no GPU and no --require-gpu)",
                   check.remedy or GPU_REMEDY, check.value, check.floor)


def summarise(checks: list[Check]) -> dict:
    counts = {status: sum(check.status == status for check in checks) for status in (PASS, FAIL, SKIP)}
    return {**counts, "ok": counts[FAIL] == 0, "exit_code": 1 if counts[FAIL] else 0}


# --- measurements: the only code that touches torch -------------------------------------------


def relative_error(result, reference) -> float:
    """max |result - reference| / max |reference|, computed in float64 on the CPU."""
    result, reference = result.double().cpu(), reference.double().cpu()
    return float((result - reference).abs().max() / reference.abs().max().clamp_min(1e-30))


def cpu_matmul_error(torch, size: int = 128) -> float:
    """float32 matmul on the CPU against a float64 reference."""
    generator = torch.Generator().manual_seed(0)
    left, right = torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)
    return relative_error(left @ right, left.double() @ right.double())


def gpu_matmul_error(torch, device: int, size: int = 256) -> float:
    """float32 matmul on a GPU (TF32 off, so the answer is exact to fp32) against the CPU result."""
    generator = torch.Generator().manual_seed(device)
    left, right = torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        on_gpu = left.to(f"cuda:{device}") @ right.to(f"cuda:{device}")
        torch.cuda.synchronize(device)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return relative_error(on_gpu, left @ right)


def bf16_works(torch, device: int) -> bool:
    try:
        left = torch.ones(64, 64, dtype=torch.bfloat16, device=f"cuda:{device}")
        return float((left @ left)[0, 0]) == 64.0
    except RuntimeError:
        return False


def bf16_tflops(torch, device: int, size: int, seconds: float = 1.0) -> float:
    """Dense bf16 matmul throughput of one GPU, timed over about `seconds` after a warm-up."""
    left = torch.randn(size, size, dtype=torch.bfloat16, device=f"cuda:{device}")
    right = torch.randn(size, size, dtype=torch.bfloat16, device=f"cuda:{device}")
    for _ in range(3):
        left @ right
    torch.cuda.synchronize(device)
    iterations, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or iterations < 5:
        left @ right
        iterations += 1
        if iterations % 10 == 0:
            torch.cuda.synchronize(device)
    torch.cuda.synchronize(device)
    return 2 * size**3 * iterations / (time.perf_counter() - start) / 1e12


def h2d_gbps(torch, device: int, megabytes: int, repeats: int = 5) -> float:
    """Best of `repeats` pinned host->device copies of `megabytes` MiB, in GB/s."""
    host = torch.empty(megabytes * 2**20, dtype=torch.uint8).pin_memory()
    target = torch.empty_like(host, device=f"cuda:{device}")
    best = 0.0
    for _ in range(repeats):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        target.copy_(host, non_blocking=True)
        torch.cuda.synchronize(device)
        best = max(best, host.numel() / (time.perf_counter() - start) / 1e9)
    return best


def conv_error(torch, device: str, dtype_name: str) -> float:
    """conv2d forward and backward on `device` (cuDNN on a GPU) against float64 on the CPU, from the
    same `dtype_name`-rounded inputs: the worst relative error of output, input grad and weight grad."""
    dtype = getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(4, 16, 32, 32, generator=generator).to(dtype)
    weight = torch.randn(32, 16, 3, 3, generator=generator).to(dtype)
    upstream = torch.randn(4, 32, 32, 32, generator=generator).to(dtype)

    def run(where, kind):
        x = inputs.to(where, kind).detach().clone().requires_grad_()  # fresh leaves: the inputs stay untouched
        w = weight.to(where, kind).detach().clone().requires_grad_()
        out = torch.nn.functional.conv2d(x, w, padding=1)
        out.backward(upstream.to(where, kind))
        return out.detach(), x.grad, w.grad

    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # fp32 must be fp32; bf16 is judged with its own tolerance
    try:
        results = run(device, dtype)
    finally:
        torch.backends.cudnn.allow_tf32 = previous
    references = run("cpu", torch.float64)
    return max(relative_error(result, reference) for result, reference in zip(results, references))


def amp_step(torch, device: str) -> dict:
    """One training step as most recipes write it: fp16 autocast, GradScaler, SGD on a small MLP."""
    generator = torch.Generator().manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)).to(device)
    inputs = torch.randn(64, 256, generator=generator).to(device)
    labels = torch.randint(0, 10, (64,), generator=generator).to(device)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kind = device.split(":")[0]
    scaler = torch.amp.GradScaler(kind)
    with torch.autocast(kind, dtype=torch.float16):
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    updated = any(not torch.equal(old, new.detach()) for old, new in zip(before, model.parameters()))
    return {"loss": float(loss.detach()), "scale": float(scaler.get_scale()), "updated": updated}


def copy_gbps(torch, device: str, megabytes: int, repeats: int = 10) -> float:
    """Device memory bandwidth of a same-device copy, counting bytes read and written, best of `repeats`."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    best = 0.0
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        target.copy_(source)
        synchronize()
        best = max(best, 2 * source.numel() / (time.perf_counter() - start) / 1e9)
    return best


# PCIe transfer rate (GT/s, as sysfs writes it) -> generation, and each generation's usable GB/s per
# lane and direction after line coding (8b/10b to Gen2, 128b/130b Gen3-5, FLIT Gen6): Gen3 x16
# ~15.75 GB/s, Gen4 ~31.5, Gen5 ~63 (PCI-SIG's figures).
PCIE_GENERATIONS = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}
PCIE_GBPS_PER_LANE = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}
SYSFS_PCI = "/sys/bus/pci/devices"


def pcie_generation(text: str) -> int | None:
    """ "32.0 GT/s PCIe" or "8 GT/s" -> 5 or 3; "Unknown" -> None."""
    match = re.match(r"\s*([\d.]+)\s*GT/s", text or "")
    return PCIE_GENERATIONS.get(float(match.group(1))) if match else None


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def pcie_link(address: str, root: str = SYSFS_PCI) -> dict | None:
    """The link of the PCI function `address` (0000:18:00.0): current gen/width, and the maximum both
    ends allow (the GPU's and its upstream port's, so a Gen5 GPU in a Gen4 slot is not "degraded")."""
    folder = os.path.join(root, address)
    fields = {name: read_text(os.path.join(folder, name)) for name in
              ("current_link_speed", "current_link_width", "max_link_speed", "max_link_width")}
    if any(value is None for value in fields.values()):
        return None
    link = {"gen": pcie_generation(fields["current_link_speed"]), "width": int(fields["current_link_width"] or 0),
            "max_gen": pcie_generation(fields["max_link_speed"]), "max_width": int(fields["max_link_width"] or 0)}
    upstream = os.path.dirname(os.path.realpath(folder))
    upstream_gen = pcie_generation(read_text(os.path.join(upstream, "max_link_speed")) or "")
    upstream_width = read_text(os.path.join(upstream, "max_link_width"))
    if upstream_gen and link["max_gen"]:
        link["max_gen"] = min(link["max_gen"], upstream_gen)
    if upstream_width and upstream_width.isdigit() and int(upstream_width) > 0:
        link["max_width"] = min(link["max_width"], int(upstream_width))
    return link if None not in (link["gen"], link["max_gen"]) else None


def h2d_floor(link: dict | None, fraction: float, explicit: float | None) -> tuple[float | None, str]:
    """The H2D floor: explicit when given, else `fraction` of the link's theoretical rate."""
    if explicit:
        return explicit, "explicit floor"
    if not link:
        return None, "link unknown"
    rate = PCIE_GBPS_PER_LANE[link["max_gen"]] * link["max_width"]
    return fraction * rate, f"{fraction:.0%} of Gen{link['max_gen']} x{link['max_width']} {rate:.1f} GB/s"


def rlimit(kind: str, inject: dict) -> int | None:
    """The soft limit (-1 = unlimited) of RLIMIT_MEMLOCK or RLIMIT_STACK, or the injected figure."""
    if f"{kind}_bytes" in inject:
        return inject[f"{kind}_bytes"]
    soft, _ = resource.getrlimit(getattr(resource, f"RLIMIT_{kind.upper()}"))
    return -1 if soft == resource.RLIM_INFINITY else soft


def _allreduce_worker(rank: int, world: int, port: int, result_path: str, megabytes: int) -> None:
    import torch
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    tensor = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32, device=f"cuda:{rank}")
    for _ in range(3):
        dist.all_reduce(tensor)
    torch.cuda.synchronize()
    iterations, start = 10, time.perf_counter()
    for _ in range(iterations):
        dist.all_reduce(tensor)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / iterations
    if rank == 0:
        with open(result_path, "w", encoding="utf-8") as handle:
            json.dump({"seconds": seconds, "bytes": tensor.numel() * 4}, handle)
    dist.destroy_process_group()


def _nccl_init_worker(rank: int, world: int, port: int, result_path: str, backend: str = "nccl") -> None:
    """Form the process group and all-reduce 1024 floats once (rank r gives r + 1). Tests run it
    with the gloo backend on CPU torch; the payload always with NCCL on GPU `rank`."""
    import torch
    import torch.distributed as dist

    device = "cpu"
    if backend == "nccl":
        torch.cuda.set_device(rank)
        device = f"cuda:{rank}"
    start = time.perf_counter()
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    tensor = torch.full((1024,), float(rank + 1), dtype=torch.float32, device=device)
    dist.all_reduce(tensor)
    if device != "cpu":
        torch.cuda.synchronize()
    expected = float(world * (world + 1) // 2)
    wrong = tensor[tensor != expected].cpu()
    if rank == 0:  # the first wrong element, if any, is the sum reported
        with open(result_path, "w", encoding="utf-8") as handle:
            json.dump({"sum": float(wrong[0]) if wrong.numel() else expected,
                       "seconds": time.perf_counter() - start}, handle)
    dist.destroy_process_group()


def run_workers(worker, count: int, extra: tuple, timeout_s: float) -> tuple[dict | None, str | None]:
    """Run `worker(rank, count, port, result_path, *extra)` in `count` spawned processes, bounded in
    time: rank 0's JSON result, or why there is none."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        result_path = os.path.join(folder, "result.json")
        context = mp.start_processes(worker, args=(count, port, result_path, *extra),
                                     nprocs=count, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout_s
        try:
            while not context.join(timeout=1):
                if time.monotonic() > deadline:
                    for process in context.processes:
                        process.kill()
                    return None, f"no result within {timeout_s:.0f} s"
        except Exception as error:  # a worker's exception comes back as ProcessRaisedException
            return None, str(error).strip().splitlines()[-1]
        with open(result_path, encoding="utf-8") as handle:
            return json.load(handle), None


def allreduce_busbw(count: int, megabytes: int, timeout_s: float) -> tuple[float | None, str | None]:
    """NCCL all-reduce bus bandwidth (GB/s) over `count` local GPUs, one process each, bounded in time."""
    result, error = run_workers(_allreduce_worker, count, (megabytes,), timeout_s)
    if result is None:
        return None, error
    algorithm_bandwidth = result["bytes"] / result["seconds"] / 1e9
    return algorithm_bandwidth * 2 * (count - 1) / count, None


def nccl_init(count: int, timeout_s: float) -> tuple[dict | None, str | None]:
    """The quick depth's NCCL process group and small all-reduce over `count` local GPUs."""
    return run_workers(_nccl_init_worker, count, ("nccl",), timeout_s)


def driver_version_from_proc(path: str = "/proc/driver/nvidia/version") -> str | None:
    """The loaded kernel module's version, e.g. 580.65.06, or None outside an NVIDIA host."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def shm_bytes(path: str = "/dev/shm") -> int | None:
    if not os.path.isdir(path):
        return None
    stats = os.statvfs(path)
    return stats.f_frsize * stats.f_blocks


# --- the run ----------------------------------------------------------------------------------

GPU_CHECKS = ("device_count", "arch_coverage", "cuda_driver", "cudnn_version", "cudnn_conv", "nccl_version",
              "bf16_support", "matmul_gpu", "amp_fp16_step", "bf16_tflops_vs_peak", "bf16_tflops_vs_baseline",
              "hbm_bandwidth", "h2d_bandwidth", "pcie_link", "nccl_allreduce")
# The quick depth is a health check in seconds: the GPUs are there and covered, a small matmul is
# right, NCCL forms a group. Nothing is timed, so it has no figure for the baseline.
QUICK_GPU_CHECKS = ("device_count", "arch_coverage", "cuda_driver", "cudnn_version", "nccl_version", "bf16_support",
                    "matmul_gpu", "nccl_init")
DEPTHS = ("quick", "full")
PERFORMANCE_CHECKS = ("bf16_tflops_vs_peak", "bf16_tflops_vs_baseline", "hbm_bandwidth", "h2d_bandwidth", "pcie_link",
                      "nccl_allreduce")
CONV_TOLERANCE = {"bfloat16": 2e-2, "float32": 1e-4}  # bf16 keeps 8 bits of mantissa; fp32 with TF32 off


def describe_devices(torch) -> list[dict]:
    devices = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        address = None
        if hasattr(properties, "pci_bus_id"):
            address = f"{properties.pci_domain_id:04x}:{properties.pci_bus_id:02x}:{properties.pci_device_id:02x}.0"
        devices.append({"index": index, "name": properties.name,
                        "capability": [properties.major, properties.minor],
                        "memory_gb": round(properties.total_memory / 2**30, 1), "pci_address": address})
    return devices


def driver_cuda_version(torch) -> tuple[int, int] | None:
    """The newest CUDA the driver supports (cudaDriverGetVersion), e.g. 13000 -> (13, 0)."""
    try:
        version = int(torch._C._cuda_getDriverVersion())
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None
    return (version // 1000, version % 1000 // 10) if version else None


def attempt(function, *args) -> dict:
    """Run a measurement that may raise on a broken GPU stack; the exception becomes its failure."""
    try:
        return {"result": function(*args)}
    except (RuntimeError, ValueError, AssertionError) as error:
        return {"failure": (str(error).strip().splitlines() or [type(error).__name__])[0][:300]}


def depth_checks(depth: str) -> tuple[str, ...]:
    """The GPU checks a depth runs (in CPU mode each of them is a skip with the reason)."""
    return QUICK_GPU_CHECKS if depth == "quick" else GPU_CHECKS


def not_run(depth: str) -> list[str]:
    """The full depth's GPU checks a lighter depth leaves out: not run, so neither passed nor skipped."""
    return [name for name in GPU_CHECKS if name not in depth_checks(depth)]


def gpu_checks(torch, options: argparse.Namespace, devices: list[dict]) -> list[Check]:
    count, full = len(devices), options.depth == "full"
    checks = [
        check_device_count(count, options.expect_gpus),
        check_arch_coverage(torch.cuda.get_arch_list(), devices),
        check_cuda_driver(torch.version.cuda, driver_cuda_version(torch),
                          options.driver_version or driver_version_from_proc(), options.min_driver),
        check_cudnn(torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None),
    ]
    if full:
        checks.append(conv_check(torch, devices))
    checks += [
        check_nccl(torch.cuda.nccl.version() if hasattr(torch.cuda, "nccl") else None),
        check_bf16([{**device, "works": bf16_works(torch, device["index"])} for device in devices]),
    ]
    errors = [gpu_matmul_error(torch, device["index"]) for device in devices]
    worst_index = errors.index(max(errors))
    checks.append(check_matmul("matmul_gpu", f"GPU {worst_index} (worst of {count})", errors[worst_index], 1e-4))
    if not full:
        result, error = nccl_init(count, options.nccl_timeout_s) if count >= 2 else (None, None)
        return checks + [check_nccl_init(count, result, error)]
    checks.append(amp_check(torch, devices))
    checks.extend(performance_checks(torch, options, devices))
    return checks


def conv_check(torch, devices: list[dict]) -> Check:
    convs = []
    for device in devices:
        dtype = "bfloat16" if tuple(device["capability"]) >= (8, 0) else "float32"
        outcome = attempt(conv_error, torch, f"cuda:{device['index']}", dtype)
        convs.append({"index": device["index"], "dtype": dtype, "error": outcome.get("result"),
                      "failure": outcome.get("failure")})
    return check_conv(convs, CONV_TOLERANCE)


def amp_check(torch, devices: list[dict]) -> Check:
    steps = []
    for device in devices:
        outcome = attempt(amp_step, torch, f"cuda:{device['index']}")
        steps.append({"index": device["index"], **outcome.get("result", {}), "failure": outcome.get("failure")})
    return check_amp(steps)


def performance_checks(torch, options: argparse.Namespace, devices: list[dict]) -> list[Check]:
    if options.skip_performance:
        return [skipped(name, "performance checks skipped (--skip-performance)", "run without --skip-performance")
                for name in PERFORMANCE_CHECKS]
    require = options.require_gpu
    checks = []
    if all(tuple(device["capability"]) >= (8, 0) for device in devices):
        measured = min(bf16_tflops(torch, device["index"], options.matmul_size) for device in devices)
        checks += [check_tflops_vs_peak(measured, options.peak_tflops, options.min_fraction, require),
                   check_tflops_vs_baseline(measured, options.baseline_tflops, options.baseline_drop)]
    else:
        reason = "a GPU below compute capability 8.0 has no bf16 tensor cores: no datasheet bf16 peak"
        checks += [skipped(name, reason, "nothing to do on these GPUs") for name in PERFORMANCE_CHECKS[:2]]
    memory = [{"index": device["index"], "measured": copy_gbps(torch, f"cuda:{device['index']}", options.hbm_mb)}
              for device in devices]
    checks.append(check_hbm(memory, options.hbm_peak_gbps, options.hbm_fraction, require))
    copies, links = [], []
    for device in devices:
        measured = h2d_gbps(torch, device["index"], options.bandwidth_mb)
        # read right after the copies: an idle GPU drops its link to a lower generation to save power
        link = pcie_link(device["pci_address"], options.sysfs_pci) if device.get("pci_address") else None
        floor, how = h2d_floor(link, options.h2d_fraction, options.min_h2d_gbps)
        copies.append({"index": device["index"], "measured": measured, "floor": floor, "how": how})
        links.append({"index": device["index"], **(link or {"gen": None})})
    checks += [check_h2d(copies, require), check_pcie_link(links, require)]
    busbw, error = (None, None) if len(devices) < 2 else allreduce_busbw(len(devices), options.allreduce_mb,
                                                                          options.nccl_timeout_s)
    checks.append(check_allreduce(len(devices), busbw, error, options.min_busbw_gbps, require))
    return checks


def container_checks(options: argparse.Namespace) -> list[Check]:
    """What the container itself gives a GPU job: shared memory and the ulimits NGC asks for."""
    inject = options.inject
    return [
        check_shm(inject.get("shm_bytes", shm_bytes()), options.min_shm_gb),
        check_limit("memlock_limit", "ulimit -l (locked memory)", rlimit("memlock", inject), -1, MEMLOCK_REMEDY),
        check_limit("stack_limit", "ulimit -s (stack)", rlimit("stack", inject), options.min_stack_mb * 2**20,
                    STACK_REMEDY),
    ]


def run_checks(torch, options: argparse.Namespace) -> tuple[list[Check], list[dict]]:
    available = bool(torch.cuda.is_available())
    checks = [check_cuda_available(available, torch.version.cuda, options.require_gpu),
              check_matmul("matmul_cpu", "the CPU", cpu_matmul_error(torch), 1e-4)]
    limits = container_checks(options)
    if not available:
        if not options.require_gpu:  # the sandbox: its hosts cannot raise ulimits, and no GPU job runs there
            limits = [limits[0]] + [judge_without_gpu(check) for check in limits[1:]]
        # (shm_size stays judged: the sandbox's hosts give --ipc=host a server-sized /dev/shm)
        reason = no_cuda_reason(torch.version.cuda)
        return checks + limits + [skipped(name, reason, GPU_REMEDY) for name in depth_checks(options.depth)], []
    devices = describe_devices(torch)
    return checks + limits + gpu_checks(torch, options, devices), devices


def host_info(torch, devices: list[dict], options: argparse.Namespace) -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": getattr(torch, "__version__", None) if torch else None,
        "torch_cuda": torch.version.cuda if torch else None,
        "driver_version": options.driver_version or driver_version_from_proc(),
        "in_container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"),
        "devices": devices,
    }


def build_report(torch, options: argparse.Namespace) -> dict:
    """The whole document: schema, host, mode, depth (and the checks it left out), the GPU count
    expected, checks, summary."""
    if torch is None:
        checks, devices = [failed("torch_import", "torch cannot be imported", "use an image with PyTorch installed")], []
    else:
        checks, devices = run_checks(torch, options)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "mode": "gpu" if devices else "cpu",
        "depth": options.depth,
        "not_run": not_run(options.depth),
        "expect_gpus": options.expect_gpus,
        "host": host_info(torch, devices, options),
        "checks": [asdict(check) for check in checks],
        "summary": summarise(checks),
    }


def render_text(report: dict) -> str:
    lines = [f"gpu_verify ({report['mode']} mode, {report['depth']} depth) on {report['host']['hostname']}"]
    for check in report["checks"]:
        lines.append(f"  {check['status'].upper():4} {check['name']}: {check['detail']}")
        if check["status"] == FAIL and check.get("floor") is not None:
            lines.append(f"       measured {check['value']}, floor {check['floor']}")
        if check["status"] != PASS and check["remedy"]:
            lines.append(f"       remedy: {check['remedy']}")
    summary = report["summary"]
    lines.append(f"{summary['pass']} passed, {summary['fail']} failed, {summary['skip']} skipped")
    if report["not_run"]:
        lines.append(f"not run at {report['depth']} depth: {', '.join(report['not_run'])}")
    return "\n".join(lines)


# --- arguments --------------------------------------------------------------------------------


def _number(kind, low: float, high: float | None = None, low_open: bool = False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if low_open else value < low
        if too_low or (high is not None and value > high):
            bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value
    return parse


def _version(text: str) -> str:
    if not re.match(r"^\d+(\.\d+){0,2}$", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a driver version like 580.65.06")
    return text.strip()


def _injection(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if name not in INJECTABLE or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=BYTES with NAME one of {', '.join(INJECTABLE)}")
    if value == "unlimited":
        return name, -1
    return name, _number(int, 0)(value)


INJECTABLE = ("memlock_bytes", "stack_bytes", "shm_bytes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Verify PyTorch + CUDA inside this environment.")
    add = parser.add_argument
    add("--json", action="store_true", help="print one JSON document instead of text")
    add("--depth", choices=DEPTHS, default="full",
        help="quick: devices, arch, a small matmul and NCCL init, nothing timed; full: every check (default)")
    add("--expect-gpus", type=_number(int, 0), help="GPUs lspci saw on the host")
    add("--require-gpu", action="store_true", help="fail, not skip, when CUDA is unavailable or a floor is unknown")
    add("--driver-version", type=_version, help="host driver version (default: /proc/driver/nvidia/version)")
    add("--min-driver", type=_version, help="minimum driver for torch's CUDA (full support)")
    add("--min-shm-gb", type=_number(float, 0), default=1.0, help="minimum /dev/shm size in GiB (1)")
    add("--min-stack-mb", type=_number(int, 0), default=64, help="minimum ulimit -s in MiB (64; memlock must be unlimited)")
    add("--peak-tflops", type=_number(float, 0, low_open=True), help="datasheet dense bf16 peak")
    add("--min-fraction", type=_number(float, 0, 1, low_open=True), default=0.5,
        help="fraction of the peak the bf16 matmul must reach (0.5)")
    add("--baseline-tflops", type=_number(float, 0, low_open=True), help="this host's recorded bf16 TFLOPS")
    add("--baseline-drop", type=_number(float, 0, 1, low_open=True), default=0.8,
        help="fail below this fraction of the baseline (0.8)")
    add("--matmul-size", type=_number(int, 256), default=8192, help="bf16 matmul size (8192)")
    add("--bandwidth-mb", type=_number(int, 1), default=256, help="MiB per host->device copy (256)")
    add("--h2d-fraction", type=_number(float, 0, 1, low_open=True), default=0.6,
        help="H2D floor as a fraction of the PCIe link's theoretical rate (0.6)")
    add("--min-h2d-gbps", type=_number(float, 0, low_open=True), help="explicit H2D floor, GB/s (overrides the link)")
    add("--hbm-peak-gbps", type=_number(float, 0, low_open=True), help="datasheet memory bandwidth of the GPU, GB/s")
    add("--hbm-fraction", type=_number(float, 0, 1, low_open=True), default=0.6,
        help="fraction of the datasheet memory bandwidth a device copy must reach (0.6)")
    add("--hbm-mb", type=_number(int, 1), default=1024, help="MiB per device-to-device copy (1024)")
    add("--allreduce-mb", type=_number(int, 1), default=1024, help="MiB per all-reduce (1024)")
    add("--min-busbw-gbps", type=_number(float, 0, low_open=True), help="all-reduce bus bandwidth floor, GB/s")
    add("--nccl-timeout-s", type=_number(float, 1), default=120.0, help="bound on the all-reduce (120)")
    add("--skip-performance", action="store_true", help="skip TFLOPS, bandwidth and all-reduce")
    add("--sysfs-pci", default=SYSFS_PCI, help=argparse.SUPPRESS)  # tests point it at a fake tree
    add("--inject", type=_injection, action="append", default=[], metavar="NAME=BYTES",
        help=f"replace a measurement ({', '.join(INJECTABLE)}; 'unlimited' = -1), to show a check failing")
    return parser


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    options.inject = dict(options.inject)
    report = build_report(import_torch(), options)
    print(json.dumps(report, indent=2) if options.json else render_text(report))
    return report["summary"]["exit_code"]


if __name__ == "__main__":
    sys.exit(main())

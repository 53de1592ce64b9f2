#!/usr/bin/env python3
"""Verify a PyTorch-CUDA environment from inside it and print one JSON document.

Copied into the image and run as `python gpu_verify.py --json [options]`, so it uses the standard
library and torch only and never imports provision. Each check reports pass, fail or skip, with a
detail, a remedy for anything but pass, and a measured value where there is one.

Without a usable CUDA device (CPU build of torch, or no GPU visible) the script runs in CPU mode:
every GPU check is skipped with the reason, the checks that need no GPU still run, and the exit code
is 0 unless one of those failed. `--require-gpu` turns "no CUDA" into a failure. Exit code: 0 when
every check passed or was skipped, 1 when any failed, 2 for bad arguments.

The easy thing to get wrong: a skipped GPU check is not a pass. It says the host could not be
tested, and the JSON keeps the two apart so a caller can require a GPU where one should be.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
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


def passed(name: str, detail: str, value: Any = None, remedy: str = "") -> Check:
    return Check(name, PASS, detail, remedy, value)


def failed(name: str, detail: str, remedy: str, value: Any = None) -> Check:
    return Check(name, FAIL, detail, remedy, value)


def skipped(name: str, detail: str, remedy: str, value: Any = None) -> Check:
    return Check(name, SKIP, detail, remedy, value)


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
        return passed("device_count", f"{count} GPU(s) visible, as expected", count)
    return failed("device_count", f"{count} GPU(s) visible, {expected} expected from lspci",
                  "check nvidia-smi on the host, CUDA_VISIBLE_DEVICES and the container's --gpus", count)


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
        return passed("shm_size", f"/dev/shm is {size_gb:.2f} GiB (>= {min_gb})", round(size_gb, 3))
    return failed("shm_size", f"/dev/shm is {size_gb:.2f} GiB, below {min_gb} GiB (DataLoader workers and NCCL need it)",
                  "start the container with --ipc=host or a larger --shm-size", round(size_gb, 3))


def check_tflops_vs_peak(measured: float, peak: float | None, fraction: float) -> Check:
    value = {"tflops": round(measured, 1), "peak": peak, "fraction": fraction}
    if peak is None:
        return skipped("bf16_tflops_vs_peak", f"bf16 matmul {measured:.1f} TFLOPS; no --peak-tflops given",
                       "pass --peak-tflops (provision takes it from its GPU table)", value)
    if measured >= fraction * peak:
        return passed("bf16_tflops_vs_peak", f"bf16 matmul {measured:.1f} TFLOPS >= {fraction:.0%} of the {peak} peak", value)
    return failed("bf16_tflops_vs_peak", f"bf16 matmul {measured:.1f} TFLOPS < {fraction:.0%} of the {peak} peak",
                  "check clocks and power (nvidia-smi -q -d PERFORMANCE,POWER), thermals and other GPU processes", value)


def check_tflops_vs_baseline(measured: float, baseline: float | None, drop: float) -> Check:
    value = {"tflops": round(measured, 1), "baseline": baseline, "threshold": drop}
    if baseline is None:
        return skipped("bf16_tflops_vs_baseline", f"bf16 matmul {measured:.1f} TFLOPS; no --baseline-tflops recorded yet",
                       "record this value as the host's baseline", value)
    if measured >= drop * baseline:
        return passed("bf16_tflops_vs_baseline", f"bf16 matmul {measured:.1f} TFLOPS >= {drop:.0%} of the host's {baseline} baseline", value)
    return failed("bf16_tflops_vs_baseline", f"bf16 matmul {measured:.1f} TFLOPS fell below {drop:.0%} of the host's {baseline} baseline",
                  "compare driver, clocks and power limits with the run that set the baseline", value)


def check_h2d(gbps: float, minimum: float) -> Check:
    if gbps >= minimum:
        return passed("h2d_bandwidth", f"pinned host->device copy {gbps:.1f} GB/s (minimum {minimum})", round(gbps, 2))
    return failed("h2d_bandwidth", f"pinned host->device copy {gbps:.1f} GB/s, below {minimum}",
                  "check the PCIe link (lspci -vv LnkSta: speed and width) and NUMA placement", round(gbps, 2))


def check_allreduce(count: int, busbw: float | None, error: str | None, minimum: float) -> Check:
    if count < 2:
        return skipped("nccl_allreduce", f"{count} GPU: no all-reduce on a single-GPU host", "nothing to do")
    if error is not None:
        return failed("nccl_allreduce", f"NCCL all-reduce over {count} GPUs failed: {error}",
                      "run with NCCL_DEBUG=INFO; check fabric manager on NVSwitch hosts and --ipc=host")
    if busbw >= minimum:
        return passed("nccl_allreduce", f"all-reduce bus bandwidth {busbw:.1f} GB/s over {count} GPUs", round(busbw, 2))
    return failed("nccl_allreduce", f"all-reduce bus bandwidth {busbw:.1f} GB/s over {count} GPUs, below {minimum}",
                  "check NVLink (nvidia-smi nvlink -s), fabric manager and topology (nvidia-smi topo -m)", round(busbw, 2))


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


def _allreduce_worker(rank: int, world: int, port: int, megabytes: int, result_path: str) -> None:
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


def allreduce_busbw(count: int, megabytes: int, timeout_s: float) -> tuple[float | None, str | None]:
    """NCCL all-reduce bus bandwidth (GB/s) over `count` local GPUs, one process each, bounded in time."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        result_path = os.path.join(folder, "allreduce.json")
        context = mp.start_processes(_allreduce_worker, args=(count, port, megabytes, result_path),
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
            result = json.load(handle)
    algorithm_bandwidth = result["bytes"] / result["seconds"] / 1e9
    return algorithm_bandwidth * 2 * (count - 1) / count, None


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

GPU_CHECKS = ("device_count", "arch_coverage", "cuda_driver", "cudnn_version", "nccl_version", "bf16_support",
              "matmul_gpu", "bf16_tflops_vs_peak", "bf16_tflops_vs_baseline", "h2d_bandwidth", "nccl_allreduce")


def describe_devices(torch) -> list[dict]:
    devices = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        devices.append({"index": index, "name": properties.name,
                        "capability": [properties.major, properties.minor],
                        "memory_gb": round(properties.total_memory / 2**30, 1)})
    return devices


def driver_cuda_version(torch) -> tuple[int, int] | None:
    """The newest CUDA the driver supports (cudaDriverGetVersion), e.g. 13000 -> (13, 0)."""
    try:
        version = int(torch._C._cuda_getDriverVersion())
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None
    return (version // 1000, version % 1000 // 10) if version else None


def gpu_checks(torch, options: argparse.Namespace, devices: list[dict]) -> list[Check]:
    count = len(devices)
    checks = [
        check_device_count(count, options.expect_gpus),
        check_arch_coverage(torch.cuda.get_arch_list(), devices),
        check_cuda_driver(torch.version.cuda, driver_cuda_version(torch),
                          options.driver_version or driver_version_from_proc(), options.min_driver),
        check_cudnn(torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None),
        check_nccl(torch.cuda.nccl.version() if hasattr(torch.cuda, "nccl") else None),
        check_bf16([{**device, "works": bf16_works(torch, device["index"])} for device in devices]),
    ]
    errors = [gpu_matmul_error(torch, device["index"]) for device in devices]
    worst = errors.index(max(errors))
    checks.append(check_matmul("matmul_gpu", f"GPU {worst} (worst of {count})", errors[worst], 1e-4))
    checks.extend(performance_checks(torch, options, devices))
    return checks


def performance_checks(torch, options: argparse.Namespace, devices: list[dict]) -> list[Check]:
    names = ("bf16_tflops_vs_peak", "bf16_tflops_vs_baseline", "h2d_bandwidth", "nccl_allreduce")
    if options.skip_performance:
        return [skipped(name, "performance checks skipped (--skip-performance)", "run without --skip-performance") for name in names]
    checks = []
    if all(tuple(device["capability"]) >= (8, 0) for device in devices):
        measured = min(bf16_tflops(torch, device["index"], options.matmul_size) for device in devices)
        checks += [check_tflops_vs_peak(measured, options.peak_tflops, options.min_fraction),
                   check_tflops_vs_baseline(measured, options.baseline_tflops, options.baseline_drop)]
    else:
        reason = "a GPU below compute capability 8.0 has no bf16 tensor cores: no datasheet bf16 peak"
        checks += [skipped(name, reason, "nothing to do on these GPUs") for name in names[:2]]
    checks.append(check_h2d(min(h2d_gbps(torch, device["index"], options.bandwidth_mb) for device in devices),
                            options.min_h2d_gbps))
    busbw, error = (None, None) if len(devices) < 2 else allreduce_busbw(len(devices), options.bandwidth_mb, options.nccl_timeout_s)
    checks.append(check_allreduce(len(devices), busbw, error, options.min_busbw_gbps))
    return checks


def run_checks(torch, options: argparse.Namespace) -> tuple[list[Check], list[dict]]:
    available = bool(torch.cuda.is_available())
    checks = [check_cuda_available(available, torch.version.cuda, options.require_gpu),
              check_matmul("matmul_cpu", "the CPU", cpu_matmul_error(torch), 1e-4),
              check_shm(shm_bytes(), options.min_shm_gb)]
    if not available:
        reason = no_cuda_reason(torch.version.cuda)
        return checks + [skipped(name, reason, GPU_REMEDY) for name in GPU_CHECKS], []
    devices = describe_devices(torch)
    return checks + gpu_checks(torch, options, devices), devices


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
    """The whole document: schema, host, mode, checks, summary."""
    if torch is None:
        checks, devices = [failed("torch_import", "torch cannot be imported", "use an image with PyTorch installed")], []
    else:
        checks, devices = run_checks(torch, options)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "mode": "gpu" if devices else "cpu",
        "host": host_info(torch, devices, options),
        "checks": [asdict(check) for check in checks],
        "summary": summarise(checks),
    }


def render_text(report: dict) -> str:
    lines = [f"gpu_verify ({report['mode']} mode) on {report['host']['hostname']}"]
    for check in report["checks"]:
        lines.append(f"  {check['status'].upper():4} {check['name']}: {check['detail']}")
        if check["status"] != PASS and check["remedy"]:
            lines.append(f"       remedy: {check['remedy']}")
    summary = report["summary"]
    lines.append(f"{summary['pass']} passed, {summary['fail']} failed, {summary['skip']} skipped")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Verify PyTorch + CUDA inside this environment.")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--expect-gpus", type=_number(int, 0), help="GPUs lspci saw on the host")
    parser.add_argument("--require-gpu", action="store_true", help="fail, not skip, when CUDA is unavailable")
    parser.add_argument("--driver-version", type=_version, help="host driver version (default: /proc/driver/nvidia/version)")
    parser.add_argument("--min-driver", type=_version, help="minimum driver for torch's CUDA (full support)")
    parser.add_argument("--min-shm-gb", type=_number(float, 0), default=1.0, help="minimum /dev/shm size in GiB (1)")
    parser.add_argument("--peak-tflops", type=_number(float, 0, low_open=True), help="datasheet dense bf16 peak")
    parser.add_argument("--min-fraction", type=_number(float, 0, 1, low_open=True), default=0.5,
                        help="fraction of the peak the bf16 matmul must reach (0.5)")
    parser.add_argument("--baseline-tflops", type=_number(float, 0, low_open=True), help="this host's recorded bf16 TFLOPS")
    parser.add_argument("--baseline-drop", type=_number(float, 0, 1, low_open=True), default=0.8,
                        help="fail below this fraction of the baseline (0.8)")
    parser.add_argument("--matmul-size", type=_number(int, 256), default=8192, help="bf16 matmul size (8192)")
    parser.add_argument("--bandwidth-mb", type=_number(int, 1), default=256, help="MiB per copy / all-reduce (256)")
    parser.add_argument("--min-h2d-gbps", type=_number(float, 0), default=0.0, help="minimum pinned host->device GB/s")
    parser.add_argument("--min-busbw-gbps", type=_number(float, 0), default=0.0, help="minimum all-reduce bus GB/s")
    parser.add_argument("--nccl-timeout-s", type=_number(float, 1), default=120.0, help="bound on the all-reduce (120)")
    parser.add_argument("--skip-performance", action="store_true", help="skip TFLOPS, bandwidth and all-reduce")
    return parser


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    report = build_report(import_torch(), options)
    print(json.dumps(report, indent=2) if options.json else render_text(report))
    return report["summary"]["exit_code"]


if __name__ == "__main__":
    sys.exit(main())

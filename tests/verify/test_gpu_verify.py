"""gpu_verify.py on the CPU build of torch: its JSON contract as a subprocess, and the decisions of
its checks with small fakes where a GPU would be needed."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "provision" / "gpu" / "payload" / "gpu_check.py"
CHECK_KEYS = {"name", "status", "detail", "remedy", "value", "floor"}


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_verify_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


gv = load_script()


def run_script(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def cpu_report():
    completed = run_script("--json", "--min-shm-gb", "0", "--expect-gpus", "8")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# --- the script as the role runs it -------------------------------------------------------------


def test_the_json_document_has_the_schema(cpu_report):
    assert cpu_report["schema"] == "provision.gpu_verify" and cpu_report["schema_version"] == 1
    assert cpu_report["mode"] == "cpu"
    assert {"hostname", "platform", "python", "torch", "torch_cuda", "driver_version", "devices"} <= set(cpu_report["host"])
    assert set(cpu_report["summary"]) == {"pass", "fail", "skip", "ok", "exit_code"}
    for check in cpu_report["checks"]:
        assert set(check) == CHECK_KEYS
        assert check["status"] in {"pass", "fail", "skip"}
        if check["status"] != "pass":
            assert check["remedy"], check


def test_cpu_mode_skips_every_gpu_check_with_the_reason(cpu_report):
    statuses = {check["name"]: check for check in cpu_report["checks"]}
    for name in gv.GPU_CHECKS:
        assert statuses[name]["status"] == "skip"
        assert statuses[name]["detail"].startswith("no CUDA device: CPU build of torch")
    assert statuses["cuda_available"]["status"] == "skip"
    assert statuses["matmul_cpu"]["status"] == "pass"
    assert cpu_report["summary"]["ok"] and cpu_report["summary"]["exit_code"] == 0


def test_require_gpu_turns_no_cuda_into_a_failure_and_exit_1():
    completed = run_script("--json", "--require-gpu", "--min-shm-gb", "0",
                           "--inject", "memlock_bytes=unlimited", "--inject", "stack_bytes=67108864")
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    first = report["checks"][0]
    assert (first["name"], first["status"]) == ("cuda_available", "fail")
    assert report["summary"]["fail"] == 1 and not report["summary"]["ok"]


def test_text_output_names_each_check_and_remedies():
    completed = run_script("--min-shm-gb", "0")
    assert completed.returncode == 0
    assert "SKIP cuda_available" in completed.stdout and "remedy:" in completed.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--expect-gpus", "-1"], "must be >= 0"),
    (["--expect-gpus", "two"], "is not a number"),
    (["--min-fraction", "0"], "must be > 0"),
    (["--min-fraction", "1.5"], "<= 1"),
    (["--baseline-drop", "2"], "<= 1"),
    (["--peak-tflops", "0"], "must be > 0"),
    (["--driver-version", "latest"], "not a driver version"),
    (["--unknown-flag"], "unrecognized arguments"),
])
def test_bad_arguments_exit_2_with_a_message(arguments, message):
    completed = run_script(*arguments)
    assert completed.returncode == 2
    assert message in completed.stderr


# --- decisions, with plain values --------------------------------------------------------------


def test_device_count():
    assert gv.check_device_count(8, 8).status == "pass"
    mismatch = gv.check_device_count(7, 8)
    assert mismatch.status == "fail" and "7 GPU(s) visible, 8 expected" in mismatch.detail
    assert gv.check_device_count(8, None).status == "skip"


H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "capability": [9, 0]}
B200 = {"index": 1, "name": "NVIDIA B200", "capability": [10, 0]}
V100 = {"index": 0, "name": "Tesla V100-SXM2-16GB", "capability": [7, 0]}


@pytest.mark.parametrize("arch_list, devices, status", [
    (["sm_80", "sm_86", "sm_90"], [H100], "pass"),
    (["sm_80", "sm_86", "sm_90"], [H100, B200], "fail"),
    (["sm_80", "sm_90", "compute_90"], [B200], "pass"),      # PTX JIT forward
    (["sm_90a"], [B200], "fail"),                             # arch-specific SASS stays on 9.0
    (["sm_100f"], [{**B200, "capability": [10, 3]}], "pass"),
    (["sm_75", "sm_80", "sm_86"], [{**H100, "capability": [8, 9]}], "pass"),
    (["sm_80", "sm_90"], [V100], "fail"),
])
def test_arch_coverage(arch_list, devices, status):
    check = gv.check_arch_coverage(arch_list, devices)
    assert check.status == status, check.detail
    if status == "fail":
        assert "B200" in check.detail or "V100" in check.detail
        assert check.remedy


# torch cuda, driver's cuda, driver version, min driver, status, words in the detail
CUDA_DRIVER = [
    ("12.4", (13, 0), "580.65.06", None, "pass", "full support"),
    ("12.8", (12, 4), "550.54.14", None, "pass", "minor-version compatibility"),
    ("13.0", (12, 8), "570.26", None, "fail", "torch needs CUDA 13.0"),
    ("12.8", (12, 8), "570.26", "570.26", "pass", "full support"),
    ("12.8", (12, 4), "550.54.14", "570.26", "pass", "minor-version compatibility"),
    ("13.0", (12, 9), "575.57.08", "580.65.06", "fail", "too old"),
    ("13.0", (13, 0), "580.65.06", "580.9", "pass", "full support"),   # 65 > 9
    ("12.4", None, None, None, "skip", "could not be read"),
]


@pytest.mark.parametrize("torch_cuda, driver_cuda, driver, minimum, status, words", CUDA_DRIVER)
def test_cuda_driver(torch_cuda, driver_cuda, driver, minimum, status, words):
    check = gv.check_cuda_driver(torch_cuda, driver_cuda, driver, minimum)
    assert check.status == status and words in check.detail, check.detail


def test_cudnn_and_nccl_versions():
    assert gv.check_cudnn(90100).value == "9.1.0"
    assert gv.check_cudnn(8902).value == "8.9.2"
    assert gv.check_cudnn(None).status == "fail"
    assert gv.check_nccl((2, 21, 5)).value == "2.21.5"
    assert gv.check_nccl(None).status == "fail"


def test_bf16_only_where_capability_is_8_or_more():
    assert gv.check_bf16([{**H100, "works": True}]).status == "pass"
    assert gv.check_bf16([{**H100, "works": False}]).status == "fail"
    assert gv.check_bf16([{**V100, "works": False}]).status == "skip"


def test_matmul_tolerance():
    assert gv.check_matmul("matmul_gpu", "GPU 0", 1e-6, 1e-4).status == "pass"
    wrong = gv.check_matmul("matmul_gpu", "GPU 0", 0.3, 1e-4)
    assert wrong.status == "fail" and "Xid" in wrong.remedy


def test_shm_size():
    assert gv.check_shm(2 * 2**30, 1.0).status == "pass"
    small = gv.check_shm(64 * 2**20, 1.0)
    assert small.status == "fail" and "--ipc=host" in small.remedy
    assert gv.check_shm(None, 1.0).status == "skip"


@pytest.mark.parametrize("measured, peak, status", [(700, 989, "pass"), (400, 989, "fail"), (700, None, "skip")])
def test_tflops_against_a_fraction_of_the_datasheet_peak(measured, peak, status):
    assert gv.check_tflops_vs_peak(measured, peak, 0.5).status == status


@pytest.mark.parametrize("measured, baseline, status", [(700, 720, "pass"), (560, 720, "fail"), (700, None, "skip")])
def test_tflops_against_the_hosts_baseline(measured, baseline, status):
    assert gv.check_tflops_vs_baseline(measured, baseline, 0.8).status == status


def test_bandwidth_and_allreduce():
    assert gv.check_h2d([{"index": 0, "measured": 24.0, "floor": 10.0}]).status == "pass"
    assert gv.check_h2d([{"index": 0, "measured": 3.0, "floor": 10.0}]).status == "fail"
    assert gv.check_allreduce(1, None, None, 0).status == "skip"
    assert gv.check_allreduce(8, 420.0, None, 100).status == "pass"
    assert gv.check_allreduce(8, 20.0, None, 100).status == "fail"
    timeout = gv.check_allreduce(8, None, "no result within 120 s", 0)
    assert timeout.status == "fail" and "within 120 s" in timeout.detail


def test_driver_version_is_read_from_proc(tmp_path):
    proprietary = tmp_path / "proprietary"
    proprietary.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
    open_module = tmp_path / "open"
    open_module.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n")
    assert gv.driver_version_from_proc(str(proprietary)) == "535.104.05"
    assert gv.driver_version_from_proc(str(open_module)) == "580.65.06"
    assert gv.driver_version_from_proc(str(tmp_path / "missing")) is None


def test_summary_and_exit_code():
    checks = [gv.passed("a", "ok"), gv.skipped("b", "why", "how")]
    assert gv.summarise(checks)["exit_code"] == 0
    assert gv.summarise(checks + [gv.failed("c", "bad", "fix")])["exit_code"] == 1


# --- the whole run in GPU mode, with a fake torch and fake measurements --------------------------


def fake_torch(devices):
    properties = [SimpleNamespace(name=d["name"], major=d["capability"][0], minor=d["capability"][1],
                                  total_memory=80 * 2**30, pci_domain_id=0, pci_bus_id=0x18 + index, pci_device_id=0)
                  for index, d in enumerate(devices)]
    cuda = SimpleNamespace(
        is_available=lambda: True, device_count=lambda: len(devices),
        get_device_properties=lambda index: properties[index],
        get_arch_list=lambda: ["sm_80", "sm_90"], nccl=SimpleNamespace(version=lambda: (2, 21, 5)),
    )
    return SimpleNamespace(
        __version__="2.13.0+fake", version=SimpleNamespace(cuda="12.8"), cuda=cuda,
        backends=SimpleNamespace(cudnn=SimpleNamespace(is_available=lambda: True, version=lambda: 90100)),
        _C=SimpleNamespace(_cuda_getDriverVersion=lambda: 13000),
    )


def options(**overrides):
    values = dict(expect_gpus=2, require_gpu=False, driver_version="580.65.06", min_driver="570.26",
                  min_shm_gb=0.0, peak_tflops=989.0, min_fraction=0.5, baseline_tflops=None, baseline_drop=0.8,
                  matmul_size=256, bandwidth_mb=1, min_h2d_gbps=None, min_busbw_gbps=100.0, nccl_timeout_s=5.0,
                  skip_performance=False, depth="full", min_stack_mb=64, h2d_fraction=0.6, hbm_peak_gbps=3350.0, hbm_fraction=0.6,
                  hbm_mb=1, allreduce_mb=1, sysfs_pci=gv.SYSFS_PCI,
                  inject={"memlock_bytes": -1, "stack_bytes": 64 * 2**20})
    values.update(overrides)
    return Namespace(**values)


@pytest.fixture
def fake_measurements(monkeypatch):
    monkeypatch.setattr(gv, "gpu_matmul_error", lambda torch, index: 1e-7)
    monkeypatch.setattr(gv, "cpu_matmul_error", lambda torch: 1e-7)
    monkeypatch.setattr(gv, "bf16_works", lambda torch, index: True)
    monkeypatch.setattr(gv, "bf16_tflops", lambda torch, index, size: 700.0 if index == 0 else 300.0)
    monkeypatch.setattr(gv, "h2d_gbps", lambda torch, index, megabytes: 50.0)   # Gen5 x16: floor 37.8
    monkeypatch.setattr(gv, "allreduce_busbw", lambda count, megabytes, timeout: (350.0, None))
    monkeypatch.setattr(gv, "conv_error", lambda torch, device, dtype: 1e-3)
    monkeypatch.setattr(gv, "amp_step", lambda torch, device: {"loss": 2.3, "scale": 65536.0, "updated": True})
    monkeypatch.setattr(gv, "copy_gbps", lambda torch, device, megabytes: 2900.0)
    monkeypatch.setattr(gv, "pcie_link", lambda address, root: {"gen": 5, "width": 16, "max_gen": 5, "max_width": 16})


def test_gpu_mode_runs_every_check_and_the_slowest_gpu_decides(fake_measurements):
    torch = fake_torch([H100, {**H100, "index": 1}])
    report = gv.build_report(torch, options())
    by_name = {check["name"]: check for check in report["checks"]}
    assert report["mode"] == "gpu" and len(report["host"]["devices"]) == 2
    assert set(gv.GPU_CHECKS) <= set(by_name)
    assert by_name["bf16_tflops_vs_peak"]["status"] == "fail"      # GPU 1 at 300 < 0.5 * 989
    assert by_name["bf16_tflops_vs_baseline"]["status"] == "skip"
    assert by_name["nccl_allreduce"]["value"] == 350.0
    failed = [name for name, check in by_name.items() if check["status"] == "fail"]
    assert failed == ["bf16_tflops_vs_peak"]
    assert report["summary"]["exit_code"] == 1


def test_gpu_mode_without_performance(fake_measurements):
    report = gv.build_report(fake_torch([H100]), options(expect_gpus=1, skip_performance=True))
    assert report["summary"]["fail"] == 0
    skipped = {check["name"] for check in report["checks"] if check["status"] == "skip"}
    assert {"bf16_tflops_vs_peak", "h2d_bandwidth", "nccl_allreduce"} <= skipped


def test_without_torch_the_document_still_comes_out():
    report = gv.build_report(None, options())
    assert report["checks"][0]["name"] == "torch_import" and report["summary"]["exit_code"] == 1

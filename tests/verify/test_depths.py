"""The script's two depths: quick runs the health checks and times nothing, full runs everything;
the report says which, and lists what a quick run left out. NCCL init's worker runs here with the
gloo backend on CPU torch (the same code the payload runs with NCCL on GPUs)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.gpu.payload import gpu_check
from tests.verify.test_gpu_verify import H100, fake_measurements, fake_torch, gv, options, run_script  # noqa: F401

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TIMED = ("bf16_tflops", "h2d_gbps", "copy_gbps", "allreduce_busbw", "conv_error", "amp_step")


@pytest.fixture(scope="module")
def quick_cpu_report():
    completed = run_script("--json", "--depth", "quick", "--min-shm-gb", "0", "--expect-gpus", "8")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_a_quick_cpu_run_says_its_depth_and_what_it_left_out(quick_cpu_report):
    assert quick_cpu_report["depth"] == "quick" and quick_cpu_report["expect_gpus"] == 8
    assert quick_cpu_report["not_run"] == ["cudnn_conv", "amp_fp16_step", *gv.PERFORMANCE_CHECKS]
    names = {check["name"] for check in quick_cpu_report["checks"]}
    assert set(gv.QUICK_GPU_CHECKS) <= names and not names & set(quick_cpu_report["not_run"])
    assert quick_cpu_report["summary"]["exit_code"] == 0


def test_a_full_run_leaves_nothing_out():
    report = gv.build_report(None, options())
    assert (report["depth"], report["not_run"]) == ("full", [])


def test_quick_on_gpus_never_times_anything(fake_measurements, monkeypatch):
    def timed(*args, **kwargs):
        raise AssertionError("a timed measurement ran at quick depth")

    for name in TIMED:
        monkeypatch.setattr(gv, name, timed)
    monkeypatch.setattr(gv, "nccl_init", lambda count, timeout: ({"sum": 3.0, "seconds": 1.4}, None))
    report = gv.build_report(fake_torch([H100, {**H100, "index": 1}]), options(depth="quick"))
    by_name = {check["name"]: check for check in report["checks"]}
    assert [name for name in by_name if name in gv.GPU_CHECKS + ("nccl_init",)] == list(gv.QUICK_GPU_CHECKS)
    assert by_name["nccl_init"]["status"] == "pass" and by_name["device_count"]["floor"] == 2
    assert report["summary"]["fail"] == 0 and report["mode"] == "gpu"


@pytest.mark.parametrize("count, result, error, status, words", [
    (1, None, None, "skip", "single-GPU host"),
    (8, None, "no result within 120 s", "fail", "within 120 s"),
    (8, {"sum": 35.0, "seconds": 2.0}, None, "fail", "gave 35.0, not 36.0"),
    (8, {"sum": 36.0, "seconds": 2.0}, None, "pass", "8 GPUs formed"),
])
def test_nccl_init(count, result, error, status, words):
    check = gv.check_nccl_init(count, result, error)
    assert check.status == status and words in check.detail, check.detail


def test_the_nccl_init_worker_forms_a_group_and_sums_exactly():
    """Two processes over gloo on the CPU: the spawn, the rendezvous, the sum and the result file."""
    result, error = gpu_check.run_workers(gpu_check._nccl_init_worker, 2, ("gloo",), 120)
    assert error is None and result["sum"] == 3.0
    assert gpu_check.check_nccl_init(2, result, error).status == "pass"


def test_an_unknown_depth_exits_2():
    completed = run_script("--depth", "deep")
    assert completed.returncode == 2 and "invalid choice: 'deep'" in completed.stderr


@pytest.mark.parametrize("depth", ["full", "quick"])
def test_the_recorded_sandbox_reports_match_what_the_script_runs_now(depth, quick_cpu_report):
    """tests/verify/fixtures/gpu_report_sandbox_*.json (the GPU table's tests read them) were
    recorded from the module on CPU torch; a check added to the script must show there too."""
    recorded = json.loads((FIXTURES / f"gpu_report_sandbox_{depth}.json").read_text())
    live = quick_cpu_report if depth == "quick" else json.loads(run_script("--json", "--min-shm-gb", "0").stdout)
    script_checks = [check["name"] for check in recorded["checks"]][:len(live["checks"])]
    assert script_checks == [check["name"] for check in live["checks"]]
    assert recorded["depth"] == depth and recorded["not_run"] == live["not_run"]

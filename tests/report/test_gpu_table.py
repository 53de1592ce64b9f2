"""The GPU table from realistic gpu_verify results: a sandbox host's CPU-mode report as the module
recorded it (tests/verify/fixtures/gpu_report_sandbox_*.json), an 8x H100 host's reports built by the
script with H100 figures and judged by the module with healthy nvidia-smi output, one of them
failing a check, a quick one, and a host skipped because its GPUs were busy."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from provision.report.gpu_table import GpuRow, gpu_reasons, gpu_row, gpu_rows, gpu_rows_json, gpu_table
from tests.modules.test_gpu_verify_data import first_read, verify
from tests.report.builders import result
from tests.verify.test_gpu_verify import H100, fake_torch, gv, options

FIXTURES = Path(__file__).resolve().parents[1] / "verify" / "fixtures"
H100_MODELS = [{"device_id": "2330", "bf16_tflops": 989}] * 8
H100_ARGS = {"gpu_models": H100_MODELS, "nvswitch_count": 4, "expect_gpus": 8}


def sandbox_report(depth: str = "full") -> dict:
    return json.loads((FIXTURES / f"gpu_report_sandbox_{depth}.json").read_text())


@pytest.fixture
def h100(monkeypatch):
    """build(depth, h2d) -> the script's report on 8x H100 SXM with healthy figures (slowest GPU)."""
    monkeypatch.setattr(gv, "gpu_matmul_error", lambda torch, index: 2e-7)
    monkeypatch.setattr(gv, "cpu_matmul_error", lambda torch: 3e-7)
    monkeypatch.setattr(gv, "bf16_works", lambda torch, index: True)
    monkeypatch.setattr(gv, "bf16_tflops", lambda torch, index, size: 712.4 + index)
    monkeypatch.setattr(gv, "conv_error", lambda torch, device, dtype: 4e-3)
    monkeypatch.setattr(gv, "amp_step", lambda torch, device: {"loss": 2.31, "scale": 65536.0, "updated": True})
    monkeypatch.setattr(gv, "copy_gbps", lambda torch, device, megabytes: 2950.0)
    monkeypatch.setattr(gv, "pcie_link", lambda address, root: {"gen": 5, "width": 16, "max_gen": 5, "max_width": 16})
    monkeypatch.setattr(gv, "allreduce_busbw", lambda count, megabytes, timeout: (381.2, None))
    monkeypatch.setattr(gv, "nccl_init", lambda count, timeout: ({"sum": 36.0, "seconds": 2.4}, None))

    def build(depth: str = "full", h2d: float = 52.3) -> dict:
        monkeypatch.setattr(gv, "h2d_gbps", lambda torch, index, megabytes: h2d if index == 3 else 52.3)
        devices = [{**H100, "index": index} for index in range(8)]
        return gv.build_report(fake_torch(devices), options(
            depth=depth, expect_gpus=8, require_gpu=True, peak_tflops=989.0, min_busbw_gbps=150.0,
            baseline_tflops=705.0, driver_version="580.65.06"))
    return build


def task(host: str, report: dict | None = None, read=None, **args):
    """The TaskResult of gpu_verify on `host`, the module judging `report` (host checks added)."""
    outcome, _ = verify({**H100_ARGS, **args}, read=read, report=report)
    return result(host, "gpu_verify : verify the GPUs", outcome.status, msg=outcome.msg, output=outcome.data,
                  module="gpu_verify")


def render(rows: list[GpuRow]) -> str:
    console = Console(record=True, width=220)
    console.print(gpu_table(rows))
    return console.export_text()


# ---- rows from reports -------------------------------------------------------------------------------

def test_a_sandbox_host_in_cpu_mode():
    row = gpu_row("host01", sandbox_report())
    assert (row.mode, row.depth, row.torch, row.cuda, row.driver) == ("CPU", "full", "2.13.0+cpu", None, None)
    assert (row.gpus_seen, row.gpus_expected, row.tflops, row.status) == (0, 8, None, "passed")
    no_cuda = [reason for reason in row.reasons if reason.endswith("no CUDA device: CPU build of torch "
                                                                   "(torch.version.cuda is None)")]
    assert len(no_cuda) == 1 and no_cuda[0].startswith("cuda_available, device_count, arch_coverage, "), \
        "one line for the checks that share a reason"
    assert any(reason.startswith("memlock_limit: ulimit -l") for reason in row.reasons)
    assert any(reason.startswith("persistence_mode, ecc_errors: ") and "not judged" in reason for reason in row.reasons)


def test_an_h100_host_passing_at_full_depth(h100):
    row = gpu_rows([task("gpu01", h100())])[0]
    assert (row.mode, row.depth, row.torch, row.cuda, row.driver) == ("GPU", "full", "2.13.0+fake", "12.8", "580.65.06")
    assert (row.gpus_seen, row.gpus_expected) == (8, 8)
    assert (row.tflops, row.tflops_floor, row.h2d_gbps, row.allreduce_gbps) == (712.4, 564.0, 52.3, 381.2)
    assert row.status == "passed" and row.source == "this run" and row.reasons == []


def test_a_failed_check_fails_the_row_and_comes_first_with_its_detail(h100):
    failing = task("gpu02", h100(h2d=3.1))
    assert failing.status == "failed", "the module's failure data carries the report into the result"
    row = gpu_rows([failing])[0]
    assert row.status == "failed" and row.h2d_gbps == 3.1
    assert row.reasons[0].startswith("h2d_bandwidth: pinned host->device copy on GPU 3")
    assert "below the floor" in row.reasons[0]


def test_a_quick_report_has_no_figures_and_says_so(h100):
    row = gpu_rows([task("gpu03", h100("quick"), depth="quick")])[0]
    assert (row.depth, row.status, row.gpus_seen, row.tflops, row.h2d_gbps) == ("quick", "passed", 8, None, None)
    assert row.reasons == [], "what quick leaves out is not a skip"
    text = render([row])
    assert "quick" in text and "passed (quick)" in text
    assert gpu_row("host01", sandbox_report("quick")).depth == "quick"


def test_a_busy_host_is_a_skipped_row_with_the_count():
    busy = first_read(("12345, /usr/bin/python3\n12346, /usr/bin/python3\n2231, /opt/conda/bin/torchrun\n", 0))
    row = gpu_rows([task("gpu04", read=busy)])[0]
    assert (row.status, row.mode, row.tflops) == ("skipped", "", None)
    assert gpu_reasons([row]) == ["gpu04: skipped: 3 GPU process(es) running (python3 x2, torchrun)"]


@pytest.mark.parametrize("status, msg, output, row_status, reason", [
    ("skipped", "conditional result was False", {"skipped": True}, "skipped", "skipped: conditional result was False"),
    # a module that can say "skipped" itself (ModuleSkipped): the same row
    ("skipped", "skipped: 1 GPU container(s) running (trainer)",
     {"skipped_reason": "1 GPU container(s) running (trainer)"}, "skipped",
     "skipped: 1 GPU container(s) running (trainer)"),
    ("failed", "i:1 is not on the host, and check mode pulls nothing (a real run pulls it first)", {"rc": 125},
     "failed", "failed: i:1 is not on the host, and check mode pulls nothing (a real run pulls it first)"),
    ("unreachable", "ssh: connection refused", {}, "not run", "unreachable: ssh: connection refused"),
])
def test_results_without_a_report(status, msg, output, row_status, reason):
    row = gpu_rows([result("gpu05", "gpu_verify : verify", status, msg=msg, output=output, module="gpu_verify")])[0]
    assert (row.status, row.reasons) == (row_status, [reason])


def test_only_gpu_verify_results_make_rows_and_no_log_hides_the_details(h100):
    hidden = task("gpu06", h100(h2d=3.1))
    hidden.no_log = True
    rows = gpu_rows([result("gpu06", "docker : install"), hidden])
    assert [(row.host, row.status, row.reasons) for row in rows] == [("gpu06", "failed", [])]


def test_an_old_report_without_the_new_keys(h100):
    report = h100()
    for key in ("depth", "not_run", "expect_gpus"):
        del report[key]
    next(check for check in report["checks"] if check["name"] == "device_count")["floor"] = None
    row = gpu_row("gpu07", report, source="last.json")
    assert (row.depth, row.gpus_seen, row.gpus_expected, row.source) == ("full", 8, 8, "last.json")


@pytest.mark.parametrize("report", [None, {}, {"checks": "?"}, {"mode": "gpu", "host": "?", "checks": [1, {}]}])
def test_a_broken_report_still_gives_a_row(report):
    row = gpu_row("gpu08", report, "not run" if report is None else None)
    assert row.host == "gpu08" and row.tflops is None
    assert render([row])


# ---- rendering ---------------------------------------------------------------------------------------

def test_the_table_and_the_reasons_under_it(h100):
    rows = gpu_rows([task("gpu01", h100()), task("gpu02", h100(h2d=3.1))]) + [gpu_row("host01", sandbox_report())]
    lines = [line.strip() for line in render(rows).splitlines() if line.strip()]
    assert lines[0] == "GPU"
    header = lines[1]
    for column in ("host", "mode", "torch", "CUDA", "driver", "GPUs", "bf16 TFLOPS", "H2D GB/s", "all-reduce GB/s",
                   "status"):
        assert column in header
    gpu01 = next(line for line in lines if line.startswith("gpu01"))
    cells = ("GPU", "12.8", "580.65.06", "8/8", "712.4 / 564.0", "52.3", "381.2", "passed")
    assert all(cell in gpu01 for cell in cells)
    host01 = next(line for line in lines if line.startswith("host01"))
    assert all(cell in host01 for cell in ("CPU", "2.13.0+cpu", "0/8", "passed"))
    reasons = gpu_reasons(rows)
    assert reasons[0].startswith("gpu02: h2d_bandwidth: ")
    assert any(line.startswith("host01: cuda_available, device_count, ") for line in reasons)
    assert gpu_table([]) is None


def test_json_rows(h100):
    rows = gpu_rows_json([gpu_row("gpu01", h100())])
    assert json.loads(json.dumps(rows)) == rows
    assert set(rows[0]) == {"host", "mode", "depth", "torch", "cuda", "driver", "gpus_seen", "gpus_expected", "tflops",
                            "tflops_floor", "h2d_gbps", "allreduce_gbps", "status", "reasons", "source"}

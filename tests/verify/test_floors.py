"""The container checks that used to pass a broken server, each shown failing on a case made to fail
and passing on a healthy one: figures injected into the pure checks, the measurements themselves run
on CPU torch where they can, and `--inject` end to end."""
from __future__ import annotations

import json
import math
import os

import pytest

from tests.verify.test_gpu_verify import H100, V100, fake_measurements, fake_torch, gv, options, run_script  # noqa: F401

# --- unknown floors: a fail on a GPU host, a skip only where no GPU is required -------------------


@pytest.mark.parametrize("require, status", [(True, "fail"), (False, "skip")])
def test_an_unknown_peak_fails_when_a_gpu_is_required(require, status):
    check = gv.check_tflops_vs_peak(700.0, None, 0.5, require)
    assert check.status == status and "gpu_verify_peak_tflops" in check.remedy


def test_tflops_reports_its_floor():
    check = gv.check_tflops_vs_peak(400.0, 989.0, 0.5)
    assert check.status == "fail" and check.floor == 494.5


# --- H2D against the PCIe link, and the link itself -----------------------------------------------


def fake_sysfs(root, address, current, width, maximum, max_width, upstream_max="32.0 GT/s PCIe", upstream_width="16"):
    """/sys/bus/pci/devices/<address> as a link to the device folder below its upstream port."""
    port = root / "devices" / "pci0000:16" / "0000:16:01.0"
    device = port / address
    device.mkdir(parents=True)
    for name, text in {"current_link_speed": current, "current_link_width": width, "max_link_speed": maximum,
                       "max_link_width": max_width}.items():
        (device / name).write_text(text + "\n")
    (port / "max_link_speed").write_text(upstream_max + "\n")
    (port / "max_link_width").write_text(upstream_width + "\n")
    (root / "bus").mkdir(exist_ok=True)
    os.symlink(device, root / "bus" / address)
    return str(root / "bus")


def test_the_h2d_floor_is_a_fraction_of_the_links_theoretical_rate(tmp_path):
    bus = fake_sysfs(tmp_path, "0000:18:00.0", "32.0 GT/s PCIe", "16", "32.0 GT/s PCIe", "16")
    link = gv.pcie_link("0000:18:00.0", bus)
    assert link == {"gen": 5, "width": 16, "max_gen": 5, "max_width": 16}
    floor, how = gv.h2d_floor(link, 0.6, None)
    assert floor == pytest.approx(0.6 * 63.0, rel=1e-3) and "Gen5 x16" in how
    assert gv.check_h2d([{"index": 0, "measured": 50.0, "floor": floor, "how": how}]).status == "pass"
    slow = gv.check_h2d([{"index": 0, "measured": 3.1, "floor": floor, "how": how}])
    assert slow.status == "fail" and slow.value == 3.1 and slow.floor == pytest.approx(37.8, abs=0.02)
    assert gv.h2d_floor({"max_gen": 3, "max_width": 16}, 0.6, None)[0] == pytest.approx(0.6 * 15.76, rel=1e-3)
    assert gv.h2d_floor(None, 0.6, 20.0) == (20.0, "explicit floor")


def test_h2d_without_a_known_link_fails_on_a_gpu_host():
    entry = [{"index": 0, "measured": 50.0, "floor": None, "how": "link unknown"}]
    assert gv.check_h2d(entry, require_gpu=True).status == "fail"
    assert gv.check_h2d(entry, require_gpu=False).status == "skip"


def test_a_link_below_its_maximum_fails(tmp_path):
    bus = fake_sysfs(tmp_path, "0000:18:00.0", "16.0 GT/s PCIe", "8", "32.0 GT/s PCIe", "16")
    link = gv.pcie_link("0000:18:00.0", bus)
    check = gv.check_pcie_link([{"index": 0, **link}])
    assert check.status == "fail" and "Gen4 x8 < Gen5 x16" in check.detail and check.floor == {"GPU 0": "Gen5 x16"}


def test_a_gen5_gpu_in_a_gen4_slot_is_at_its_maximum(tmp_path):
    bus = fake_sysfs(tmp_path, "0000:18:00.0", "16.0 GT/s PCIe", "16", "32.0 GT/s PCIe", "16",
                     upstream_max="16.0 GT/s PCIe")
    check = gv.check_pcie_link([{"index": 0, **gv.pcie_link("0000:18:00.0", bus)}])
    assert check.status == "pass", check.detail


def test_an_unreadable_link_fails_on_a_gpu_host(tmp_path):
    assert gv.pcie_link("0000:99:00.0", str(tmp_path)) is None
    assert gv.check_pcie_link([{"index": 0, "gen": None}], require_gpu=True).status == "fail"


# --- all-reduce and memory bandwidth ----------------------------------------------------------------


def test_allreduce_below_its_topology_floor_fails():
    nvlink_down = gv.check_allreduce(8, 12.0, None, 150.0)   # NCCL fell back to PCIe
    assert nvlink_down.status == "fail" and nvlink_down.floor == 150.0 and nvlink_down.value == 12.0
    assert gv.check_allreduce(8, 380.0, None, 150.0).status == "pass"
    assert gv.check_allreduce(8, 380.0, None, None, require_gpu=True).status == "fail"


def test_hbm_bandwidth_against_the_datasheet():
    healthy = gv.check_hbm([{"index": 0, "measured": 2900.0}], 3350.0, 0.6)
    assert healthy.status == "pass" and healthy.floor == 2010.0
    slow = gv.check_hbm([{"index": 0, "measured": 2900.0}, {"index": 5, "measured": 900.0}], 3350.0, 0.6)
    assert slow.status == "fail" and "GPU 5" in slow.detail and slow.value == 900.0
    assert gv.check_hbm([{"index": 0, "measured": 2900.0}], None, 0.6, require_gpu=True).status == "fail"


def test_the_copy_measurement_runs():
    assert gv.copy_gbps(gv.import_torch(), "cpu", 4, repeats=2) > 0


# --- cuDNN convolution and the AMP step ---------------------------------------------------------------


def test_the_conv_measurement_runs_and_matches_on_cpu():
    torch = gv.import_torch()
    assert gv.conv_error(torch, "cpu", "float32") < gv.CONV_TOLERANCE["float32"]
    assert gv.conv_error(torch, "cpu", "bfloat16") < gv.CONV_TOLERANCE["bfloat16"]


def test_a_wrong_or_raising_convolution_fails():
    good = [{"index": 0, "dtype": "bfloat16", "error": 4e-3, "failure": None}]
    assert gv.check_conv(good, gv.CONV_TOLERANCE).status == "pass"
    wrong = gv.check_conv([{"index": 0, "dtype": "float32", "error": 0.2, "failure": None}], gv.CONV_TOLERANCE)
    assert wrong.status == "fail" and wrong.floor == 1e-4
    raised = gv.check_conv([{"index": 1, "dtype": "bfloat16", "error": None,
                             "failure": "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"}], gv.CONV_TOLERANCE)
    assert raised.status == "fail" and "CUDNN_STATUS_EXECUTION_FAILED" in raised.detail


def test_the_amp_step_runs_on_cpu():
    step = gv.amp_step(gv.import_torch(), "cpu")
    assert math.isfinite(step["loss"]) and step["updated"] and step["scale"] == 65536.0
    assert gv.check_amp([{"index": 0, **step}]).status == "pass"


@pytest.mark.parametrize("broken, words", [
    ({"loss": float("nan")}, "loss nan"),
    ({"scale": 2.0**-10}, "GradScaler scale"),
    ({"updated": False}, "weights unchanged"),
    ({"failure": "CUDA error: an illegal memory access was encountered"}, "illegal memory access"),
])
def test_a_broken_amp_step_fails(broken, words):
    check = gv.check_amp([{"index": 0, "loss": 2.3, "scale": 65536.0, "updated": True, **broken}])
    assert check.status == "fail" and words in check.detail


def test_gpu_mode_a_cudnn_that_raises_fails_cudnn_conv(fake_measurements, monkeypatch):  # noqa: F811
    def raising(torch, device, dtype):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_INITIALIZED")
    monkeypatch.setattr(gv, "conv_error", raising)
    report = gv.build_report(fake_torch([H100, V100 | {"index": 1}]), options())
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["cudnn_conv"]["status"] == "fail" and "NOT_INITIALIZED" in by_name["cudnn_conv"]["detail"]
    assert by_name["amp_fp16_step"]["status"] == "pass"


def test_gpu_mode_a_slow_link_and_unknown_floors_fail(fake_measurements, monkeypatch):  # noqa: F811
    monkeypatch.setattr(gv, "pcie_link", lambda address, root: {"gen": 3, "width": 16, "max_gen": 5, "max_width": 16})
    monkeypatch.setattr(gv, "h2d_gbps", lambda torch, index, megabytes: 12.0)
    report = gv.build_report(fake_torch([H100]), options(expect_gpus=1, require_gpu=True, peak_tflops=None,
                                                         hbm_peak_gbps=None))
    failed = {check["name"] for check in report["checks"] if check["status"] == "fail"}
    assert failed == {"pcie_link", "h2d_bandwidth", "bf16_tflops_vs_peak", "hbm_bandwidth"}


# --- limits inside the container ------------------------------------------------------------------------


@pytest.mark.parametrize("name, soft, floor, status", [
    ("memlock_limit", -1, -1, "pass"), ("memlock_limit", 64 * 2**10, -1, "fail"), ("memlock_limit", 8 * 2**20, -1, "fail"),
    ("stack_limit", 64 * 2**20, 64 * 2**20, "pass"), ("stack_limit", -1, 64 * 2**20, "pass"),
    ("stack_limit", 8 * 2**20, 64 * 2**20, "fail"),
])
def test_limits(name, soft, floor, status):
    check = gv.check_limit(name, name, soft, floor, "remedy")
    assert check.status == status, check.detail


def test_limits_end_to_end_with_injected_figures():
    completed = run_script("--json", "--require-gpu", "--min-shm-gb", "0",
                           "--inject", "memlock_bytes=65536", "--inject", "stack_bytes=8388608")
    report = json.loads(completed.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert completed.returncode == 1
    assert checks["memlock_limit"]["status"] == "fail" and checks["memlock_limit"]["value"] == "64 KiB"
    assert checks["memlock_limit"]["floor"] == "unlimited"
    assert checks["stack_limit"]["status"] == "fail" and checks["stack_limit"]["floor"] == "64 MiB"
    small = run_script("--json", "--min-shm-gb", "1", "--inject", "shm_bytes=67108864")
    assert {check["name"]: check["status"] for check in json.loads(small.stdout)["checks"]}["shm_size"] == "fail"


def test_without_a_gpu_and_not_required_the_limits_are_skips_that_show_the_figure():
    completed = run_script("--json", "--min-shm-gb", "0", "--inject", "memlock_bytes=65536")
    assert completed.returncode == 0
    memlock = {check["name"]: check for check in json.loads(completed.stdout)["checks"]}["memlock_limit"]
    assert memlock["status"] == "skip" and "would fail" in memlock["detail"] and memlock["value"] == "64 KiB"


def test_a_bad_injection_is_refused():
    completed = run_script("--inject", "tflops=3")
    assert completed.returncode == 2 and "NAME=BYTES" in completed.stderr

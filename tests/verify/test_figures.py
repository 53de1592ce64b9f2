"""Reading figures out of a gpu_verify report: the module's baseline and history's trend agree."""
from provision.modules.gpu_verify import _passed, _tflops
from provision.gpu.figures import report_figures

REPORT = {"checks": [
    {"name": "bf16_tflops_vs_peak", "status": "pass", "value": {"tflops": 712.4, "peak": 989.0, "fraction": 0.5}},
    {"name": "bf16_tflops_vs_baseline", "status": "skip", "value": {"tflops": 712.4, "baseline": None}},
    {"name": "h2d_bandwidth", "status": "pass", "value": 24.8},
    {"name": "nccl_allreduce", "status": "pass", "value": 381.0},
    {"name": "matmul_cpu", "status": "pass", "value": None},
]}


def test_figures_of_a_gpu_report():
    assert report_figures(REPORT) == (True, 712.4, 24.8, 381.0)


def test_the_module_records_the_baseline_from_the_dict_value():
    assert _tflops(REPORT) == 712.4 and _passed(REPORT)


def test_a_cpu_report_has_no_figures_and_still_passes():
    cpu = {"checks": [{"name": "bf16_tflops_vs_peak", "status": "skip", "value": None},
                      {"name": "matmul_cpu", "status": "pass", "value": None}]}
    assert _tflops(cpu) is None and _passed(cpu)
    failing = {"checks": [{"name": "matmul_gpu", "status": "fail", "value": None}]}
    assert not _passed(failing)

"""gpu_verify as data: given what the host prints for its first read (GPU jobs running, the stored
baseline), expect these commands and this result (no host; tests/modules/systemhost.py).

The GPU jobs come from `nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader` (one
line per process, "12345, /usr/bin/python3"; nothing when idle) and `docker inspect` of the running
containers (name, runtime, device requests as JSON). A busy host is skipped: the container never runs.
"""
from __future__ import annotations

import json

import pytest

from provision.gpu.host_checks import MARK
from provision.modules.gpu_verify import GpuVerify
from provision.transport.base import CommandResult
from tests.modules.systemhost import run_on
from tests.support.fakehost import FakeContext
from tests.verify.test_host_checks import host_output

IMAGE = "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime"
STATE = "/var/lib/provision/gpu_verify"
REFUSED = ("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.", 2)  # the sandbox's stand-in
NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
             "latest NVIDIA driver is installed and running.", 9)
GPU_REQUEST = '[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}]'
CDI_REQUEST = '[{"Driver":"cdi","Count":0,"DeviceIDs":["nvidia.com/gpu=all"],"Capabilities":null,"Options":null}]'


def first_read(apps=("", 0), containers=("", 0), baseline: str | None = None) -> CommandResult:
    sections = {"compute_apps": apps, "containers": containers}
    if baseline is not None:
        sections["baseline"] = (baseline, 0)
    return CommandResult(0, "".join(f"{MARK} {name}\n{text.rstrip()}\n{MARK} rc={rc}\n"
                                    for name, (text, rc) in sections.items()), "")


def script_report(depth="full", tflops: float | None = 700.0):
    checks = [{"name": "cuda_available", "status": "pass", "detail": "ok", "remedy": "", "value": True, "floor": None}]
    if tflops is not None:
        checks.append({"name": "bf16_tflops_vs_peak", "status": "pass", "detail": "ok", "remedy": "",
                       "value": {"tflops": tflops, "peak": 989.0}, "floor": 494.5})
    return {"schema": "provision.gpu_verify", "mode": "gpu", "depth": depth, "checks": checks, "summary": {}}


def verify(args=None, read=None, report=None, check=False):
    """(result, host): gpu_verify on a host whose first read prints `read` (idle by default)."""
    answers = [("--query-compute-apps", read or first_read()),
               ("docker run", CommandResult(0, json.dumps(report or script_report()) + "\n", "")),
               ("nvlink", CommandResult(0, host_output(), ""))]
    return run_on("gpu_verify", {"image": IMAGE, **(args or {})}, answers, check=check)


def read_command(args):
    context = FakeContext()
    command = GpuVerify(GpuVerify.check_args({"image": IMAGE, **args}), context).read_command()
    assert context.commands == [], "read_command ran something"
    return command


# ---- the first read ----------------------------------------------------------------------------------

def test_the_first_read_asks_for_gpu_jobs_and_the_baseline_in_one_command():
    command = read_command({})
    assert "nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader" in command
    assert "docker ps -q" in command and "{{json .HostConfig.DeviceRequests}}" in command
    assert f"cat {STATE}/baseline.json" in command


@pytest.mark.parametrize("args", [{"reset_baseline": True}, {"depth": "quick"}])
def test_no_baseline_is_read_when_it_is_reset_or_the_depth_has_no_figure(args):
    assert "baseline.json" not in read_command(args)
    assert "--query-compute-apps" in read_command(args)


# ---- busy GPUs: (compute apps section, containers section) -> skipped reason, or None: the checks run --

BUSY = [
    pytest.param(("12345, /usr/bin/python3\n12346, /usr/bin/python3\n2231, /opt/conda/bin/torchrun\n", 0), ("", 0),
                 "3 GPU process(es) running (python3 x2, torchrun)", id="real-csv"),
    pytest.param(("4242, [Not Found]\n", 0), ("", 0), "1 GPU process(es) running ([Not Found])",
                 id="process-in-another-pid-namespace"),
    pytest.param(("1, a\n2, b\n3, c\n4, d\n5, d\n", 0), ("", 0), "5 GPU process(es) running (d x2, a, b, ...)",
                 id="many-names"),
    pytest.param(("", 0), ("/trainer runc " + GPU_REQUEST + "\n/web runc null\n", 0),
                 "1 GPU container(s) running (trainer)", id="docker-gpus-all"),
    pytest.param(("", 0), ("/legacy nvidia null\n", 0), "1 GPU container(s) running (legacy)", id="nvidia-runtime"),
    pytest.param(("", 0), ("/cdi runc " + CDI_REQUEST + "\n", 0), "1 GPU container(s) running (cdi)", id="cdi"),
    pytest.param(("777, /usr/bin/python3\n", 0), ("/trainer runc " + GPU_REQUEST + "\n", 0),
                 "1 GPU process(es) running (python3); 1 GPU container(s) running (trainer)", id="both"),
    pytest.param(("", 0), ("", 0), None, id="idle"),
    pytest.param(("/bin/sh: 1: nvidia-smi: not found", 127), ("", 0), None, id="nvidia-smi-absent"),
    pytest.param(NO_DRIVER, ("", 0), None, id="nvidia-smi-failing"),
    pytest.param(REFUSED, ("", 0), None, id="sandbox-stand-in"),
    pytest.param(("", 0), ("/web runc null\n/db runc []\n", 0), None, id="containers-without-gpus"),
    pytest.param(("", 0), ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", 1), None,
                 id="docker-down"),
]


@pytest.mark.parametrize("apps, containers, reason", BUSY)
def test_a_busy_host_is_skipped_before_the_container(apps, containers, reason):
    result, host = verify(read=first_read(apps, containers, baseline=""))
    if reason is None:
        assert result.status == "ok", result.msg
        assert "skipped_reason" not in result.data and result.data["report"]["checks"]
        assert any(command.startswith("docker run") for command in host.commands)
        return
    assert result.status == "skipped" and result.msg == f"skipped: {reason}"
    assert result.data["skipped_reason"] == reason and result.data["skipped"] is True
    assert len(host.commands) == 1, "the first read only: no container, no host checks, nothing written"


def test_when_busy_run_checks_anyway_and_keeps_the_figure_out_of_the_baseline():
    busy = first_read(("12345, /usr/bin/python3\n", 0), baseline=json.dumps({"runs": [700.0]}))
    result, host = verify({"when_busy": "run"}, read=busy)
    assert result.status == "ok" and result.data["report"]["busy"] == "1 GPU process(es) running (python3)"
    assert set(host.writes) == {f"{STATE}/last.json"}, "a shared GPU's figure never enters the baseline"


def test_an_idle_full_run_records_last_json_and_the_baseline():
    result, host = verify(read=first_read(baseline=json.dumps({"runs": [690.0]})))
    assert result.data["depth"] == "full" and "--depth full" in host.commands[1]
    assert "--baseline-tflops 690.0" in host.commands[1]
    assert set(host.writes) == {f"{STATE}/last.json", f"{STATE}/baseline.json"}


# ---- depths ------------------------------------------------------------------------------------------

def test_a_quick_run_keeps_its_report_apart_and_never_touches_the_baseline():
    result, host = verify({"depth": "quick"}, report=script_report("quick", tflops=None))
    assert result.status == "ok" and result.data["depth"] == "quick"
    docker = host.commands[1]
    assert "--depth quick" in docker and "--baseline-tflops" not in docker
    assert set(host.writes) == {f"{STATE}/last-quick.json"}, "last.json keeps the last full report"


@pytest.mark.parametrize("depth", ["quick", "full"])
def test_check_mode_writes_nothing_at_either_depth(depth):
    result, host = verify({"depth": depth}, check=True, report=script_report(depth))
    assert result.status == "ok" and host.writes == {}
    assert "--pull never" in host.commands[1]


def test_an_unknown_depth_or_busy_policy_is_refused():
    result, _ = verify({"depth": "deep", "when_busy": "wait"})
    assert result.status == "failed"
    assert "value of depth must be one of: quick, full" in result.msg and "value of when_busy must be one of: skip, run" in result.msg


# ---- moved from test_other_modules_data.py: check mode pulls no image ---------------------------------

def test_gpu_verify_in_check_mode_pulls_no_image():
    context = FakeContext([("docker run", CommandResult(125, "", "Unable to find image 'i:1' locally\n"))], check=True)
    result = GpuVerify({"image": "i:1"}, context).run()
    assert "--pull never" in context.commands[1]
    assert (result.status, result.msg) == ("failed", "i:1 is not on the host, and check mode pulls nothing "
                                                     "(a real run pulls it first)")
    real = FakeContext()
    GpuVerify({"image": "i:1"}, real).run()
    assert "--pull" not in real.commands[1], "a real run pulls the image when it is missing"

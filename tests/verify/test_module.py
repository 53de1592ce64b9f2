"""The gpu_verify module with canned host answers: which floors it hands the script, how host-side
nvidia-smi output joins the report, the rolling baseline, and check mode writing nothing."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from provision.modules.gpu_verify import BOOTSTRAP, GpuVerify, _baseline_runs, _median, _peak
from provision.transport.base import CommandResult
from provision.gpu.host_checks import HOST_CHECKS, MARK
from tests.verify.test_host_checks import host_output

H100_MODELS = [{"device_id": "2330", "bf16_tflops": 989}] * 8


def script_report(mode="gpu", tflops=700.0, failing=()):
    checks = [{"name": "cuda_available", "status": "pass", "detail": "ok", "remedy": "", "value": True, "floor": None},
              {"name": "bf16_tflops_vs_peak", "status": "pass", "detail": "ok", "remedy": "",
               "value": {"tflops": tflops, "peak": 989.0}, "floor": 494.5}]
    checks += [{"name": name, "status": "fail", "detail": "too slow", "remedy": "fix it", "value": 3.1, "floor": 37.8}
               for name in failing]
    return {"schema": "provision.gpu_verify", "mode": mode, "checks": checks, "summary": {}}


def first_read(baseline: str | None = None, apps: tuple[str, int] = ("", 0),
               containers: tuple[str, int] = ("", 0)) -> str:
    """What the first round trip prints: the GPU jobs (idle by default) and the stored baseline
    when it was asked for."""
    sections = {"compute_apps": apps, "containers": containers}
    if baseline is not None:
        sections["baseline"] = (baseline, 0)
    return "".join(f"{MARK} {name}\n{text.rstrip()}\n{MARK} rc={rc}\n" for name, (text, rc) in sections.items())


@dataclass
class Host:
    """A ModuleContext whose host answers the first read (GPU jobs, baseline), the docker run and
    the host read."""
    report: dict
    baseline: str = ""
    host: str = field(default_factory=host_output)
    check: bool = False
    apps: tuple = ("", 0)
    containers: tuple = ("", 0)
    facts: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    commands: list = field(default_factory=list)

    def run(self, command, *, stdin=None, timeout=None):
        self.commands.append((command, stdin))
        if "--query-compute-apps" in command:
            baseline = self.baseline if "baseline.json" in command else None
            return CommandResult(0, first_read(baseline, self.apps, self.containers), "")
        if command.startswith("docker run"):
            return CommandResult(0, json.dumps(self.report) + "\n", "")
        if MARK in command:
            return CommandResult(0, self.host, "")
        return CommandResult(0, "", "")

    def writes(self):
        """(destination, content) of each file written (remote_file.write_command's `dest=` line,
        wherever the write sits in the command: it may be wrapped, e.g. followed by a read)."""
        return [(re.search(r"^(?:\{ )?dest=(\S+)$", command, re.MULTILINE).group(1), stdin)
                for command, stdin in self.commands if 'cat > "$tmp"' in command]

    def docker(self):
        return next(command for command, _ in self.commands if command.startswith("docker run"))


def run(host, **args):
    return GpuVerify({"image": "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime", **args}, host).run()


def test_floors_come_from_the_tables_and_the_topology():
    host = Host(script_report())
    result = run(host, gpu_models=H100_MODELS, nvswitch_count=4)
    assert result.status == "ok", result.msg
    docker = host.docker()
    assert "--peak-tflops 989.0" in docker and "--hbm-peak-gbps 3350.0" in docker
    assert "--min-busbw-gbps 150" in docker and "--allreduce-mb 1024" in docker and "--require-gpu" in docker
    assert "--h2d-fraction 0.6" in docker and "--min-stack-mb 64" in docker
    assert "-i" in docker.split() and "-v" not in docker.split(), "the script comes on stdin, not from the host"
    assert host.commands[1][1].startswith("#!/usr/bin/env python3"), "the script itself is the docker run's stdin"
    pcie = Host(script_report())
    run(pcie, gpu_models=[{"device_id": "20b5", "bf16_tflops": 312}] * 2)
    assert "--min-busbw-gbps 5" in pcie.docker() and "--hbm-peak-gbps 1935.0" in pcie.docker()


def test_a_gpu_without_a_datasheet_figure_gets_no_floor_so_the_script_fails_it():
    host = Host(script_report())
    run(host, gpu_models=[{"device_id": "2237", "bf16_tflops": None}])  # A10G: no public datasheet
    assert "--peak-tflops" not in host.docker() and "--hbm-peak-gbps" not in host.docker()
    assert _peak([{"bf16_tflops": 989}, {"bf16_tflops": None}]) is None, "one unknown GPU: no guessed peak"
    explicit = Host(script_report())
    run(explicit, gpu_models=[{"device_id": "2bb5", "bf16_tflops": None}], peak_tflops=500, hbm_peak_gbps=1792)
    assert "--peak-tflops 500.0" in explicit.docker() and "--hbm-peak-gbps 1792.0" in explicit.docker()


def test_the_bootstrap_runs_the_script_from_stdin(tmp_path):
    import subprocess
    import sys
    from provision.modules.gpu_verify import SCRIPT_PATH
    completed = subprocess.run([sys.executable, "-c", BOOTSTRAP, "--json", "--min-shm-gb", "0"],
                               input=open(SCRIPT_PATH).read(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["mode"] == "cpu"


def test_host_checks_join_the_report_and_a_failure_prints_figure_and_floor():
    broken = host_output(gpus=("0, 00000000:18:00.0, Disabled, Enabled, 0, [N/A]\n", 0))
    host = Host(script_report(failing=["h2d_bandwidth"]), host=broken)
    result = run(host, nvswitch_count=4)
    assert result.status == "failed"
    assert "2 GPU check(s) failed" in result.msg
    assert "h2d_bandwidth: too slow [measured 3.1, floor 37.8]" in result.msg
    assert "persistence_mode: persistence mode is not Enabled on GPU 0 [measured {'0': 'Disabled'}, floor Enabled]" in result.msg
    report = result.data["report"]
    assert {check["name"] for check in report["checks"]} >= set(HOST_CHECKS)
    assert report["summary"]["fail"] == 2 and not report["summary"]["ok"]


def test_the_sandbox_host_skips_host_checks_and_passes():
    """CPU image, gpu_verify_require_gpu false, a stand-in nvidia-smi that refuses these queries."""
    refused = ("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.", 2)
    garbage = host_output(gpus=refused, remap=refused, nvlink=refused, query=refused, xid=("source=none", 1))
    host = Host(script_report(mode="cpu"), host=garbage)
    result = run(host, require_gpu=False)
    assert result.status == "ok", result.msg
    statuses = {check["name"]: check["status"] for check in result.data["report"]["checks"]}
    assert all(statuses[name] == "skip" for name in HOST_CHECKS)
    required = run(Host(script_report(mode="cpu"), host=garbage), require_gpu=True)
    assert required.status == "failed" and "persistence_mode" in required.msg


def test_check_mode_writes_nothing_on_the_host():
    host = Host(script_report(), check=True)
    result = run(host)
    assert result.status == "ok"
    assert host.writes() == [], host.writes()
    assert "--pull never" in host.docker(), "check mode pulls no image either"
    failing = Host(script_report(failing=["hbm_bandwidth"]), check=True)
    assert run(failing).status == "failed" and failing.writes() == []


def test_a_passing_run_records_last_json_and_joins_the_rolling_baseline():
    host = Host(script_report(tflops=700.0), baseline=json.dumps({"runs": [600.0, 610.0, 620.0], "bf16_tflops": 610.0}))
    result = run(host, baseline_runs=3)
    assert result.status == "ok" and result.data["baseline_tflops"] == 610.0
    assert "--baseline-tflops 610.0" in host.docker()
    writes = dict(host.writes())
    assert json.loads(writes["/var/lib/provision/gpu_verify/last.json"])["checks"]
    stored = json.loads(writes["/var/lib/provision/gpu_verify/baseline.json"])
    assert stored == {"runs": [610.0, 620.0, 700.0], "bf16_tflops": 620.0}, "the oldest run leaves, the median moves up"


def test_a_failing_run_never_lowers_the_baseline():
    host = Host(script_report(tflops=300.0, failing=["bf16_tflops_vs_baseline"]),
                baseline=json.dumps({"runs": [700.0], "bf16_tflops": 700.0}))
    assert run(host).status == "failed"
    written = [command for command, _ in host.writes()]
    assert any("last.json" in command for command in written)
    assert not any("baseline.json" in command for command in written)


def test_reset_baseline_ignores_the_stored_runs():
    host = Host(script_report(tflops=500.0), baseline=json.dumps({"runs": [900.0], "bf16_tflops": 900.0}))
    run(host, reset_baseline=True)
    assert "--baseline-tflops" not in host.docker()
    assert "baseline.json" not in host.commands[0][0]
    assert json.loads(dict(host.writes())["/var/lib/provision/gpu_verify/baseline.json"])["runs"] == [500.0]


@pytest.mark.parametrize("text, runs", [
    ("", []), ("not json", []), ('{"bf16_tflops": 712.4}', [712.4]),   # the first-run file of earlier versions
    ('{"runs": [1, 2, "x", -3, true]}', [1.0, 2.0]),
])
def test_baseline_file_reading(text, runs):
    assert _baseline_runs(text) == runs


def test_median():
    assert _median([]) is None and _median([600.0, 700.0, 650.0]) == 650.0

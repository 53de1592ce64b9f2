"""gpu_verify: run provision's verification script inside the PyTorch image, with the GPUs, and read
the host's own GPU state (provision/gpu/host_checks.py) beside it.

Three round trips: the GPU jobs running on the host (and the stored baseline), then the container,
then the host's own GPU state. The script (provision/gpu/payload/gpu_check.py, stdlib + torch only)
goes to the container on stdin and runs there from the container's /tmp: `docker run -i --gpus all
--ipc=host IMAGE python -c BOOTSTRAP --json --depth full ...`. Its JSON and the host checks are
judged together: any failed check fails the task with each check's figure, floor and remedy.

Two depths: `full` runs every check, the timed benchmarks too; `quick` is a health check (devices,
arch, a small matmul, NCCL init, the host checks) with no figure. Outside check mode a full report
is kept on the host (/var/lib/provision/gpu_verify/last.json) for `provision verify`, and a passing
run's bf16 figure joins the host's rolling baseline (the median of its last N passing runs), so a
later drop is caught; a quick report goes to last-quick.json and never touches either.

A host whose GPUs run a job (a compute process, or a container holding GPUs) is not checked at all
unless `when_busy: run`: the job would lose time to the benchmark and the figures would be the
job's. A forced run on a busy host keeps its report but never enters the baseline.

The easy thing to get wrong: this reads the host, it never changes it, so it runs in check mode too
(a nightly check must still prove the GPUs work), and then it must write nothing at all: no
script file, no last.json or last-quick.json, no baseline, and no image pulled (`--pull never`: in
check mode the pytorch_image role pulls nothing, and `docker run` would otherwise fetch gigabytes).
"""
from __future__ import annotations

import json
import os
import statistics
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed, ModuleSkipped
from provision.modules.remote_file import write_file
from provision.shell import join, quote
from provision.gpu.datasheet import memory_bandwidth
from provision.gpu.figures import report_figures
from provision.transport.base import CommandResult
from provision.gpu.host_checks import BUSY_QUERIES, busy_reason, judge_host, parse_compute_apps, \
    parse_gpu_containers, sections_command, split_sections
from provision.gpu.host_checks import read_command as host_read_command

SCRIPT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gpu", "payload", "gpu_check.py")
STATE_DIR = "/var/lib/provision/gpu_verify"
# Writes the script into the container's own /tmp and runs it there, so the host keeps no copy (check
# mode) and the all-reduce's spawned workers can import it by path.
BOOTSTRAP = ("import os, sys, tempfile\n"
             "path = os.path.join(tempfile.mkdtemp(prefix='provision-'), 'gpu_verify.py')\n"
             "open(path, 'w').write(sys.stdin.read())\n"
             "os.execv(sys.executable, [sys.executable, path] + sys.argv[1:])\n")


class GpuVerify(Module):
    name = "gpu_verify"
    opaque = True
    read_only = True
    spec = {
        "image": Arg("str", required=True),
        "gpus": Arg("str", default="all", help="docker --gpus value; empty: no --gpus"),
        "shm_size": Arg("str", default="", help="docker --shm-size; empty: --ipc=host"),
        "expect_gpus": Arg("int", default=0),
        "gpu_models": Arg("list", default=[], help="gpu_preflight.gpus: device_id and bf16_tflops of each GPU"),
        "nvswitch_count": Arg("int", default=0, help="gpu_preflight.nvswitch_count: picks the all-reduce floor"),
        "driver_version": Arg("str", default=""),
        "peak_tflops": Arg("float", default=0.0, help="explicit bf16 peak; 0: from gpu_models"),
        "min_fraction": Arg("float", default=0.5),
        "baseline_drop": Arg("float", default=0.8),
        "baseline_runs": Arg("int", default=5, help="passing runs whose median is the baseline"),
        "reset_baseline": Arg("bool", default=False),
        "min_shm_gb": Arg("float", default=1.0),
        "min_stack_mb": Arg("int", default=64),
        "h2d_fraction": Arg("float", default=0.6),
        "min_h2d_gbps": Arg("float", default=0.0, help="explicit H2D floor; 0: from the PCIe link"),
        "hbm_fraction": Arg("float", default=0.6),
        "hbm_peak_gbps": Arg("float", default=0.0, help="explicit memory bandwidth; 0: from the datasheet table"),
        "busbw_floor_gbps": Arg("dict", default={"nvswitch": 150.0, "pcie": 5.0}),
        "min_busbw_gbps": Arg("float", default=0.0, help="explicit all-reduce floor; 0: by topology"),
        "allreduce_mb": Arg("int", default=1024),
        "xid_ignore": Arg("list", default=[43, 45], elements="int"),
        "require_gpu": Arg("bool", default=True),
        "timeout": Arg("int", default=900),
        "depth": Arg("str", default="full", choices=("quick", "full"),
                     help="quick: devices, arch, a small matmul, NCCL init, host checks, nothing timed"),
        "when_busy": Arg("str", default="skip", choices=("skip", "run"),
                         help="GPU processes or GPU containers running: skip the host, or check it anyway"),
    }

    def read_command(self) -> str:
        """The first of three round trips: the GPU jobs running, and at full depth the stored
        baseline (unless it is being reset)."""
        queries = dict(BUSY_QUERIES)
        if self.args["depth"] == "full" and not self.args["reset_baseline"]:
            queries["baseline"] = f"cat {STATE_DIR}/baseline.json 2>/dev/null || true"
        return sections_command(queries)

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        sections = split_sections(result.stdout if result is not None else "")
        return {"runs": _baseline_runs(sections.get("baseline", ("", 0))[0]),
                "processes": parse_compute_apps(sections.get("compute_apps")),
                "containers": parse_gpu_containers(sections.get("containers"))}

    def read(self) -> dict[str, Any]:
        state = super().read()
        busy = busy_reason(state["processes"], state["containers"])
        if busy and self.args["when_busy"] == "skip":
            raise ModuleSkipped(f"skipped: {busy}", {"skipped_reason": busy, "gpu_processes": state["processes"],
                                                     "gpu_containers": state["containers"]})
        runs = state["runs"]
        baseline = _median(runs)
        with open(SCRIPT_PATH, encoding="utf-8") as handle:
            script = handle.read()
        result = self.context.run(self.docker_command(baseline), stdin=script, timeout=self.args["timeout"])
        report = _report(result.stdout)
        if report is None:
            output = (result.stderr or result.stdout).strip()
            if self.context.check and "Unable to find image" in output:
                raise ModuleFailed(f"{self.args['image']} is not on the host, and check mode pulls nothing "
                                   "(a real run pulls it first)", {"rc": result.rc})
            raise ModuleFailed(f"the verification did not produce its JSON (rc={result.rc}): "
                               f"{output[-800:]}", {"rc": result.rc})
        host = self.context.run(host_read_command(), timeout=120)
        judged = self.args["require_gpu"] or report.get("mode") == "gpu"
        report["checks"] += judge_host(host.stdout, judged=judged, nvswitch_count=self.args["nvswitch_count"],
                                       xid_ignore=self.args["xid_ignore"])
        report["summary"] = _summary(report["checks"])
        if busy:  # when_busy: run
            report["busy"] = busy
        if not self.context.check:  # check mode reads; it records nothing
            self.record(report, runs)
        failed = [check for check in report["checks"] if check.get("status") == "fail"]
        if failed:
            raise ModuleFailed(f"{len(failed)} GPU check(s) failed: " + "; ".join(map(_describe, failed)),
                               {"report": report})
        return {"report": report, "baseline_tflops": baseline}

    def record(self, report: dict[str, Any], runs: list[float]) -> None:
        """A full report as last.json, a quick one as last-quick.json (it has less to say, so it never
        replaces the full one); the baseline only from a passing full run with a figure on GPUs no
        job was using, so a failing, throttled or shared run never lowers it."""
        self.context.run(f"mkdir -p {STATE_DIR}")
        if self.args["depth"] != "full":
            write_file(self.context, f"{STATE_DIR}/last-quick.json", json.dumps(report).encode())
            return
        write_file(self.context, f"{STATE_DIR}/last.json", json.dumps(report).encode())
        figure = _tflops(report)
        if figure and _passed(report) and "busy" not in report:
            runs = (runs + [figure])[-self.args["baseline_runs"]:]
            write_file(self.context, f"{STATE_DIR}/baseline.json",
                       json.dumps({"runs": runs, "bf16_tflops": _median(runs)}).encode())

    def floors(self) -> list[str]:
        """The script's arguments for the floors that come from provision's tables and the topology."""
        args, words = self.args, []
        peak = args["peak_tflops"] or _peak(args["gpu_models"])
        if peak:
            words += ["--peak-tflops", str(peak)]
        hbm = args["hbm_peak_gbps"] or memory_bandwidth([gpu.get("device_id") for gpu in args["gpu_models"]
                                                         if isinstance(gpu, dict)])[0]
        if hbm:
            words += ["--hbm-peak-gbps", str(hbm)]
        topology = "nvswitch" if args["nvswitch_count"] else "pcie"
        busbw = args["min_busbw_gbps"] or args["busbw_floor_gbps"].get(topology)
        if busbw:
            words += ["--min-busbw-gbps", str(busbw)]
        if args["min_h2d_gbps"]:
            words += ["--min-h2d-gbps", str(args["min_h2d_gbps"])]
        return words

    def docker_command(self, baseline: float | None) -> str:
        args = self.args
        words = ["docker", "run", "--rm", "-i", "--network", "none"]
        if self.context.check:
            words += ["--pull", "never"]
        if args["gpus"]:
            words += ["--gpus", args["gpus"]]
        words += ["--shm-size", args["shm_size"]] if args["shm_size"] else ["--ipc=host"]
        words += [args["image"], "python", "-c", BOOTSTRAP, "--json", "--depth", args["depth"],
                  "--expect-gpus", str(args["expect_gpus"]), "--min-shm-gb", str(args["min_shm_gb"]),
                  "--min-stack-mb", str(args["min_stack_mb"]),
                  "--min-fraction", str(args["min_fraction"]), "--baseline-drop", str(args["baseline_drop"]),
                  "--h2d-fraction", str(args["h2d_fraction"]), "--hbm-fraction", str(args["hbm_fraction"]),
                  "--allreduce-mb", str(args["allreduce_mb"]), *self.floors()]
        if args["driver_version"]:
            words += ["--driver-version", args["driver_version"]]
        if baseline:
            words += ["--baseline-tflops", str(baseline)]
        if args["require_gpu"]:
            words.append("--require-gpu")
        return join(words)

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        report = current["report"]
        return {"report": report, "passed": True, "depth": self.args["depth"], "summary": report.get("summary"),
                "bf16_tflops": _tflops(report), "baseline_tflops": current["baseline_tflops"]}


def _describe(check: dict[str, Any]) -> str:
    figures = ""
    if check.get("floor") is not None:
        figures = f" [measured {check.get('value')}, floor {check.get('floor')}]"
    return f"{check.get('name')}: {check.get('detail')}{figures} (remedy: {check.get('remedy')})"


def _peak(models: list[Any]) -> float | None:
    """The slowest GPU's datasheet bf16 peak, or None when any bf16-capable GPU lacks one (a floor
    taken from the others would be a guess)."""
    peaks = [gpu.get("bf16_tflops") for gpu in models if isinstance(gpu, dict)]
    if not peaks or any(not peak for peak in peaks):
        return None
    return float(min(peaks))


def _baseline_runs(text: str) -> list[float]:
    """The passing figures kept on the host; the old one-figure file counts as one run."""
    try:
        stored = json.loads(text) if text.strip() else {}
    except ValueError:
        return []
    if not isinstance(stored, dict):
        return []
    runs = stored.get("runs", [stored.get("bf16_tflops")])
    return [float(run) for run in runs if isinstance(run, (int, float)) and not isinstance(run, bool) and run > 0]


def _median(runs: list[float]) -> float | None:
    return round(statistics.median(runs), 1) if runs else None


def _summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {status: sum(check.get("status") == status for check in checks) for status in ("pass", "fail", "skip")}
    return {**counts, "ok": counts["fail"] == 0, "exit_code": 1 if counts["fail"] else 0}


def _report(stdout: str) -> dict[str, Any] | None:
    """The JSON document the script printed (the last line that parses as one)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "checks" in value:
            return value
    try:
        value = json.loads(stdout)
        return value if isinstance(value, dict) and "checks" in value else None
    except ValueError:
        return None


def _passed(report: dict[str, Any]) -> bool:
    return (report_figures(report) or (None,))[0] is not False


def _tflops(report: dict[str, Any]) -> float | None:
    figures = report_figures(report)
    return figures[1] if figures else None


__all__ = ["GpuVerify", "quote"]

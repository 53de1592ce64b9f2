"""gpu_verify: run provision's verification script inside the PyTorch image, with the GPUs.

The script (provision/verify/gpu_verify.py, stdlib + torch only) is sent to the host on stdin,
run with `docker run --gpus all --ipc=host IMAGE python /provision/gpu_verify.py --json ...`, and
judged by its JSON: any failed check fails the task, with each check's remedy. The last report is
kept on the host (/var/lib/provision/gpu_verify/last.json) for `provision verify` and drift checks,
and the first passing bf16 figure becomes the host's baseline, so a later drop is caught.

The easy thing to get wrong: this reads the host, it never changes it, so it runs in check mode
too (a nightly check must still prove the GPUs work) and never reports "changed".
"""
from __future__ import annotations

import json
import os
from typing import Any

from provision.modules.base import Arg, Module, ModuleFailed
from provision.shell import join, quote
from provision.verify.figures import report_figures

STATE_DIR = "/var/lib/provision/gpu_verify"
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "verify", "gpu_verify.py")


class GpuVerify(Module):
    name = "gpu_verify"
    read_only = True
    spec = {
        "image": Arg("str", required=True),
        "gpus": Arg("str", default="all", help="docker --gpus value; empty: no --gpus"),
        "shm_size": Arg("str", default="", help="docker --shm-size; empty: --ipc=host"),
        "expect_gpus": Arg("int", default=0),
        "driver_version": Arg("str", default=""),
        "peak_tflops": Arg("float", default=0.0),
        "min_fraction": Arg("float", default=0.5),
        "baseline_drop": Arg("float", default=0.8),
        "min_shm_gb": Arg("float", default=1.0),
        "require_gpu": Arg("bool", default=True),
        "timeout": Arg("int", default=900),
    }

    def read(self) -> dict[str, Any]:
        with open(SCRIPT, encoding="utf-8") as handle:
            script = handle.read()
        prepare = self.context.run(
            f"mkdir -p {STATE_DIR} && cat > {STATE_DIR}/gpu_verify.py && "
            f"cat {STATE_DIR}/baseline.json 2>/dev/null || true", stdin=script)
        if not prepare.ok:
            raise ModuleFailed(f"cannot put the verification script on the host: {prepare.stderr.strip()}")
        baseline = _baseline(prepare.stdout)
        result = self.context.run(self.docker_command(baseline), timeout=self.args["timeout"])
        report = _report(result.stdout)
        if report is None:
            raise ModuleFailed(f"the verification did not produce its JSON (rc={result.rc}): "
                               f"{(result.stderr or result.stdout).strip()[-800:]}", {"rc": result.rc})
        self.context.run(f"cat > {STATE_DIR}/last.json", stdin=json.dumps(report))
        figure = _tflops(report)
        if baseline is None and figure and _passed(report):
            self.context.run(f"cat > {STATE_DIR}/baseline.json", stdin=json.dumps({"bf16_tflops": figure}))
        failed = [check for check in report.get("checks", []) if check.get("status") == "fail"]
        if failed:
            lines = "; ".join(f"{check.get('name')}: {check.get('detail')} (remedy: {check.get('remedy')})"
                              for check in failed)
            raise ModuleFailed(f"{len(failed)} GPU check(s) failed: {lines}", {"report": report})
        return {"report": report, "baseline_tflops": baseline}

    def docker_command(self, baseline: float | None) -> str:
        args = self.args
        words = ["docker", "run", "--rm", "--network", "none", "-v", f"{STATE_DIR}:/provision:ro"]
        if args["gpus"]:
            words += ["--gpus", args["gpus"]]
        words += ["--shm-size", args["shm_size"]] if args["shm_size"] else ["--ipc=host"]
        words += [args["image"], "python", "/provision/gpu_verify.py", "--json",
                  "--expect-gpus", str(args["expect_gpus"]), "--min-shm-gb", str(args["min_shm_gb"]),
                  "--min-fraction", str(args["min_fraction"]), "--baseline-drop", str(args["baseline_drop"])]
        if args["peak_tflops"]:
            words += ["--peak-tflops", str(args["peak_tflops"])]
        if args["driver_version"]:
            words += ["--driver-version", args["driver_version"]]
        if baseline:
            words += ["--baseline-tflops", str(baseline)]
        if args["require_gpu"]:
            words.append("--require-gpu")
        return join(words)

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        report = current["report"]
        return {"report": report, "passed": True, "summary": report.get("summary"),
                "bf16_tflops": _tflops(report), "baseline_tflops": current["baseline_tflops"]}


def _baseline(text: str) -> float | None:
    try:
        value = json.loads(text).get("bf16_tflops") if text.strip() else None
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


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

"""Runs built by hand: RunReport and TaskResult objects as the runner makes them, no SSH."""
from __future__ import annotations

import time

from provision.runner.results import HostRecap, RunReport, TaskResult


def result(host: str, task: str, status: str = "ok", check: bool = False, **more) -> TaskResult:
    more.setdefault("file", "roles/docker/tasks/main.yaml")
    more.setdefault("line", 12)
    more.setdefault("play", "site")
    more.setdefault("duration", 0.25)
    return TaskResult(host=host, task=task, status=status, check=check, **more)


def gpu_result(host: str, tflops: float | None, h2d: float | None = 25.0, busbw: float | None = 180.0,
               failed: bool = False) -> TaskResult:
    checks = [{"name": "cuda_available", "status": "pass", "detail": "yes"}]
    if tflops is not None:
        checks.append({"name": "bf16_tflops_vs_peak", "status": "fail" if failed else "pass", "detail": "",
                       "value": {"tflops": tflops, "peak": 989.0, "fraction": 0.5}})
    if h2d is not None:
        checks.append({"name": "h2d_bandwidth", "status": "pass", "detail": "", "value": h2d})
    if busbw is not None:
        checks.append({"name": "nccl_allreduce", "status": "pass", "detail": "", "value": busbw})
    return result(host, "gpu_verify : verify GPUs", "failed" if failed else "ok", module="gpu_verify",
                  output={"report": {"checks": checks}})


def report(results: list[TaskResult], command: str = "apply", check: bool = False,
           interrupted: bool = False) -> RunReport:
    run = RunReport(command=command, started=time.time() - 5, finished=time.time(), check=check,
                    interrupted=interrupted)
    for item in results:
        run.results.append(item)
        run.recaps.setdefault(item.host, HostRecap(item.host)).count(item)
    return run

"""The figures in a gpu_verify report (provision/gpu/payload/gpu_check.py's JSON), read in one place:
the gpu_verify module records the baseline from them, history stores them, trends plot them."""
from __future__ import annotations

from typing import Any


def report_figures(report: Any) -> tuple[bool | None, float | None, float | None, float | None] | None:
    """(passed, bf16 TFLOPS, H2D GB/s, all-reduce bus GB/s), or None when there is no report.

    Tolerant: a missing or skipped check gives None for its figure. The TFLOPS checks carry a dict
    ({"tflops": ..., "peak": ...}), the bandwidth checks a number.
    """
    checks = report.get("checks") if isinstance(report, dict) else None
    if not isinstance(checks, list):
        return None
    checks = [check for check in checks if isinstance(check, dict)]
    tflops = h2d = busbw = None
    for check in checks:
        name = str(check.get("name", "")).lower()
        value = check.get("value")
        if isinstance(value, dict):
            value = value.get("tflops", value.get("value"))
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if "tflops" in name and tflops is None:
            tflops = float(value)
        elif "h2d" in name and h2d is None:
            h2d = float(value)
        elif "allreduce" in name.replace("_", "").replace("-", "") and busbw is None:
            busbw = float(value)
    passed = not any(check.get("status") == "fail" for check in checks) if checks else None
    return passed, tflops, h2d, busbw

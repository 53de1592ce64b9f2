"""The GPU results table: one row per gpu_verify result (this run's, or a host's last.json read by
`provision verify`), as plain data, then rendered for the terminal and the JSON report.

A row is read from the gpu_verify report (provision/gpu/payload/gpu_check.py's JSON plus the host
checks and summary the module adds), tolerant of missing keys: reports written before a key existed
are still on hosts. The easy thing to get wrong: a skipped check is not a pass, so every skip and
every failure comes out as a reason line under the table; a host whose GPUs were busy, or whose task
never ran, has a row saying so, not a gap.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from rich import box
from rich.table import Table
from rich.text import Text

from provision.gpu.figures import report_figures
from provision.runner.results import TaskResult

MODULE = "gpu_verify"
STATUS_STYLES = {"passed": "green", "failed": "bold red", "skipped": "cyan", "not run": "dim"}


@dataclass
class GpuRow:
    host: str
    mode: str = ""  # "GPU", "CPU" (the sandbox: no GPU in the container), "" unknown
    depth: str = ""  # "quick", "full", "" unknown
    torch: str | None = None
    cuda: str | None = None  # torch's CUDA runtime
    driver: str | None = None
    gpus_seen: int | None = None
    gpus_expected: int | None = None
    tflops: float | None = None  # bf16 matmul, the slowest GPU
    tflops_floor: float | None = None  # the higher of the datasheet and baseline floors
    h2d_gbps: float | None = None
    allreduce_gbps: float | None = None
    status: str = "not run"  # "passed", "failed", "skipped", "not run"
    reasons: list[str] = field(default_factory=list)  # "check: detail", failures first
    source: str = "this run"  # or "last.json" (provision verify)


def gpu_row(host: str, report: dict[str, Any] | None, status_hint: str | None = None, reason: str = "",
            source: str = "this run") -> GpuRow:
    """The row of one gpu_verify report. `status_hint` is what the task said ("failed", "skipped",
    "not run"): it wins over the report's own verdict when worse; `reason` is its message, shown
    when the report does not explain it (no report at all, or no failed check)."""
    if not isinstance(report, dict):
        return GpuRow(host, status=status_hint or "not run", reasons=[reason] if reason else [], source=source)
    checks = [check for check in report.get("checks") or [] if isinstance(check, dict)]
    by_name = {str(check.get("name")): check for check in checks}
    about = report.get("host") if isinstance(report.get("host"), dict) else {}
    mode = {"gpu": "GPU", "cpu": "CPU"}.get(str(report.get("mode", "")).lower(), "")
    _, tflops, h2d, busbw = report_figures(report) or (None, None, None, None)
    failed = any(check.get("status") == "fail" for check in checks)
    status = "passed"
    if failed or status_hint == "failed":
        status = "failed"
    elif status_hint == "skipped":
        status = "skipped"
    reasons = _reasons(checks)
    if reason and (status_hint in ("failed", "skipped") and not failed):
        reasons.insert(0, reason)
    if report.get("busy"):
        reasons.append(f"busy: checked while {report['busy']}")
    return GpuRow(
        host=host, mode=mode, depth=str(report.get("depth") or "full"),  # reports before depths were full
        torch=_text(about.get("torch")), cuda=_text(about.get("torch_cuda")), driver=_driver(about, by_name),
        gpus_seen=_seen(mode, about, by_name), gpus_expected=_expected(report, by_name),
        tflops=tflops, tflops_floor=_tflops_floor(checks), h2d_gbps=h2d, allreduce_gbps=busbw,
        status=status, reasons=reasons, source=source)


def gpu_rows(results: Iterable[TaskResult]) -> list[GpuRow]:
    """One row per gpu_verify result of a run, in order."""
    rows = []
    for result in results:
        if result.module != MODULE:
            continue
        # no_log: the status alone, as in the JSON report
        output, msg = ({}, "") if result.no_log else (result.output or {}, result.msg)
        skipped = output.get("skipped_reason")  # the busy skip, while the module reports it as ok
        if result.status == "skipped" or skipped:
            text = str(skipped or msg or "skipped")
            text = text if text.startswith("skipped") else f"skipped: {text}"
            rows.append(gpu_row(result.host, None, "skipped", text if not result.no_log else ""))
        elif result.status in ("ok", "changed"):
            rows.append(gpu_row(result.host, output.get("report")))
        elif result.status == "failed":
            rows.append(gpu_row(result.host, output.get("report"), "failed", msg and f"failed: {msg}"))
        else:  # unreachable
            rows.append(gpu_row(result.host, None, "not run", msg and f"{result.status}: {msg}"))
    return rows


def gpu_table(rows: list[GpuRow]) -> Table | None:
    """The "GPU" table, or None when no row."""
    if not rows:
        return None
    table = Table(title="GPU", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("host", "mode", "torch", "CUDA", "driver", "GPUs", "bf16 TFLOPS", "H2D GB/s", "all-reduce GB/s",
                   "status"):
        table.add_column(column, justify="right" if column in ("GPUs", "bf16 TFLOPS", "H2D GB/s",
                                                               "all-reduce GB/s") else "left", no_wrap=True)
    for row in rows:
        quick = row.depth == "quick" and row.tflops is None
        status = row.status + (" (quick)" if row.depth == "quick" else "")
        table.add_row(row.host, row.mode or "-", row.torch or "-", row.cuda or "-", row.driver or "-", _gpus(row),
                      Text("quick", style="dim") if quick else _figure(row.tflops, row.tflops_floor),
                      _figure(row.h2d_gbps), _figure(row.allreduce_gbps),
                      Text(status, style=STATUS_STYLES.get(row.status, "")))
    return table


def gpu_reasons(rows: list[GpuRow]) -> list[str]:
    """"host: check: detail" for every failure and skip, printed under the table."""
    return [f"{row.host}: {reason}" for row in rows for reason in row.reasons]


def gpu_rows_json(rows: list[GpuRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


# --- reading a report --------------------------------------------------------------------------------


def _reasons(checks: list[dict[str, Any]]) -> list[str]:
    """Failures, then skips, as "check: detail"; skips sharing a detail (CPU mode's "no CUDA device")
    are one line naming each check."""
    failures = [f"{check.get('name')}: {check.get('detail', '')}" for check in checks if check.get("status") == "fail"]
    skips: dict[str, list[str]] = {}
    for check in checks:
        if check.get("status") == "skip":
            skips.setdefault(str(check.get("detail", "")), []).append(str(check.get("name")))
    return failures + [f"{', '.join(names)}: {detail}" for detail, names in skips.items()]


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _driver(about: dict[str, Any], by_name: dict[str, dict]) -> str | None:
    """The host's driver as the script read it, else as the cuda_driver check saw it."""
    value = (by_name.get("cuda_driver") or {}).get("value")
    return _text(about.get("driver_version")) or (_text(value.get("driver")) if isinstance(value, dict) else None)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seen(mode: str, about: dict[str, Any], by_name: dict[str, dict]) -> int | None:
    """GPUs torch saw: device_count's value, else the devices listed; CPU mode saw none."""
    seen = _count((by_name.get("device_count") or {}).get("value"))
    if seen is not None:
        return seen
    if isinstance(about.get("devices"), list) and (mode == "GPU" or about["devices"]):
        return len(about["devices"])
    return 0 if mode == "CPU" else None


def _expected(report: dict[str, Any], by_name: dict[str, dict]) -> int | None:
    """GPUs lspci counted: the report's expect_gpus, else device_count's floor, else its detail
    (reports written before the count was a field)."""
    check = by_name.get("device_count") or {}
    for value in (report.get("expect_gpus"), check.get("floor")):
        if _count(value) is not None:
            return value
    detail = str(check.get("detail", ""))
    match = re.search(r"(\d+) expected", detail)
    if match:
        return int(match.group(1))
    return _count(check.get("value")) if "as expected" in detail else None


def _tflops_floor(checks: list[dict[str, Any]]) -> float | None:
    """The floor the bf16 figure is held to: the higher of the datasheet's and the baseline's."""
    floors = [check.get("floor") for check in checks if "tflops" in str(check.get("name", "")).lower()]
    floors = [float(floor) for floor in floors if isinstance(floor, (int, float)) and not isinstance(floor, bool)]
    return max(floors) if floors else None


# --- rendering ---------------------------------------------------------------------------------------


def _gpus(row: GpuRow) -> str:
    if row.gpus_seen is None and row.gpus_expected is None:
        return "-"
    seen = "?" if row.gpus_seen is None else str(row.gpus_seen)
    return f"{seen}/{'?' if row.gpus_expected is None else row.gpus_expected}"


def _figure(value: float | None, floor: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} / {floor:.1f}" if floor is not None else f"{value:.1f}"


__all__ = ["GpuRow", "gpu_reasons", "gpu_row", "gpu_rows", "gpu_rows_json", "gpu_table"]

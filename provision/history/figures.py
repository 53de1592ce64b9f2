"""GPU figures in the history: what a gpu_verify result measured, and which later figure dropped."""
from __future__ import annotations

import statistics

from provision.gpu.figures import report_figures
from provision.history.records import Figures
from provision.runner.results import TaskResult


def gpu_figures(result: TaskResult) -> tuple[bool | None, float | None, float | None, float | None] | None:
    """(passed, bf16 TFLOPS, H2D GB/s, all-reduce bus GB/s) from a gpu_verify result's report.

    Tolerant: a missing report gives None, a missing or skipped check gives None for its figure.
    """
    figures = report_figures((result.output or {}).get("report"))
    if figures is None:
        return None
    passed, tflops, h2d, busbw = figures
    if tflops is None and isinstance(result.output.get("bf16_tflops"), (int, float)):
        tflops = float(result.output["bf16_tflops"])
    return passed, tflops, h2d, busbw


def tflops_drops(figures: list[Figures], fraction: float = 0.85, window: int = 5) -> dict[tuple[int, str], float]:
    """Sudden TFLOPS drops: {(run_id, host): value / median of the host's previous `window` values}
    for each figure below `fraction` of that median."""
    drops: dict[tuple[int, str], float] = {}
    previous: dict[str, list[float]] = {}
    for figure in sorted(figures, key=lambda item: (item.recorded, item.run_id)):
        if figure.bf16_tflops is None:
            continue
        history = previous.setdefault(figure.host, [])
        if history:
            reference = statistics.median(history[-window:])
            if reference > 0 and figure.bf16_tflops < fraction * reference:
                drops[(figure.run_id, figure.host)] = figure.bf16_tflops / reference
        history.append(figure.bf16_tflops)
    return drops

"""drift20's results: a Markdown table (bench/results/drift20.md), the figures as JSON
(drift20.json) and a plot of time against N per tool (drift20.png, drawn by plot.py in the
benchmark's venv, which has matplotlib)."""
from __future__ import annotations

import json
import os
import subprocess
import time

from bench.drift20.tools import Tool
from bench.drift20.venv import bench_venv

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")
PLOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.py")


def ratio(value: float, reference: dict | None) -> str:
    return f"{value / reference['seconds']:.2f}x" if reference and reference["seconds"] > 0 else "-"


def table(rows: list[dict], tools: list[Tool], runs: int, load_at_start: float, versions: dict,
          notes: list[str]) -> str:
    lines = [
        "# drift20: a converged fleet checked by provision, pyinfra and Ansible",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} cores; load average at start {load_at_start:.2f}; "
        f"medians of {runs} interleaved run(s) of each whole command (`python -m bench.drift20`: 20 checks per "
        "host on `python` sandbox hosts, strict host keys for every tool). "
        + "; ".join(versions.values()),
        "",
        "| N | tool | median s | / provision | / SSH floor | exec channels per host | connections per host | "
        "controller CPU ms per host | peak RSS MiB | whole tree peak MiB, RSS / PSS | load at N |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        measured = row["tools"]
        for tool in tools:
            figures = measured.get(tool.name)
            if figures is None:
                reason = row["failed"].get(tool.name, "not measured")
                lines.append(f"| {row['hosts']} | {tool.label} | not timed: {reason} | | | | | | | | |")
                continue
            rss = f"{figures['peak_rss_mib']:.0f}" if figures["peak_rss_mib"] else "-"
            tree = (f"{figures['tree_rss_mib']:.0f} / {figures['tree_pss_mib']:.0f}"
                    if figures.get("tree_rss_mib") else "-")  # rows measured before the sampler existed have none
            lines.append(
                f"| {row['hosts']} | {tool.label} | {figures['seconds']:.2f} | "
                f"{ratio(figures['seconds'], measured.get('provision'))} | {ratio(figures['seconds'], measured.get('floor'))} | "
                f"{figures['channels']:g} | {figures['connections']:g} | {figures['cpu_per_host_ms']:.0f} | {rss} | {tree} | "
                f"{row['load']:.2f} |")
    if not rows:
        lines.append("| (no size measured: see the notes below) | | | | | | | | | | |")
    lines += ["", "Commands (each run whole, as a user types it, from the work folder):", ""]
    lines += [f"- {tool.label}: `{tool.command}`" for tool in tools]
    lines += ["",
              "Exec channels and connections are counted on the hosts' side (their sshd at LogLevel VERBOSE: "
              "`Starting session:` and `Accepted publickey` lines during the run), median over hosts. "
              "Controller CPU and peak RSS are the command's own rusage (os.wait4): CPU of the command and the "
              "children it waited for; peak RSS is ru_maxrss, the largest single process of its tree (Ansible's "
              "forked workers are not summed; its ControlPersist ssh masters detach and are not counted). "
              "The whole tree's peak is sampled every 0.5 s from /proc: the RSS and the PSS of the command and "
              "all its descendants (provision's worker processes, Ansible's forks) summed at one moment; PSS "
              "counts a page that forked processes share once, so it is what the machine spends. "
              "The floor's CPU is its ssh clients'."]
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def write_results(rows: list[dict], tools: list[Tool], runs: int, load_at_start: float, versions: dict,
                  notes: list[str], venv: str | None, merge: bool = False) -> str:
    """`merge`: the sizes measured before (drift20.json) stay, with their date in the notes, and
    these rows replace theirs: a long size can be taken on its own."""
    os.makedirs(RESULTS, exist_ok=True)
    data = os.path.join(RESULTS, "drift20.json")
    if merge and os.path.exists(data):
        with open(data) as handle:
            earlier = json.load(handle)
        measured = {row["hosts"] for row in rows}
        kept = [row for row in earlier.get("rows", []) if row["hosts"] not in measured]
        if kept:
            notes = notes + [f"{', '.join(str(row['hosts']) for row in kept)} hosts: measured {earlier.get('date')} "
                             f"({earlier.get('runs')} run(s)), kept by --merge"]
            versions = {**earlier.get("versions", {}), **versions}
        rows = sorted(kept + rows, key=lambda row: row["hosts"])
    with open(data, "w") as handle:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": os.cpu_count(), "runs": runs,
                   "versions": versions, "labels": {tool.name: tool.label for tool in tools}, "rows": rows},
                  handle, indent=1)
    plot_note = draw(data, venv)
    if plot_note:
        notes = notes + [plot_note]
    text = table(rows, tools, runs, load_at_start, versions, notes)
    with open(os.path.join(RESULTS, "drift20.md"), "w") as handle:
        handle.write(text)
    return text


def draw(data: str, venv: str | None) -> str:
    """Draw drift20.png with the venv's matplotlib; a note when it could not be drawn."""
    try:
        venv = venv or bench_venv()
    except RuntimeError as error:
        return f"no plot: matplotlib's venv could not be made: {str(error).splitlines()[0]}"
    result = subprocess.run([os.path.join(venv, "bin", "python"), PLOT, data, os.path.join(RESULTS, "drift20.png")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return f"no plot: {(result.stdout + result.stderr).strip().splitlines()[-1:]}"
    return ""

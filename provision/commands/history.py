"""`provision history` and `provision report`: read the run store; never contact a host.

`history` lists runs, then per host when drift appeared and disappeared and what it was;
`history --trend` shows gpu_verify figures over time per host and flags a sudden TFLOPS drop.
`report` writes one run as a self-contained HTML page. Runs that share a run group (the slices of
one fleet run, recorded by several processes or machines) are shown as one fleet run by both, with
how many of its N slices reported: `history --run-group NAME` lists its runs one by one.
"""
from __future__ import annotations

import datetime
import os
import tempfile

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from provision.errors import InputError
from provision.history import DEFAULT_PATH, FleetRun, HistoryStore, Run, is_database_url, tflops_drops
from provision.report.html import render_html

STATUS_STYLES = {"complete": "green", "running": "cyan", "interrupted": "yellow", "incomplete": "bold red",
                 "partial": "yellow"}


def parse_since(text: str | None) -> float | None:
    """'7d', '12h', '30m', '2w', '90s' or plain seconds -> seconds."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = text.strip().lower()
    multiplier = units.get(value[-1:])
    try:
        seconds = float(value[:-1] if multiplier else value) * (multiplier or 1)
    except ValueError:
        raise InputError(f"--since: expected a duration like 90m, 12h, 7d or 2w, got {text!r}") from None
    if seconds < 0:
        raise InputError(f"--since: a duration cannot be negative: {text!r}")
    return seconds


def _open(path: str | None, console: Console) -> HistoryStore | None:
    if is_database_url(path):
        return HistoryStore(path)  # a server that cannot be reached is a HistoryError: one line, exit 1
    store_path = path or os.path.join(os.getcwd(), DEFAULT_PATH)
    if not os.path.exists(store_path):
        console.print(f"no history yet: {store_path} does not exist (apply, check and verify write it)",
                      highlight=False, markup=False)
        return None
    return HistoryStore(store_path)


def run_history(args, console: Console) -> int:
    since = parse_since(args.since)
    store = _open(args.state_db, console)
    if store is None:
        return 0
    with store:
        if args.trend:
            console.print(trend_table(store, args.host, since))
            return 0
        if args.run_group:
            fleet = store.fleet(args.run_group, args.host)
            if fleet is None:
                raise InputError(f"no run group {args.run_group!r} in {store.path}")
            members = store.runs(host=args.host, since_seconds=since, run_group=args.run_group)
            superseded = {run.id for run in fleet.superseded}
            console.print(runs_table([*members, fleet], args.host, superseded,
                                     title=f"RUNS of fleet run {args.run_group}"))
        else:
            console.print(runs_table(store.timeline(host=args.host, since_seconds=since), args.host))
        console.print(drift_table(store, args.host, since))
    return 0


def runs_table(runs: list[Run | FleetRun], host: str | None, superseded: set[int] = frozenset(),
               title: str | None = None) -> Table:
    """One row per run, a fleet run (its id the run group) as one row; the slices column, shown
    when a run was sliced, says K/N of a run and how many of N slices a fleet run has."""
    title = (title or "RUNS") + (f" of {host}" if host else "")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    sliced = any(run.slice_label for run in runs)
    columns = ("id", "started", "command", "inventory", "playbook", *(("slices",) if sliced else ()), "status", "exit",
               "hosts", "changed", "drift", "failed", "time")
    for column in columns:
        table.add_column(column, justify="right" if column in ("exit", "hosts", "changed", "drift", "failed",
                                                              "time") else "left",
                         no_wrap=column not in ("inventory", "playbook", "slices", "id"), overflow="fold")
    for run in runs:
        command = run.command + (" --check" if run.check and run.command != "check" else "")
        took = f"{run.finished - run.started:.1f}s" if run.finished else ""
        status = Text(run.status, style=STATUS_STYLES.get(run.status, ""))
        if isinstance(run, Run) and run.id in superseded:
            status = Text(f"{run.status}, superseded", style="dim")
        identity = Text(str(run.id), style="bold" if isinstance(run, FleetRun) else "")
        table.add_row(identity, _when(run.started), Text(command), Text(_short(run.inventory)),
                      Text(_short(run.playbook)), *((Text(run.slice_label),) if sliced else ()), status,
                      "" if run.exit_code is None else str(run.exit_code), str(run.hosts), str(run.changed),
                      Text(str(run.drift), style="yellow" if run.drift else ""),
                      Text(str(run.failed), style="red" if run.failed else ""), took)
    if not runs:
        table.caption = "no runs match"
    return table


def _short(path: str) -> str:
    """A path as the user typed it from here: relative when under the current folder."""
    if not path:
        return ""
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return relative if not relative.startswith("..") else path


def drift_table(store: HistoryStore, host: str | None, since: float | None) -> Table:
    runs = {run.id: run for run in store.runs()}
    spans = store.drift_timeline(host)
    if since is not None:
        cutoff = datetime.datetime.now().timestamp() - since
        spans = [span for span in spans if span.disappeared is None or span.disappeared >= cutoff]
    table = Table(title="DRIFT per host: appeared in a check run, gone after a later run", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("host", "task", "appeared", "disappeared", "what"):
        table.add_column(column, no_wrap=column in ("host", "appeared", "disappeared"))
    for span in sorted(spans, key=lambda item: (item.host, item.appeared)):
        appeared = f"run {span.appeared_run}{_of_group(runs, span.appeared_run)} {_when(span.appeared)}"
        if span.disappeared_run is None:
            gone = Text(f"still drifting (last seen run {span.last_seen_run})", style="yellow")
        else:
            command = runs[span.disappeared_run].command if span.disappeared_run in runs else ""
            gone = Text(f"run {span.disappeared_run}{_of_group(runs, span.disappeared_run)} {command} "
                        f"{_when(span.disappeared)}", style="green")
        what = span.msg or _first_change(span.diff)
        table.add_row(Text(span.host, style="bold"), Text(f"{span.task} ({span.file}:{span.line})"), appeared,
                      gone, Text(what))
    if not spans:
        table.caption = "no drift recorded"
    return table


def trend_table(store: HistoryStore, host: str | None, since: float | None) -> Table:
    figures = store.trend(host)  # drops are judged against the whole history, then cut to --since
    drops = tflops_drops(figures)
    cutoff = datetime.datetime.now().timestamp() - since if since is not None else 0.0
    table = Table(title="GPU FIGURES over time (gpu_verify)", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column in ("host", "run", "when", "passed", "bf16 TFLOPS", "H2D GB/s", "all-reduce GB/s", "signal"):
        table.add_column(column, justify="right" if column in ("run", "bf16 TFLOPS", "H2D GB/s",
                                                              "all-reduce GB/s") else "left", no_wrap=True)
    previous_host = None
    without = 0
    for figure in figures:
        if figure.recorded < cutoff:
            continue
        if figure.bf16_tflops is None and figure.h2d_gbps is None and figure.allreduce_busbw_gbps is None:
            without += 1
        ratio = drops.get((figure.run_id, figure.host))
        signal = Text(f"TFLOPS DROP: {ratio:.0%} of recent median", style="bold red") if ratio is not None else ""
        passed = "" if figure.passed is None else "yes" if figure.passed else Text("no", style="red")
        table.add_row(Text(figure.host if figure.host != previous_host else "", style="bold"), str(figure.run_id),
                      _when(figure.recorded), passed, _number(figure.bf16_tflops), _number(figure.h2d_gbps),
                      _number(figure.allreduce_busbw_gbps), signal)
        previous_host = figure.host
    if table.row_count == 0:
        table.caption = "no gpu_verify figures recorded"
    elif without:
        table.caption = (f"{without} run(s) without figures: the verification ran in CPU mode (no GPU visible in "
                         "the container, as in the sandbox) or its quick depth (no benchmark); their checks are "
                         "in `provision report`")
    return table


def _of_group(runs: dict[int, Run], run_id: int) -> str:
    """" (nightly 2/4)" after a run id that was a slice of a fleet run."""
    run = runs.get(run_id)
    if run is None or not run.run_group:
        return ""
    return f" ({' '.join(part for part in (run.run_group, run.slice_label) if part)})"


def report_target(store: HistoryStore, run_id: int | None, run_group: str | None) -> Run | FleetRun:
    """What `report` shows: --run ID alone, --run-group NAME's fleet, else the latest run, the whole
    fleet run when the latest run is one of its slices."""
    if run_group:
        fleet = store.fleet(run_group)
        if fleet is None:
            raise InputError(f"no run group {run_group!r} in {store.path}")
        return fleet
    run = store.run(run_id)
    if run is None:
        raise InputError(f"no run {run_id} in {store.path}" if run_id else f"no runs in {store.path}")
    if run_id is None and run.run_group:
        return store.fleet(run.run_group) or run
    return run


def run_report(args, console: Console) -> int:
    store = _open(args.state_db, console)
    if store is None:
        raise InputError("no history to report on: run apply, check or verify first")
    with store:
        run = report_target(store, args.run, args.run_group)
        members = run.runs if isinstance(run, FleetRun) else [run]
        results = [result for member in members for result in store.results(member.id)]
        figures = [figure for member in members for figure in store.figures(member.id)]
        hosts = {figure.host for figure in figures}
        trend = [figure for figure in store.trend() if figure.host in hosts and figure.recorded <= (
            run.finished or float("inf"))]
        page = render_html(run, results, figures, trend)
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=directory)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(page)
    os.chmod(temporary, 0o644)
    os.replace(temporary, args.output)
    what = (f"fleet run {run.id} ({run.command}, {len(results)} results, slices {run.slice_label})"
            if isinstance(run, FleetRun) else f"run {run.id} ({run.command}, {len(results)} results)")
    console.print(f"{what} written to {args.output}", highlight=False, markup=False)
    return 0


def _first_change(diff: str | None) -> str:
    """The first removed and first added line of a diff: enough to say what moved."""
    lines = [line for line in (diff or "").splitlines() if not line.startswith(("+++", "---"))]
    removed = next((line for line in lines if line.startswith("-")), "")
    added = next((line for line in lines if line.startswith("+")), "")
    return " / ".join(part[:60] for part in (removed, added) if part)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _when(stamp: float | None) -> str:
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else ""


__all__ = ["parse_since", "report_target", "run_history", "run_report"]

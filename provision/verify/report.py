"""What `provision verify` shows: a live line per host while the checks run (on a terminal), then
each failure with its message and a table per host. It reads the run's RunReport, the same data
the JSON, JUnit, metrics and history writers read."""
from __future__ import annotations

import threading
import time

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from provision.report.gpu_table import gpu_reasons, gpu_row, gpu_rows, gpu_rows_json, gpu_table
from provision.runner.results import CHECK_MODULE, RunReport, host_states
from provision.verify.run import VerifyListener

STATE_STYLES = {"unreachable": "magenta", "failed": "red", "drift": "yellow", "changed": "yellow", "ok": "green"}


class VerifyProgress(VerifyListener):
    """On a terminal, one live line per host: checks done of collected, failures so far; then gone.
    Elsewhere (cron, CI logs) it prints nothing: the summary says it all."""

    def __init__(self, console: Console, hosts: list[str], enabled: bool = True):
        self.console = console
        self.lock = threading.Lock()
        self.rows = {host: {"total": 0, "done": 0, "failed": 0, "unreachable": ""} for host in hosts}
        self.started = time.monotonic()
        self.live = Live(self._panel(), console=console, transient=True, refresh_per_second=8) \
            if enabled and console.is_terminal else None

    def __enter__(self) -> VerifyProgress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()

    def _panel(self) -> Group:
        done = sum(1 for row in self.rows.values() if row["unreachable"] or (row["total"] and row["done"] >= row["total"]))
        lines = [Text(f"verify: {done}/{len(self.rows)} host(s) done, {time.monotonic() - self.started:.0f}s",
                      style="bold")]
        for host, row in list(self.rows.items())[:30]:
            if row["unreachable"]:
                state = Text("unreachable", style="magenta")
            else:
                state = Text(f"checks {row['done']}/{row['total'] or '?'}")
                if row["failed"]:
                    state.append(f"  {row['failed']} failed", style="red")
            lines.append(Text.assemble((f"{host:<20}", "bold"), " ", state))
        return Group(*lines)

    def _update(self) -> None:
        if self.live is not None:
            self.live.update(self._panel())

    def collected(self, host: str, total: int) -> None:
        with self.lock:
            self.rows.setdefault(host, {"total": 0, "done": 0, "failed": 0, "unreachable": ""})["total"] += total
            self._update()

    def check_done(self, host: str, outcome: str) -> None:
        with self.lock:
            row = self.rows.setdefault(host, {"total": 0, "done": 0, "failed": 0, "unreachable": ""})
            row["done"] += 1
            row["failed"] += outcome == "failed"
            self._update()

    def unreachable(self, host: str, reason: str) -> None:
        with self.lock:
            self.rows.setdefault(host, {"total": 0, "done": 0, "failed": 0, "unreachable": ""})["unreachable"] = reason
            self._update()


def check_name(task: str) -> str:
    return task.removeprefix("verify : ")


def print_check_failures(console: Console, report: RunReport, label: str = "FAILED") -> None:
    """Each failed check with where it is written and its message (`label` DRIFT in a check)."""
    for result in report.results:
        if result.module == CHECK_MODULE and result.status == "failed":
            console.print(f"[bold red]{label}[/] {escape(result.host)}: {escape(check_name(result.task))} "
                          f"({escape(result.file)}:{result.line})\n    {escape(result.msg)}",
                          highlight=False, soft_wrap=True)


def print_verify(console: Console, report: RunReport, quiet: bool) -> None:
    """Failures, unreachable hosts, a broken run's output, and the table (with -q: only when not clean)."""
    print_check_failures(console, report)
    verify = report.verify or {}
    for name, why in (verify.get("unreachable") or {}).items():
        console.print(f"[bold magenta]UNREACHABLE[/] {escape(name)}: {escape(why)}", highlight=False, soft_wrap=True)
    if verify.get("broken"):
        console.print("[bold red]the checks could not run:[/]\n" + escape(verify["broken"]), highlight=False)
    if not quiet or report.exit_code:
        console.print(verify_table(report))


def verify_table(report: RunReport) -> Table:
    states = host_states(report)
    table = Table(title=f"VERIFY ({(report.verify or {}).get('duration', 0):.1f}s)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("host", "passed", "failed", "skipped", "status"):
        table.add_column(column, justify="left" if column in ("host", "status") else "right", no_wrap=True)
    for name, recap in report.recaps.items():
        state = states.get(name, "ok")
        table.add_row(name, str(recap.checks_passed), str(recap.checks_failed), str(recap.checks_skipped),
                      f"[{STATE_STYLES.get(state, '')}]{state}[/]")
    return table


def check_table(report: RunReport) -> Table:
    """The nightly check per host: tasks that would change, checks failed, and the one-word state."""
    states = host_states(report)
    table = Table(title="CHECK (check mode: nothing was changed)", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column in ("host", "tasks ok", "would change", "failed", "checks passed", "checks failed", "status"):
        table.add_column(column, justify="left" if column in ("host", "status") else "right", no_wrap=True)
    for name, recap in report.recaps.items():
        state = states.get(name, "ok")
        table.add_row(name, str(recap.ok), str(recap.changed), str(recap.failed), str(recap.checks_passed),
                      str(recap.checks_failed), f"[{STATE_STYLES.get(state, '')}]{state}[/]")
    return table


def gpu_rows_of(report: RunReport) -> list:
    """The GPU table's rows: this run's gpu_verify results, else (verify) the last report a
    host keeps, as the gpu_verify role's check recorded it."""
    rows = gpu_rows(report.results)
    seen = {row.host for row in rows}
    for result in report.results:
        if result.module != CHECK_MODULE or result.host in seen or result.no_log:
            continue
        properties = result.output.get("properties") or {}
        # the role's check records the newer quick report too, when a later quick run left one
        for key, source in (("gpu_verify_quick_report", "last-quick.json"), ("gpu_verify_report", "last.json")):
            if isinstance(properties.get(key), dict):
                rows.append(gpu_row(result.host, properties[key], source=source))
                seen.add(result.host)
                break
    return rows


def attach_gpu_rows(report: RunReport) -> None:
    report.gpu = gpu_rows_json(gpu_rows_of(report))


def print_gpu(console: Console, report: RunReport) -> None:
    """The GPU table and, under it, the reason of every skip and failure (nothing without GPU rows)."""
    rows = gpu_rows_of(report)
    table = gpu_table(rows)
    if table is not None:
        console.print(table)
        for line in gpu_reasons(rows):
            console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)

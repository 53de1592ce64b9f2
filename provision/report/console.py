"""The console: a live line per host while running, the lines that matter, and a recap table.

Quiet when all is well: by default only changed, failed and unreachable results are printed (and
`debug` output); `-v` adds ok and skipped lines and command output, `-q` leaves only problems and
the recap. The live panel is drawn only on a terminal, so logs and CI output stay plain text.
"""
from __future__ import annotations

import json
import threading

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from provision.runner.events import Events
from provision.runner.results import NO_LOG_TEXT, RunReport, TaskResult

STYLES = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "cyan", "unreachable": "bold magenta"}


class ConsoleEvents(Events):
    def __init__(self, console: Console, verbosity: int = 0, quiet: bool = False, diff: bool = False,
                 silent: bool = False):
        self.console = console
        self.silent = silent  # only the live panel (a command that reports at the end: check)
        self.verbosity = verbosity
        self.quiet = quiet
        self.diff = diff
        self.lock = threading.Lock()
        self.current: dict[str, str] = {}
        self.live: Live | None = None

    # ---- live panel -------------------------------------------------------------------------------
    def __enter__(self) -> ConsoleEvents:
        if self.console.is_terminal and (self.silent or not self.quiet):
            self.live = Live(self._panel(), console=self.console, transient=True, refresh_per_second=8)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _panel(self) -> Group:
        rows = [Text.assemble((f"{host:<20}", "bold"), " ", task) for host, task in sorted(self.current.items())]
        return Group(*rows[-30:]) if rows else Group(Text("starting...", style="dim"))

    def _print(self, *items) -> None:
        target = self.live.console if self.live is not None else self.console
        target.print(*items, highlight=False)

    # ---- events -----------------------------------------------------------------------------------
    def play_start(self, name: str, hosts: list[str]) -> None:
        if not self.quiet and not self.silent:
            with self.lock:
                self._print(f"[bold]PLAY[/] \\[{escape(name)}] on {len(hosts)} host(s)")

    def task_start(self, host: str, task: str) -> None:
        with self.lock:
            self.current[host] = task
            if self.live is not None:
                self.live.update(self._panel())

    def task_result(self, result: TaskResult) -> None:
        with self.lock:
            self.current.pop(result.host, None) if result.status == "unreachable" else None
            if self.silent or not self._shown(result):
                return
            status = "would change" if result.check and result.status == "changed" else result.status
            if result.ignored:
                status = "failed (ignored)"
            line = f"[{STYLES.get(result.status, '')}]{status:<12}[/] {escape(result.host)}: {escape(result.task)}"
            message = NO_LOG_TEXT if result.no_log else result.msg
            if message and (result.status in ("failed", "unreachable") or self.verbosity):
                line += f" [dim]-[/] {escape(message)}"
            self._print(line)
            if result.module == "debug" and not result.no_log and result.status == "ok":
                shown = {key: value for key, value in result.output.items() if key not in ("changed", "failed")}
                self._print(escape(json.dumps(shown.get("msg", shown), indent=2, default=str)))
            if self.diff and result.diff and not result.no_log:
                self._print(Text(result.diff.rstrip("\n")))
            if self.verbosity and result.output and not result.no_log:
                for key in ("cmd", "stdout", "stderr"):
                    if result.output.get(key):
                        self._print(f"  [dim]{key}:[/] {escape(str(result.output[key]))}")

    def _shown(self, result: TaskResult) -> bool:
        if result.status in ("failed", "unreachable"):
            return True
        if self.quiet:
            return False
        if result.status == "changed" or result.module == "debug":
            return True
        return self.verbosity > 0

    def note(self, text: str) -> None:
        if self.silent and not self.console.is_terminal:  # the report's notes carry it
            return
        with self.lock:
            self._print(f"[bold yellow]note:[/] {escape(text)}")

    def run_end(self, report: RunReport) -> None:
        self.__exit__()
        if self.silent:
            return
        self.console.print(recap_table(report))
        for name, recap in report.recaps.items():
            if recap.reason and (recap.failed or recap.unreachable):
                self.console.print(f"[bold red]{escape(name)}[/]: {escape(recap.reason)}", highlight=False)
        if report.interrupted:
            self.console.print("[bold yellow]interrupted[/]: the recap covers what ran before Ctrl-C")


def recap_table(report: RunReport) -> Table:
    title = "RECAP (check mode: nothing was changed)" if report.check else "RECAP"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("host", "ok", "changed", "failed", "skipped", "unreachable", "rescued", "ignored", "time"):  # noqa: E501
        table.add_column(column, justify="left" if column == "host" else "right", no_wrap=True)
    for name, recap in report.recaps.items():
        style = "red" if recap.failed else "magenta" if recap.unreachable else "yellow" if recap.changed else "green"
        table.add_row(Text(name, style=style), str(recap.ok), str(recap.changed), str(recap.failed),
                      str(recap.skipped), str(recap.unreachable), str(recap.rescued), str(recap.ignored),
                      f"{recap.duration:.2f}s")
    return table

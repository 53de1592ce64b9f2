"""The console: live progress while running, the lines that matter, and a recap table.

Quiet when all is well: by default only changed, failed and unreachable results are printed (and
`debug` output); `-v` adds ok and skipped lines and command output, `-q` leaves only problems and
the recap. Progress takes one of two forms, never both:
- on a terminal, a live panel redrawn in place: one fleet line (hosts done / failed / unreachable of
  the total, elapsed) and a line per running host (its task n/m, how long that task has run, its
  name), the longest-running first, at most MAX_HOST_LINES of them and "+K more";
- anywhere else (CI, `| tee`, cron), a plain heartbeat line for each task that has run longer than
  HEARTBEAT_SECONDS, again every HEARTBEAT_SECONDS while it runs: no control codes, so logs stay text.
`-q` drops both forms: heartbeats are progress, not problems. `silent` (provision check) keeps the
live panel on a terminal and prints nothing else, so cron stays quiet.

The easy thing to get wrong is the locking: the live panel is redrawn from rich's refresh thread
while it holds rich's own lock, and printing through the live console takes that lock too. So the
progress state has its own lock, never held while printing (see FleetProgress), and the print lock
is never taken while drawing.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from provision.runner.events import Events, TaskPosition
from provision.runner.results import NO_LOG_TEXT, RunReport, TaskResult

STYLES = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "cyan", "unreachable": "bold magenta"}
HEARTBEAT_SECONDS = 10.0
MAX_HOST_LINES = 30  # the panel must fit a terminal; the fleet line counts the rest


def elapsed_text(seconds: float) -> str:
    """7s, 2m05s, 1h02m: short enough for a column, exact enough to tell a stuck task."""
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class HostProgress:
    status: str = "waiting"  # waiting, running, done, failed, unreachable, stopped
    task: str | None = None
    in_flight: bool = False  # started and no result yet
    started: float = 0.0  # when the current task started (the clock's time)
    position: TaskPosition | None = None
    count: int = 0  # tasks started in this play: the n when the runner gives no position
    next_beat: float = 0.0

    @property
    def position_text(self) -> str:
        return self.position.label if self.position is not None else str(self.count)


class FleetProgress:
    """What each host is doing, fed by the events (from many host threads) and read by the panel
    and the heartbeat. Methods take `lock` briefly and never print or draw while holding it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, heartbeat: float = HEARTBEAT_SECONDS):
        self.clock = clock
        self.heartbeat = heartbeat
        self.lock = threading.Lock()
        self.hosts: dict[str, HostProgress] = {}
        self.since: float | None = None  # the run's start, for the fleet's elapsed time

    def start(self) -> None:
        with self.lock:
            if self.since is None:
                self.since = self.clock()

    def play_start(self, hosts: list[str]) -> None:
        with self.lock:
            if self.since is None:
                self.since = self.clock()
            for name in hosts:  # a host in a later play starts again; a failed one is in no later play
                self.hosts[name] = HostProgress()

    def task_start(self, host: str, task: str, position: TaskPosition | None) -> None:
        now = self.clock()
        with self.lock:
            entry = self.hosts.setdefault(host, HostProgress())
            entry.status, entry.task, entry.in_flight, entry.started = "running", task, True, now
            entry.position, entry.count, entry.next_beat = position, entry.count + 1, now + self.heartbeat

    def task_result(self, result: TaskResult) -> None:
        with self.lock:
            entry = self.hosts.setdefault(result.host, HostProgress())
            entry.in_flight = False
            if result.status == "unreachable":
                entry.status = "unreachable"
            elif result.status == "failed" and not result.ignored:
                entry.status = "failed"  # until a rescue task starts on it (then running again)

    def host_end(self, host: str, status: str) -> None:
        with self.lock:
            entry = self.hosts.setdefault(host, HostProgress())
            entry.status, entry.in_flight = status, False

    def panel(self) -> Group:
        """The fleet line, then the running hosts, longest-running task first."""
        now = self.clock()
        with self.lock:
            counts = {status: 0 for status in ("waiting", "running", "done", "failed", "unreachable", "stopped")}
            for entry in self.hosts.values():
                counts[entry.status] = counts.get(entry.status, 0) + 1
            running = [(name, replace(entry)) for name, entry in self.hosts.items() if entry.status == "running"]
            since = self.since if self.since is not None else now
            total = len(self.hosts)
        fleet = (f"hosts: {counts['done']} done, {counts['failed']} failed, {counts['unreachable']} unreachable "
                 f"of {total}")
        extra = [f"{counts[status]} {status}" for status in ("running", "waiting", "stopped") if counts[status]]
        fleet += f" ({', '.join(extra)})" if extra else ""
        rows: list = [Text.assemble((fleet, "bold"), f"  elapsed {elapsed_text(now - since)}")]
        if not total:
            rows.append(Text("starting...", style="dim"))
        # in flight first, oldest first; a host between two tasks last
        running.sort(key=lambda item: (not item[1].in_flight, item[1].started, item[0]))
        table = Table.grid(padding=(0, 1))
        for column in ("host", "n/m", "elapsed", "task"):
            table.add_column(column, justify="right" if column in ("n/m", "elapsed") else "left",
                             no_wrap=column != "task", overflow="ellipsis")
        for name, entry in running[:MAX_HOST_LINES]:
            age = elapsed_text(now - entry.started) if entry.in_flight else ""
            table.add_row(Text(name, style="bold"), entry.position_text, age,
                          Text(entry.task or "", style="" if entry.in_flight else "dim"))
        if running:
            rows.append(table)
        if len(running) > MAX_HOST_LINES:
            rows.append(Text(f"+{len(running) - MAX_HOST_LINES} more", style="dim"))
        return Group(*rows)

    def due_heartbeats(self) -> list[str]:
        """The heartbeat lines due now: one per host whose task in flight has run a multiple of
        `heartbeat` seconds since its last line (oldest first, at most MAX_HOST_LINES and a count)."""
        now = self.clock()
        due = []
        with self.lock:
            for name, entry in self.hosts.items():
                if entry.in_flight and now >= entry.next_beat:
                    while entry.next_beat <= now:  # a late tick skips beats, never repeats them
                        entry.next_beat += self.heartbeat
                    due.append((entry.started, name, entry.task, entry.position, now - entry.started))
        due.sort(key=lambda item: (item[0], item[1]))
        lines = []
        for _, name, task, position, age in due[:MAX_HOST_LINES]:
            where = f", task {position.label}" if position is not None else ""
            lines.append(f"... {name}: {task} (running {elapsed_text(age)}{where})")
        if len(due) > MAX_HOST_LINES:
            lines.append(f"... and {len(due) - MAX_HOST_LINES} more host(s) with a task running over "
                         f"{elapsed_text(self.heartbeat)}")
        return lines


class ConsoleEvents(Events):
    def __init__(self, console: Console, verbosity: int = 0, quiet: bool = False, diff: bool = False,
                 silent: bool = False, clock: Callable[[], float] = time.monotonic, live: bool = True,
                 heartbeat: float = HEARTBEAT_SECONDS):
        self.console = console
        self.silent = silent  # only the live panel (a command that reports at the end: check)
        self.live_wanted = live  # False while the run asks questions on the terminal (--step)
        self.verbosity = verbosity
        self.quiet = quiet
        self.diff = diff
        self.lock = threading.Lock()  # one printer at a time (host threads, the heartbeat)
        self.progress = FleetProgress(clock, heartbeat)
        self.live: Live | None = None
        self.beating: threading.Thread | None = None
        self.stopping = threading.Event()

    # ---- live panel / heartbeat -------------------------------------------------------------------
    def __enter__(self) -> ConsoleEvents:
        self.progress.start()
        if self.console.is_terminal and not self.quiet and self.live_wanted:
            self.live = Live(self._panel(), console=self.console, transient=True, refresh_per_second=4,
                             get_renderable=self._panel)  # redrawn on each refresh: the elapsed times move
            self.live.start()
        elif not self.console.is_terminal and not self.quiet and not self.silent and self.beating is None:
            self.stopping.clear()
            self.beating = threading.Thread(target=self._beat, name="provision-heartbeat", daemon=True)
            self.beating.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop the panel and the heartbeat thread (joined: none outlives the run). Idempotent."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        if self.beating is not None:
            self.stopping.set()
            if self.beating is not threading.current_thread():
                self.beating.join()
            self.beating = None

    def _panel(self) -> Group:
        return self.progress.panel()

    def _beat(self) -> None:
        tick = min(1.0, self.progress.heartbeat / 10)  # a line is at most a tick late
        while not self.stopping.wait(tick):
            self.print_heartbeats()

    def print_heartbeats(self) -> None:
        lines = self.progress.due_heartbeats()
        if lines:
            with self.lock:
                for line in lines:
                    self.console.print(Text(line), highlight=False, soft_wrap=True)

    def _print(self, *items) -> None:
        target = self.live.console if self.live is not None else self.console
        target.print(*items, highlight=False)

    # ---- events -----------------------------------------------------------------------------------
    def play_start(self, name: str, hosts: list[str]) -> None:
        self.progress.play_start(hosts)
        if not self.quiet and not self.silent:
            with self.lock:
                self._print(f"[bold]PLAY[/] \\[{escape(name)}] on {len(hosts)} host(s)")

    def task_start(self, host: str, task: str, position: TaskPosition | None = None) -> None:
        self.progress.task_start(host, task, position)

    def host_end(self, host: str, status: str) -> None:
        self.progress.host_end(host, status)

    def task_result(self, result: TaskResult) -> None:
        self.progress.task_result(result)
        with self.lock:
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

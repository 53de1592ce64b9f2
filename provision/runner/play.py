"""A playbook over an inventory: plays in order, hosts in batches (`serial`), hosts in parallel.

`run_playbook` is the runner's entry point. It assumes the playbook was validated; it never
raises for a host's trouble (that is in the report), only for a bad `--limit` or host pattern.
"""
from __future__ import annotations

import contextvars
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from provision.hostpatterns import targeted_hosts
from provision.inventory import Inventory
from provision.playbook.model import Play, Playbook
from provision.runner.context import PlayContext
from provision.runner.events import Events, Forward
from provision.runner.hostrun import HostRun, planned_tasks
from provision.runner.hoststate import HostState
from provision.runner.interrupts import Interrupt
from provision.runner.options import RunOptions
from provision.runner.results import HostRecap, RunReport
from provision.runner.workers import run_split, split_reason, worker_count
from provision.templating import Templar
from provision.variables import layer


class _Recorder(Forward):
    """Forwards to the user's listener and keeps every result for the report."""

    def __init__(self, inner: Events, report: RunReport):
        super().__init__(inner)
        self.report = report
        self.lock = threading.Lock()

    def task_result(self, result) -> None:
        with self.lock:
            self.report.results.append(result)
        self.inner.task_result(result)

    def note(self, text: str) -> None:
        with self.lock:
            self.report.notes.append(text)
        self.inner.note(text)


def play_pattern(play: Play, extra_vars: dict) -> str:
    """The play's `hosts:` pattern; Jinja2 there sees only the extra vars, as in Ansible."""
    return str(Templar(extra_vars).render(play.hosts)) if "{{" in play.hosts else play.hosts


def batches(hosts: list[str], serial: list[int | str]) -> list[list[str]]:
    """Ansible's serial: sizes (numbers or percentages); the last size repeats until hosts run out."""
    if not serial:
        return [hosts] if hosts else []
    sizes = []
    for value in serial:
        if isinstance(value, str) and value.endswith("%"):
            sizes.append(max(1, math.floor(len(hosts) * float(value[:-1]) / 100)))
        else:
            sizes.append(max(1, int(value)))
    result, start, index = [], 0, 0
    while start < len(hosts):
        size = sizes[min(index, len(sizes) - 1)]
        result.append(hosts[start:start + size])
        start += size
        index += 1
    return result


def _serial_value(value) -> int | str:
    """A rendered serial entry: a number, or a percentage such as "30%"; anything else means all."""
    text = str(value).strip()
    if text.endswith("%") and text[:-1].replace(".", "", 1).isdigit():
        return text
    return int(text) if text.isdigit() and int(text) > 0 else 10**9


def run_playbook(playbook: Playbook, inventory: Inventory, options: RunOptions,
                 events: Events | None = None, stop: threading.Event | None = None,
                 interrupt: Interrupt | None = None) -> RunReport:
    """Run every play. An `interrupt` press (see runner/interrupts.py) lets the tasks in flight
    finish and starts no new one; a second drops them. Without the counting handler, a
    KeyboardInterrupt in this thread does the first.

    A fleet big enough for `options.workers` (None: sized to the machine) runs in worker
    processes (runner/workers.py) unless the playbook looks across hosts."""
    plays = [(play.name or play.hosts, _play_hosts(play, inventory, options)) for play in playbook.plays]
    count = worker_count(options.workers, len({name for _, names in plays for name in names}))
    if count <= 1 or split_reason(playbook) is not None:
        return run_here(playbook, inventory, options, events, stop, interrupt)
    report = RunReport(command=options.command, started=time.time(), check=options.check)
    listener = _Recorder(events or Events(), report)
    try:
        run_split(playbook, inventory, options, plays, count, listener, report, interrupt or Interrupt())
    finally:
        report.finished = time.time()
        (events or Events()).run_end(report)
    return report


def _play_hosts(play: Play, inventory: Inventory, options: RunOptions) -> list[str]:
    hosts = targeted_hosts(inventory, play_pattern(play, options.extra_vars), options.limit)
    if options.only_hosts is not None:  # --slice
        hosts = [name for name in hosts if name in options.only_hosts]
    return hosts


def run_here(playbook: Playbook, inventory: Inventory, options: RunOptions,
             events: Events | None = None, stop: threading.Event | None = None,
             interrupt: Interrupt | None = None) -> RunReport:
    """run_playbook in this process: the hosts in threads (at most `options.forks` at once)."""
    report = RunReport(command=options.command, started=time.time(), check=options.check)
    listener = _Recorder(events or Events(), report)
    stop = stop or threading.Event()
    interrupt = interrupt or Interrupt()
    states: dict[str, HostState] = {}
    try:
        for play in playbook.plays:
            if _interrupted(interrupt, stop, report, listener) or stop.is_set():
                break
            if not _run_play(play, playbook, inventory, options, listener, states, stop, report, interrupt):
                break
        _interrupted(interrupt, stop, report, listener)
    except KeyboardInterrupt:
        stop.set()
        report.interrupted = True
    finally:
        for state in states.values():
            state.close()
        report.recaps = {name: state.recap for name, state in states.items()}
        report.finished = time.time()
        (events or Events()).run_end(report)
    return report


def _run_play(play: Play, playbook: Playbook, inventory: Inventory, options: RunOptions, listener: _Recorder,
              states: dict[str, HostState], stop: threading.Event, report: RunReport,
              interrupt: Interrupt) -> bool:
    """Run one play; False when the run must stop (a whole batch failed, Ctrl-C)."""
    hosts = _play_hosts(play, inventory, options)
    for name in hosts:
        states.setdefault(name, HostState(inventory.hosts[name], HostRecap(name)))
    active = [name for name in hosts if not states[name].done]
    listener.play_start(play.name or play.hosts, active)
    if not active:
        listener.note(f"play {play.name or play.hosts!r}: " + ("no hosts matched" if not hosts else "no hosts left"))
        return True
    serial = Templar(layer(play.vars, play.vars_from_files, options.extra_vars)).render(list(play.serial))
    for number, batch in enumerate(batches(active, [_serial_value(value) for value in serial]), start=1):
        context = PlayContext(play=play, playbook_path=playbook.path, inventory=inventory, options=options,
                              events=listener, states=states, play_hosts=active, batch=batch, stop=stop,
                              last_play=play is playbook.plays[-1], interrupt=interrupt)
        if _interrupted(interrupt, stop, report, listener):
            return False
        _run_batch(context, options.forks, stop, report, interrupt)
        if stop.is_set():
            return False
        failed = [name for name in batch if states[name].done]
        if len(failed) == len(batch):
            listener.note(f"play {context.play_name!r}, batch {number}: every host failed "
                          f"({', '.join(batch)}); stopping the run")
            return False
        if play.max_fail_percentage is not None and len(failed) * 100 / len(batch) > play.max_fail_percentage:
            listener.note(f"play {context.play_name!r}, batch {number}: {len(failed)} of {len(batch)} hosts failed, "
                          f"more than max_fail_percentage {play.max_fail_percentage:g}%; stopping the run")
            return False
    return True


def _interrupted(interrupt: Interrupt, stop: threading.Event, report: RunReport, events: Events) -> bool:
    """Turn the first press into the run's stop (once, with a note); True when interrupted."""
    if interrupt.requested and not report.interrupted:
        stop.set()
        report.interrupted = True
        events.note("interrupted: letting tasks in flight finish, starting no new one "
                    "(Ctrl-C again to drop them)")
    return report.interrupted


def _run_batch(context: PlayContext, forks: int, stop: threading.Event, report: RunReport,
               interrupt: Interrupt) -> None:
    pool = ThreadPoolExecutor(max_workers=max(1, min(forks, len(context.batch))), thread_name_prefix="host")
    plan = planned_tasks(context.play, context.options)  # once, not once per host
    # each host thread sees what the command set up for the run (the vault passwords: provision.vault)
    futures = [pool.submit(contextvars.copy_context().run, HostRun(context.states[name], context, plan).run)
               for name in context.batch]
    dropped = False
    try:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2)
            _interrupted(interrupt, stop, report, context.events)
            if interrupt.drop_in_flight and not dropped and pending:
                dropped = True
                context.events.note("interrupted again: closing the connections of the tasks in flight")
                for name in context.batch:
                    context.states[name].close("closed by provision: interrupted twice")
    except KeyboardInterrupt:
        stop.set()
        report.interrupted = True
        context.events.note("interrupted: letting tasks in flight finish, starting no new one")
        wait(futures)
    finally:
        pool.shutdown(wait=True)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error

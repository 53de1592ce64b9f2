"""Past the GIL: a big fleet's hosts split over worker processes, results streamed to this one.

At about 70 ms of controller CPU per host (SSH handshakes, packets, templating), one interpreter
holds a thousand hosts for over a minute of one core whatever the network does. So, when the run is
big enough and the machine has cores to spare, the targeted hosts are dealt out (every W-th host to
the same worker) to W processes forked from this one: each runs the validated playbook on its share
with its own connections and threads (`-f` is shared out among them), and sends every event down a
pipe. This process prints, records and reports them exactly as if its own threads had made them,
and builds the one RunReport; the console, the history and --report-json never know.

What must stay in one process: a playbook that looks across hosts. `hostvars` (another host's
facts and registered values live in another process), `play_hosts`/`ansible_play_*`, `run_once`,
`serial` batches, `max_fail_percentage` and `any_errors_fatal` all need every host in one place,
so such a playbook runs in one process (`split_reason` says why, and `-vv` shows it).

Ctrl-C: the workers are in their own process group, so the terminal's signal reaches this process
alone, and each press is passed on once to every worker: the first lets their tasks in flight
finish, the second drops them, as in one process.
"""
from __future__ import annotations

import os
import pickle
import re
import selectors
import signal
import struct
import threading
from dataclasses import replace
from typing import Any, Iterator

from provision.inventory import Inventory
from provision.playbook.model import Playbook, Task
from provision.runner.events import Events, TaskPosition
from provision.runner.interrupts import Interrupt
from provision.runner.options import RunOptions
from provision.runner.results import HostRecap, RunReport, TaskResult

HOSTS_PER_WORKER = 200  # below this a fork costs more than the core it frees
CROSS_HOST_NAMES = re.compile(r"\b(hostvars|play_hosts|ansible_play_hosts|ansible_play_hosts_all|"
                              r"ansible_play_batch)\b")
_HEADER = struct.Struct("!I")


def split_reason(playbook: Playbook) -> str | None:
    """Why this playbook must run in one process, or None when its hosts may be split."""
    for play in playbook.plays:
        where = f"play {play.name or play.hosts!r}"
        for keyword, value in (("serial", play.serial), ("max_fail_percentage", play.max_fail_percentage),
                               ("any_errors_fatal", play.any_errors_fatal)):
            if value:
                return f"{where} uses {keyword}"
        if _mentions_cross_host(play.vars) or _mentions_cross_host(play.vars_from_files):
            return f"{where}: its vars look at other hosts (hostvars, play_hosts...)"
        for role in play.all_roles.values():
            if _mentions_cross_host([role.defaults, role.vars, role.params]):
                return f"role {role.name}: its vars look at other hosts"
            if _templates_mention_cross_host(os.path.join(role.path, "templates")):
                return f"role {role.name}: a template looks at other hosts"
        lists = (play.pre_tasks, [task for role in play.roles for task in role.tasks], play.tasks,
                 play.post_tasks, play.handlers)
        for task in _walk(task for tasks in lists for task in tasks):
            if task.run_once:
                return f"{task.mark}: run_once"
            if _mentions_cross_host([task.args, task.when, task.loop, task.vars, task.changed_when,
                                     task.failed_when, task.until, task.delegate_to]):
                return f"{task.mark}: looks at other hosts (hostvars, play_hosts...)"
    if _templates_mention_cross_host(os.path.join(os.path.dirname(os.path.abspath(playbook.path)), "templates")):
        return "a template of the playbook looks at other hosts"
    return None


def _walk(tasks) -> Iterator[Task]:
    for task in tasks:
        yield task
        if task.is_block:
            yield from _walk([*(task.block or []), *task.rescue, *task.always])


def _mentions_cross_host(value: Any) -> bool:
    if isinstance(value, str):
        return bool(CROSS_HOST_NAMES.search(value))
    if isinstance(value, dict):
        return any(_mentions_cross_host(key) or _mentions_cross_host(item) for key, item in value.items())
    if isinstance(value, (list, tuple, set)):
        return any(_mentions_cross_host(item) for item in value)
    return False


def _templates_mention_cross_host(folder: str) -> bool:
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                    if CROSS_HOST_NAMES.search(handle.read(1 << 20)):
                        return True
            except OSError:
                continue
    return False


def worker_count(requested: int | None, hosts: int) -> int:
    """How many processes run `hosts`: `requested` when given (1: this one alone), else one per
    HOSTS_PER_WORKER hosts, at most one per core."""
    if requested is not None:
        return max(1, min(requested, hosts))
    return max(1, min(os.cpu_count() or 1, hosts // HOSTS_PER_WORKER))


def shares(hosts: list[str], count: int) -> list[list[str]]:
    """Every `count`-th host to the same worker: neighbours in the inventory (a rack, a group) end
    up spread, so no worker gets all the slow ones."""
    return [hosts[index::count] for index in range(count) if hosts[index::count]]


# ---- in the worker --------------------------------------------------------------------------------
class PipeEvents(Events):
    """A worker's listener: every event, pickled, down the pipe to the parent (thread-safe)."""

    def __init__(self, descriptor: int):
        self.descriptor = descriptor
        self.lock = threading.Lock()
        self.broken = False

    def send(self, *message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            if self.broken:
                return
            try:
                _write_all(self.descriptor, _HEADER.pack(len(data)) + data)
            except OSError:  # the parent is gone: nothing can report this run any more
                self.broken = True

    def play_start(self, name: str, hosts: list[str]) -> None:
        self.send("play_start", name, hosts)

    def task_start(self, host: str, task: str, position: TaskPosition | None = None) -> None:
        self.send("task_start", host, task, position)

    def task_result(self, result: TaskResult) -> None:
        self.send("task_result", result)

    def host_end(self, host: str, status: str) -> None:
        self.send("host_end", host, status)

    def note(self, text: str) -> None:
        self.send("note", text)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def _worker(playbook: Playbook, inventory: Inventory, options: RunOptions, descriptor: int) -> None:
    """The child's whole life: run its share, send the recaps, exit without running the parent's
    clean-up (atexit, open files it inherited)."""
    from provision.runner.play import run_here

    code = 0
    events = PipeEvents(descriptor)
    interrupt = Interrupt()
    signal.signal(signal.SIGINT, interrupt.press)
    signal.signal(signal.SIGTERM, interrupt.press)
    try:
        report = run_here(playbook, inventory, options, events, interrupt=interrupt)
        events.send("end", report.recaps, report.interrupted)
    except BaseException as error:  # noqa: BLE001 - whatever happens, the parent must hear it
        events.send("error", f"{type(error).__name__}: {error}")
        code = 1
    finally:
        os.close(descriptor)
        os._exit(code)


# ---- in the parent --------------------------------------------------------------------------------
def run_split(playbook: Playbook, inventory: Inventory, options: RunOptions, plays: list[tuple[str, list[str]]],
              count: int, listener: Events, report: RunReport, interrupt: Interrupt) -> None:
    """Run the plays' hosts in `count` forked workers, replaying their events into `listener`
    (which keeps the results in `report`); fills report.recaps and report.interrupted. `plays`:
    each play's name and targeted hosts, announced once, when the first worker reaches it."""
    hosts = list(dict.fromkeys(name for _, names in plays for name in names))
    forks = max(1, -(-options.forks // count))
    children: dict[int, tuple[int, list[str]]] = {}  # read end -> (pid, hosts)
    for share in shares(hosts, count):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.setpgid(0, 0)
            os.close(read_end)
            for other in children:  # the read ends of the workers forked before this one
                os.close(other)
            _worker(playbook, inventory, replace(options, only_hosts=frozenset(share), forks=forks, workers=1,
                                                 step=None), write_end)
        os.close(write_end)
        children[read_end] = (pid, share)
    _collect(children, plays, listener, report, interrupt)
    report.recaps = {name: report.recaps[name] for name in hosts if name in report.recaps}


def _collect(children: dict[int, tuple[int, list[str]]], plays: list[tuple[str, list[str]]], listener: Events,
             report: RunReport, interrupt: Interrupt) -> None:
    selector = selectors.DefaultSelector()
    buffers: dict[int, bytearray] = {}
    for descriptor in children:
        selector.register(descriptor, selectors.EVENT_READ)
        buffers[descriptor] = bytearray()
    finished: set[int] = set()
    passed_on = 0
    reached = {descriptor: 0 for descriptor in children}  # plays each worker has started
    announced = [0]
    while len(finished) < len(children):
        while passed_on < interrupt.presses:  # each press once to every worker still running
            passed_on += 1
            for descriptor, (pid, _) in children.items():
                if descriptor not in finished:
                    _signal(pid, signal.SIGINT)
        for key, _ in selector.select(timeout=0.2):
            descriptor = key.fd
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                selector.unregister(descriptor)
                finished.add(descriptor)
                continue
            buffer = buffers[descriptor]
            buffer += chunk
            while len(buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buffer)
                if len(buffer) < _HEADER.size + size:
                    break
                message = pickle.loads(bytes(buffer[_HEADER.size:_HEADER.size + size]))
                del buffer[:_HEADER.size + size]
                if message[0] == "play_start":
                    reached[descriptor] += 1
                    while announced[0] < reached[descriptor] and announced[0] < len(plays):
                        listener.play_start(*plays[announced[0]])  # once, for the whole fleet
                        announced[0] += 1
                    continue
                _replay(message, children[descriptor][1], listener, report)
    selector.close()
    for descriptor, (pid, share) in children.items():
        os.close(descriptor)
        _, status = os.waitpid(pid, 0)
        missing = [name for name in share if name not in report.recaps]
        if missing:  # a worker that died before its recaps: its hosts are failed with the reason
            reason = f"worker process {pid} ended ({_ended(status)}) before reporting"
            for name in missing:
                report.recaps[name] = HostRecap(name, failed=1, reason=reason)
            listener.note(f"{reason}: hosts {', '.join(missing)} failed")


def _replay(message: tuple, share: list[str], listener: Events, report: RunReport) -> None:
    kind, *values = message
    if kind == "task_start":
        host, task, position = values
        listener.task_start(host, task, position)
    elif kind == "task_result":
        listener.task_result(values[0])
    elif kind == "host_end":
        listener.host_end(*values)
    elif kind == "note":
        listener.note(values[0])
    elif kind == "end":
        recaps, interrupted = values
        report.recaps.update(recaps)
        report.interrupted |= interrupted
    elif kind == "error":
        listener.note(f"internal error in the worker running {', '.join(share[:3])}"
                      f"{'...' if len(share) > 3 else ''}: {values[0]} (please report it)")


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


__all__ = ["run_split", "split_reason", "worker_count"]

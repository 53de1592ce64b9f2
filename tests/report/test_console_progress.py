"""Live progress without hosts: the panel's text, the heartbeat's lines and thread, and the n/m the
runner hands over (an in-process run on an `ansible_connection: local` host)."""
from __future__ import annotations

import io
import re
import threading
import time

from rich.console import Console

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.report.console import ConsoleEvents
from provision.runner import Collect, Events, RunOptions, RunReport, TaskResult, run_playbook
from provision.runner.events import TaskPosition
from tests.engine.scenario import write


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def piped_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=120)


def rendered(renderable, width: int = 120) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=False)
    console.print(renderable)
    return console.export_text()


def result(host: str, status: str, task: str = "t") -> TaskResult:
    return TaskResult(host=host, play="site", task=task, file="site.yaml", line=1, status=status)


def test_the_panel_shows_the_fleet_and_each_running_hosts_task_n_of_m_and_elapsed():
    clock = Clock()
    events = ConsoleEvents(piped_console(), clock=clock)
    events.play_start("site", ["gpu01", "gpu02", "gpu03", "gpu04", "gpu05"])
    events.task_start("gpu01", "docker : pull the PyTorch image", TaskPosition(3, 12))
    clock.now += 10
    events.task_start("gpu02", "nvidia : install the driver", TaskPosition(5, 12, exact=False))
    events.task_start("gpu03", "ping", TaskPosition(12, 12))
    events.task_result(result("gpu03", "ok"))
    events.host_end("gpu03", "done")
    events.task_start("gpu04", "Gathering Facts", TaskPosition(1, 12))
    events.task_result(result("gpu04", "unreachable"))
    events.host_end("gpu04", "unreachable")
    clock.now += 65
    text = rendered(events._panel())
    assert "hosts: 1 done, 0 failed, 1 unreachable of 5 (2 running, 1 waiting)  elapsed 1m15s" in text, text
    lines = [line for line in text.splitlines() if line.startswith("gpu")]
    assert re.match(r"gpu01 +3/12 +1m15s +docker : pull the PyTorch image", lines[0]), text
    assert re.match(r"gpu02 +5/~12 +1m05s +nvidia : install the driver", lines[1]), text
    assert len(lines) == 2, "done and unreachable hosts leave the host lines"


def test_the_panel_keeps_thirty_host_lines_longest_running_first_and_counts_the_rest():
    clock = Clock()
    events = ConsoleEvents(piped_console(), clock=clock)
    names = [f"node{number:02d}" for number in range(35)]
    events.play_start("site", names)
    for name in reversed(names):  # node34 starts first: it has run longest
        events.task_start(name, "apt : upgrade")
        clock.now += 1
    text = rendered(events._panel())
    lines = [line for line in text.splitlines() if line.startswith("node")]
    assert len(lines) == 30 and lines[0].startswith("node34") and lines[-1].startswith("node05"), text
    assert "+5 more" in text
    assert re.match(r"node34 +1 +35s +apt : upgrade", lines[0]), "without a position: the n alone"


def test_a_heartbeat_line_for_a_task_past_ten_seconds_then_every_ten_seconds():
    clock = Clock()
    events = ConsoleEvents(piped_console(), clock=clock)
    progress = events.progress
    events.play_start("site", ["host01", "host02"])
    events.task_start("host01", "docker : pull the PyTorch image", TaskPosition(3, 12))
    events.task_start("host02", "ping")
    events.task_result(result("host02", "ok"))
    clock.now += 9.5
    assert progress.due_heartbeats() == []
    clock.now += 0.5
    assert progress.due_heartbeats() == ["... host01: docker : pull the PyTorch image (running 10s, task 3/12)"]
    clock.now += 5
    assert progress.due_heartbeats() == [], "at most one line per host every ten seconds"
    clock.now += 5
    assert progress.due_heartbeats() == ["... host01: docker : pull the PyTorch image (running 20s, task 3/12)"]
    events.task_result(result("host01", "changed"))
    clock.now += 30
    assert progress.due_heartbeats() == [], "a finished task has no heartbeat"


def test_the_heartbeat_thread_prints_plain_lines_when_piped_and_ends_with_the_run(tmp_path):
    path = tmp_path / "out.txt"
    with open(path, "w") as handle:
        console = Console(file=handle, force_terminal=False, width=80)
        events = ConsoleEvents(console, heartbeat=0.2)
        with events:
            assert events.beating is not None and events.beating.is_alive()
            events.play_start("site", ["host01"])
            events.task_start("host01", "command sleep 25", TaskPosition(2, 2))
            time.sleep(0.7)
            events.run_end(RunReport(command="apply", started=time.time()))
            assert events.beating is None
        assert not [thread for thread in threading.enumerate() if thread.name == "provision-heartbeat"]
    text = path.read_text()
    assert "... host01: command sleep 25 (running 0s, task 2/2)" in text, text
    assert "\x1b" not in text, "plain text: no control codes"


def test_no_heartbeat_when_quiet_silent_or_on_a_terminal():
    for events in (ConsoleEvents(piped_console(), quiet=True), ConsoleEvents(piped_console(), silent=True),
                   ConsoleEvents(Console(file=io.StringIO(), force_terminal=True))):
        with events:
            assert events.beating is None
        assert events.live is None


SITE = {
    "inventory.yaml": "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    "site.yaml": """
        - hosts: all
          gather_facts: false
          tasks:
            - name: one
              command: "true"
            - block:
                - name: two
                  command: "true"
                - name: skipped by when
                  command: "true"
                  when: false
              always:
                - name: four
                  command: "true"
            - name: only with --tags extra
              command: "true"
              tags: [never, extra]
        - hosts: all
          gather_facts: false
          tasks:
            - name: notifies
              command: "true"
              notify: bounce
            - block:
                - command: "false"
              rescue:
                - name: rescued
                  command: "true"
          handlers:
            - name: bounce
              command: "true"
    """,
}


class OldListener(Events):
    """A listener written before positions and host_end existed."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    def task_start(self, host: str, task: str) -> None:
        self.started.append((host, task))


def test_the_runner_hands_each_task_its_n_of_m_and_says_when_a_host_is_done(tmp_path):
    write(tmp_path, SITE)
    inventory = load_inventory(str(tmp_path / "inventory.yaml"))
    playbook = load_and_validate(str(tmp_path / "site.yaml"), inventory)
    events = Collect()
    report = run_playbook(playbook, inventory, RunOptions(), events)
    assert report.exit_code == 0, [(row.task, row.msg) for row in report.results]
    labels = [(task, position.label) for (_, task), position in zip(events.started, events.positions)]
    assert labels[:4] == [("one", "1/4"), ("two", "2/4"), ("skipped by when", "3/4"), ("four", "4/4")]
    # play 2: a handler may fire and a rescue may run, so 2 is an estimate; both ran here: 4 of ~2
    assert labels[4:] == [("notifies", "1/~2"), ("command false", "2/~2"), ("rescued", "3/~2"),
                          ("bounce", "4/~2")]
    assert events.ended == [("localhost", "done"), ("localhost", "done")]

    tagged = Collect()
    run_playbook(playbook, inventory, RunOptions(tags={"extra"}), tagged)
    assert [position.label for position in tagged.positions] == ["1/1"], "--tags narrows the plan"

    old = OldListener()
    assert run_playbook(playbook, inventory, RunOptions(), old).exit_code == 0
    assert [task for _, task in old.started][:2] == ["one", "two"], "an old listener still gets its events"

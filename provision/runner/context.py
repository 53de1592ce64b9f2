"""What every host of a play shares while it runs: the play, the run's options, the other hosts.

Passed explicitly to each HostRun (no module-level state), so two runs can share a process.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from provision import __version__
from provision.inventory import Inventory
from provision.playbook.model import Play
from provision.runner.events import Events
from provision.runner.hoststate import HostState, HostVars
from provision.runner.interrupts import Interrupt
from provision.runner.options import RunOptions
from provision.runner.results import TaskResult


@dataclass
class RunOnce:
    """The shared outcome of a `run_once` task: the first host runs it, the others reuse it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    result: TaskResult | None = None
    data: Any = None


@dataclass
class PlayContext:
    play: Play
    playbook_path: str
    inventory: Inventory
    options: RunOptions
    events: Events
    states: dict[str, HostState]  # every host of the run, by name
    play_hosts: list[str]  # hosts of the play still active at its start
    batch: list[str]
    stop: threading.Event  # Ctrl-C or any_errors_fatal: hosts stop before their next task
    last_play: bool = False  # a host done with it is done with the run: its connection closes at once
    run_once: dict[int, RunOnce] = field(default_factory=dict)
    run_once_lock: threading.Lock = field(default_factory=threading.Lock)
    # Ctrl-C as the signal handler counted it: the main thread turns it into `stop` only when it
    # next polls (every 0.2 s), and a host whose task ended meanwhile must not start another
    interrupt: Interrupt | None = None

    @property
    def stopping(self) -> bool:
        """No new task starts: the run is stopping, or the user pressed Ctrl-C."""
        return self.stop.is_set() or (self.interrupt is not None and self.interrupt.requested)

    @property
    def playbook_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.playbook_path))

    @property
    def play_name(self) -> str:
        return self.play.name or self.play.hosts

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        """`groups`: the inventory does not change during a play, so it is built once, not per task."""
        return {name: _members(self.inventory, name) for name in self.inventory.groups}

    def shared(self, key: int) -> RunOnce:
        with self.run_once_lock:
            return self.run_once.setdefault(key, RunOnce())

    def magic(self, host: str) -> dict[str, Any]:
        """Ansible's magic variables for `host` in this play."""
        inventory = self.inventory
        options = self.options
        return {
            "inventory_hostname": host,
            "inventory_hostname_short": host.split(".")[0],
            "group_names": inventory.hosts[host].group_names,
            "groups": self.groups,
            "hostvars": HostVars(self.states, inventory, options),
            "play_hosts": list(self.batch),
            "ansible_play_hosts": [name for name in self.play_hosts if not self.states[name].done],
            "ansible_play_hosts_all": list(self.play_hosts),
            "ansible_play_batch": list(self.batch),
            "ansible_play_name": self.play_name,
            "ansible_check_mode": options.check,
            "ansible_diff_mode": options.diff,
            "ansible_run_tags": sorted(options.tags) or ["all"],
            "ansible_skip_tags": sorted(options.skip_tags),
            "ansible_limit": options.limit or "",
            "ansible_version": {"full": __version__, "string": f"provision {__version__}"},
            "playbook_dir": self.playbook_dir,
            "inventory_dir": os.path.dirname(os.path.abspath(inventory.path)),
            "inventory_file": os.path.abspath(inventory.path),
        }


def _members(inventory: Inventory, group: str) -> list[str]:
    return [name for name, host in inventory.hosts.items() if group in host.groups]

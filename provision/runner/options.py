"""The settings of one run, as plain data the CLI fills and tests build directly."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provision.runner.step import Stepper
from provision.transport.connect import ConnectOptions


@dataclass
class RunOptions:
    check: bool = False
    diff: bool = False
    forks: int = 100  # enough for 100 hosts at once: each fork is a thread waiting on SSH
    limit: str | None = None
    tags: set[str] = field(default_factory=set)
    skip_tags: set[str] = field(default_factory=set)
    extra_vars: dict[str, Any] = field(default_factory=dict)
    become_password: str | None = None  # from -K or PROVISION_BECOME_PASSWORD; never printed
    accept_new_host_keys: bool = False
    ssh_config: str | None = None  # -F; default ~/.ssh/config
    connect_timeout: float = 10.0
    command: str = "apply"
    # --start-at-task: skip every task before the first one with this name ("name" or "role : name")
    start_at_task: str | None = None
    step: Stepper | None = None  # --step: ask before each task (runner/step.py)
    only_hosts: frozenset[str] | None = None  # --slice: the hosts of this slice (None: every targeted host)
    workers: int | None = 1  # processes sharing the hosts (runner/workers.py); None: sized to the machine

    @property
    def connect_options(self) -> ConnectOptions:
        return ConnectOptions(self.accept_new_host_keys, self.connect_timeout, self.ssh_config)

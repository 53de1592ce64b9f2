"""A testinfra backend on provision's own connection: `provision://NAME` in `--hosts`.

Why not testinfra's `ssh` or `paramiko` backends: the first makes one OpenSSH handshake per
`host.run` unless multiplexing is set up and working, the second accepts unknown host keys with a
warning. This one opens one provision SSHTransport per host (the host-key policy, known_hosts,
key, port, user and ssh_config handling of `apply`, exactly) and runs every command of that host's
tests as a channel on it; `sudo` is provision's become, so a login as the become user runs without
sudo, as in apply.

It runs inside the pytest worker that provision.verify.run starts: the worker's environment
variable PROVISION_VERIFY_CONNECTIONS names a JSON file the parent wrote with each host's
rendered connection settings. A host that cannot be reached, or is lost mid-way, is announced once
on the events channel (provision.verify.plugin) and its remaining tests are skipped at once,
instead of each waiting for its own timeout.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any

import pytest
from testinfra.backend import base

from provision.errors import BecomeFailed, ConnectionFailed
from provision.inventory import Connection
from provision.transport.base import Become
from provision.transport.connect import ConnectOptions, connect
from provision.verify.hosts import CONNECTIONS_VARIABLE
from provision.verify.plugin import send_event

NAME = "provision"
COMMAND_TIMEOUT = 300  # seconds one check's command may take: a wedged nvidia-smi fails its check, never hangs the run


@functools.lru_cache(maxsize=1)
def connection_records() -> dict[str, dict[str, Any]]:
    """The parent's connection file, read once by the worker process."""
    with open(os.environ[CONNECTIONS_VARIABLE], encoding="utf-8") as handle:
        return json.load(handle)


class ProvisionBackend(base.BaseBackend):
    """testinfra's backend interface (run -> CommandResult) over one provision transport."""

    NAME = NAME

    def __init__(self, hostname: str, *args: Any, **kwargs: Any):
        kwargs.pop("sudo", None)
        kwargs.pop("sudo_user", None)
        super().__init__(hostname, *args, **kwargs)
        self.transport = None
        self.lost = ""  # why the host cannot be reached; testinfra keeps one backend per host
        record = connection_records().get(hostname)
        if record is None:
            raise RuntimeError(f"provision verify: no connection settings for {hostname}")
        self.record = record
        self.become = Become(record["sudo_user"], record.get("sudo_password")) if record["sudo_user"] else None

    def _connect(self):
        if self.transport is None:
            record = self.record
            self.transport = connect(self.hostname, Connection(**record["connection"]), record["rendered"],
                                     ConnectOptions(**record["options"]))
        return self.transport

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        if self.lost:
            pytest.skip(f"host unreachable: {self.lost}")
        text = self.quote(command, *args)
        try:
            result = self._connect().run(text, become=self.become, timeout=COMMAND_TIMEOUT)
        except ConnectionFailed as error:
            self.lost = str(error)
            self.close()
            send_event({"event": "unreachable", "host": self.hostname, "reason": self.lost})
            pytest.skip(f"host unreachable: {error}")
        except BecomeFailed as error:  # the checks cannot run as they must: not a failed assertion
            send_event({"event": "broken", "host": self.hostname, "reason": str(error)})
            pytest.skip(f"sudo failed: {error}")
        return self.result(result.rc, self.encode(text), result.stdout.encode("utf-8"),
                           result.stderr.encode("utf-8"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

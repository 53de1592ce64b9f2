"""Run shell text on this machine: `ansible_connection: local` and `delegate_to: localhost`.

Same contract as SSH: POSIX `sh -c`, stdin bytes, sudo through provision.transport.base.
"""
from __future__ import annotations

import os
import pwd
import signal
import subprocess

from provision.transport.base import (
    Become,
    CommandResult,
    Transport,
    as_bytes,
    finish_become,
    needed_become,
    wrap_become,
)

TIMEOUT_RC = 124  # what coreutils `timeout` returns, so a timeout reads the same on every transport


class LocalTransport(Transport):
    """Runs each command in its own `sh -c` (own process group, so a timeout kills the whole tree)."""

    name = "local"
    local = True

    def __init__(self, host_label: str = "localhost"):
        self.host_label = host_label
        self.user = current_user()

    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        become: Become | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        become = needed_become(become, self.user)
        self.commands_sent += 1
        wrapped = wrap_become(command, become)
        process = subprocess.Popen(
            ["sh", "-c", wrapped.command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(wrapped.stdin_prefix + as_bytes(stdin), timeout=timeout)
            rc = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            stderr += f"\nprovision: command timed out after {timeout:g}s".encode()
            rc = TIMEOUT_RC
        result = CommandResult(rc, _text(stdout), _text(stderr))
        return finish_become(result, wrapped, become, self.host_label)

    def open(self) -> None:
        """Nothing to open; here so a reboot's reconnect works the same on every transport."""

    def close(self) -> None:
        pass


def current_user() -> str | None:
    """This process's effective user by name (what become compares with); None without a passwd entry."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")

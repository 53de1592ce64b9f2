"""Run shell text on this machine: `ansible_connection: local` and `delegate_to: localhost`.

Same contract as SSH: POSIX `sh -c`, stdin bytes, sudo through provision.transport.base.
"""
from __future__ import annotations

import os
import pwd
import selectors
import signal
import subprocess
import threading
import time

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
OUTPUT_GRACE = 2.0  # seconds the rest of the output may take after the shell exits, while none flows


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
        rc, stdout, stderr = _exchange(process, wrapped.stdin_prefix + as_bytes(stdin), timeout)
        result = CommandResult(rc, _text(stdout), _text(stderr))
        return finish_become(result, wrapped, become, self.host_label)

    def open(self) -> None:
        """Nothing to open; here so a reboot's reconnect works the same on every transport."""

    def close(self) -> None:
        pass


def _exchange(process: subprocess.Popen, data: bytes, timeout: float | None) -> tuple[int, bytes, bytes]:
    """Write stdin while reading stdout and stderr; done once the shell has exited and its output
    has stopped flowing (OUTPUT_GRACE), not at EOF: a daemon the command started in the
    background (`shell: start-it.sh &`) may hold the pipes open for ever. Ansible's commands
    return there too, and so do provision's over SSH."""

    def send() -> None:
        try:
            if data:
                process.stdin.write(data)
            process.stdin.close()
        except OSError:
            pass  # the command exited without reading all its input

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + timeout if timeout else None
    output = {process.stdout: bytearray(), process.stderr: bytearray()}
    rc = None
    drained_by = None
    with selectors.DefaultSelector() as selector:
        for stream in output:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            flowed = False
            for key, _ in selector.select(0.2):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    output[key.fileobj] += chunk
                    flowed = True
                else:
                    selector.unregister(key.fileobj)
            now = time.monotonic()
            if rc is None and deadline and now > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                output[process.stderr] += f"\nprovision: command timed out after {timeout:g}s".encode()
                rc = TIMEOUT_RC
            if rc is None:
                rc = process.poll()
            if rc is not None and (drained_by is None or flowed):
                drained_by = now + OUTPUT_GRACE
            if rc is not None and now > drained_by:
                break
    process.wait()
    process.stdout.close()
    process.stderr.close()
    return rc if rc is not None else process.returncode, bytes(output[process.stdout]), bytes(output[process.stderr])


def current_user() -> str | None:
    """This process's effective user by name (what become compares with); None without a passwd entry."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")

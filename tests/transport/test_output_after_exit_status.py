"""The SSH read loop keeps reading after the exit status until EOF: sshd can send a command's exit
status before the last of the output it still buffers (seen as reads truncated after their first
line on a loaded machine), and a command that leaves a daemon holding its output open must still
return. The channel here is scripted, because the ordering cannot be forced on a real sshd."""
from __future__ import annotations

import os
import threading
import time

from provision.transport.ssh import _exchange


class ScriptedChannel:
    """Exit status at once; `late` bytes of stdout (and EOF, if `eof`) only `delay` seconds later."""

    def __init__(self, first: bytes, late: bytes, delay: float, eof: bool = True):
        self.pending = bytearray(first)
        self.late, self.delay, self.eof = late, delay, eof
        self.started = time.monotonic()
        self.eof_received = False
        self.closed = False
        self.status_event = threading.Event()
        self.status_event.set()
        self._read, self._write = os.pipe()  # never readable: select() just waits

    def _tick(self) -> None:
        if self.late and time.monotonic() - self.started >= self.delay:
            self.pending += self.late
            self.late = b""
            self.eof_received = self.eof

    def fileno(self) -> int:
        return self._read

    def recv_ready(self) -> bool:
        self._tick()
        return bool(self.pending)

    def recv(self, size: int) -> bytes:
        data, self.pending = bytes(self.pending[:size]), self.pending[size:]
        return data

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return True

    def recv_exit_status(self) -> int:
        return 0

    def sendall(self, data: bytes) -> None:
        pass

    def shutdown_write(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        os.close(self._read)
        os.close(self._write)


def test_output_that_arrives_after_the_exit_status_is_kept():
    rc, stdout, _ = _exchange(ScriptedChannel(b"file\n", b"644 0 0 root root 12 1700000000\n", delay=0.5), b"", 30)
    assert rc == 0 and stdout == b"file\n644 0 0 root root 12 1700000000\n"


def test_a_daemon_holding_the_output_open_does_not_hang_the_task():
    started = time.monotonic()
    rc, stdout, _ = _exchange(ScriptedChannel(b"started\n", b"", delay=0, eof=False), b"", 30)
    assert rc == 0 and stdout == b"started\n" and time.monotonic() - started < 5


def test_the_local_transport_returns_when_the_shell_exits_though_a_daemon_holds_its_output():
    """`delegate_to: localhost` with `shell: start.sh &` (ansible-core's command_shell target):
    the shell's output and rc come back once it exits and its output stops, not when the
    backgrounded child lets go of the pipes; a child still printing is read to its end."""
    from provision.transport.local import OUTPUT_GRACE, LocalTransport

    local = LocalTransport()
    started = time.monotonic()
    result = local.run("echo before; sleep 30 & echo $! >&2; echo after >&2; exit 4")
    took = time.monotonic() - started
    daemon, said = result.stderr.split("\n", 1)
    os.kill(int(daemon), 9)
    assert (result.rc, result.stdout, said) == (4, "before\n", "after\n")
    assert took < OUTPUT_GRACE + 10, f"waited {took:.1f}s for the daemon"
    flowing = local.run("for i in 1 2 3; do echo $i; sleep 0.2; done & exit 0")
    assert (flowing.rc, flowing.stdout) == (0, "1\n2\n3\n")
    large = local.run("cat", stdin=b"x" * 2_000_000)
    assert (large.rc, len(large.stdout)) == (0, 2_000_000)
    bounded = local.run("sleep 20; echo late", timeout=1)
    assert bounded.rc == 124 and "late" not in bounded.stdout

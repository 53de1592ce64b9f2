"""Ctrl-C and SIGTERM as data the runner polls, never as an exception in the middle of a run.

An exception raised by a signal lands wherever the main thread happens to be: inside the report
writer, the history store, a `finally`. A second Ctrl-C used to do exactly that and left no report
and a history run still `running`. So the handler only counts presses; the runner reads them:
the first press starts no new task and lets the tasks in flight finish, the second closes the
connections of the tasks in flight (their hosts report the connection lost; files being written
are left as they were, see remote_file.write_command). Later presses change nothing more: the
report and the history are always finished, with exit code 130.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """How many times the user asked the run to stop."""

    def __init__(self) -> None:
        self.presses = 0

    def press(self, *_: object) -> None:
        self.presses += 1

    @property
    def requested(self) -> bool:
        """Start no new task."""
        return self.presses >= 1

    @property
    def drop_in_flight(self) -> bool:
        """Stop waiting for the tasks in flight: close their connections."""
        return self.presses >= 2

    @contextmanager
    def handling(self) -> Iterator[Interrupt]:
        """Install the counting handler for SIGINT and SIGTERM for the duration (main thread only;
        elsewhere Python delivers no signal anyway and KeyboardInterrupt keeps its old path)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        # a signal the parent ignored (nohup, a background job of a script) stays ignored
        previous = {number: signal.getsignal(number) for number in SIGNALS
                    if signal.getsignal(number) is not signal.SIG_IGN}
        for number in previous:
            signal.signal(number, self.press)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

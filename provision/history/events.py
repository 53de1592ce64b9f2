"""HistoryEvents: the listener that records a run's results in the store as the runner reports them."""
from __future__ import annotations

from provision.history.store import HistoryError, HistoryStore
from provision.runner.events import Events, Forward
from provision.runner.results import RunReport, TaskResult


class HistoryEvents(Forward):
    """Forwards every event to `inner` and queues each TaskResult in the store; a host's end
    flushes the queue, so a host's results are in the history as soon as it is done.

    A failing write (disk full, a lock held too long, the database server gone) must not stop a
    fleet run: it is said once through `inner.note` and the run goes on.
    """

    def __init__(self, store: HistoryStore, run_id: int, inner: Events | None = None):
        super().__init__(inner)
        self.store = store
        self.run_id = run_id
        self.write_failed = False

    def task_result(self, result: TaskResult) -> None:
        try:
            self.store.record(self.run_id, result)
        except HistoryError as error:
            self._failed(str(error))
        self._background_failure()
        self.inner.task_result(result)

    def host_end(self, host: str, status: str) -> None:
        self.flush()
        self.inner.host_end(host, status)

    def run_end(self, report: RunReport) -> None:
        self.flush()
        self.inner.run_end(report)

    def flush(self) -> None:
        try:
            self.store.flush()
        except HistoryError as error:
            self._failed(str(error))
        self._background_failure()

    def _background_failure(self) -> None:
        if self.store.write_error is not None:
            self._failed(self.store.write_error)

    def _failed(self, message: str) -> None:
        if not self.write_failed:
            self.write_failed = True
            self.inner.note(f"history: {message}")

    # The console listener is a context manager (its live panel); so is this wrapper.
    def __enter__(self) -> HistoryEvents:
        if hasattr(self.inner, "__enter__"):
            self.inner.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
        if hasattr(self.inner, "__exit__"):
            self.inner.__exit__(*exc)

"""The run store's one API, written once over a small backend interface (SQLite or PostgreSQL).

`HistoryStore(location)` opens the backend the location names: a `postgresql://` or `postgres://`
URL opens PostgreSQL (provision/history/postgres.py), anything else is a SQLite file
(provision/history/sqlite.py), the default `.provision/history.sqlite`. A backend only knows how to
run one statement, insert rows, and keep its schema version; every write lives here and every read
in provision/history/queries.py, each as one text of SQL for both.

Writes are batched (see provision/history/__init__.py for the promise): `record` only queues a
result; the queue is written in one transaction when it reaches BATCH_SIZE results, when the
caller flushes (HistoryEvents does at each host's end), at every read, when the run finishes,
and by a background thread every FLUSH_INTERVAL seconds. That thread is also the run's heartbeat,
which lets a store opened on another machine tell a run whose process is gone from a slow one.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Iterator

from provision.errors import ProvisionError
from provision.history.figures import gpu_figures
from provision.history.queries import HistoryQueries, placeholders
from provision.history.records import Row
from provision.history.schema import FIGURE_COLUMNS, RESULT_COLUMNS, SCHEMA_VERSION, statements
from provision.runner.results import NO_LOG_TEXT, RunReport, TaskResult, is_drift

DEFAULT_PATH = os.path.join(".provision", "history.sqlite")
URL_SCHEMES = ("postgresql", "postgres")
BATCH_SIZE = 200  # results per transaction at most, while results pour in
FLUSH_INTERVAL = 0.5  # seconds a result may wait in the queue
HEARTBEAT_INTERVAL = 30.0  # a running run says it is alive at least this often
STALE_AFTER = 300.0  # a run on another machine silent this long is gone (ten missed heartbeats)


class HistoryError(ProvisionError):
    """The history cannot be opened or written, or is from a newer provision."""


def default_path() -> str:
    return os.path.join(os.getcwd(), DEFAULT_PATH)


def is_database_url(location: str | None) -> bool:
    """Whether --state-db names a database server (postgresql://...) rather than a SQLite file."""
    scheme, separator, _ = (location or "").partition("://")
    return bool(separator) and scheme.lower() in URL_SCHEMES


class HistoryStore(HistoryQueries):
    """The history, thread-safe: one connection, one lock around it, a queue of pending results.

    Constructing HistoryStore picks the backend from the location (as pathlib.Path picks its
    flavour); a backend subclass fills in the few methods marked "backend" below.
    """

    noun = "history"
    types: dict[str, str] = {}
    database_errors: tuple[type[BaseException], ...] = (OSError,)

    def __new__(cls, location: str | None = None):
        if cls is HistoryStore:
            if is_database_url(location):
                from provision.history.postgres import PostgresStore

                cls = PostgresStore
            else:
                from provision.history.sqlite import SqliteStore

                cls = SqliteStore
        return super().__new__(cls)

    def __init__(self, location: str | None = None):
        self.lock = threading.RLock()  # around the connection; reads flush first while holding it
        self._pending: list[tuple[tuple, tuple | None]] = []
        self._pending_lock = threading.Lock()  # host threads queue without waiting for the database
        self._check_modes: dict[int, bool] = {}
        self._open_runs: set[int] = set()
        self._flusher: _Flusher | None = None
        self._last_beat = 0.0
        self._closed = False
        self.write_error: str | None = None  # the first failed background write, for HistoryEvents to say
        self.transactions = 0  # committed write transactions, for the tests of batching
        self.path = self._where(location)
        try:
            self._open(location)
            self._setup()
        except self.database_errors as error:
            self._close_connection_quietly()
            raise HistoryError(f"cannot open the {self.noun} {self.path}: {self._explain(error)}") from None
        except HistoryError:
            self._close_connection_quietly()
            raise
        self.mark_dead_runs()

    # ---- backend ---------------------------------------------------------------------------------
    def _where(self, location: str | None) -> str:
        """The location as messages show it (a URL without its password)."""
        raise NotImplementedError

    def _open(self, location: str | None) -> None:
        raise NotImplementedError

    def _run(self, statement: str, values: tuple = ()) -> list[Row]:
        """Run one statement written with `?` placeholders; its rows as dicts (none for a write)."""
        raise NotImplementedError

    def _insert_id(self, statement: str, values: tuple) -> int:
        raise NotImplementedError

    def _insert_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _schema_version(self) -> int:
        raise NotImplementedError

    def _set_schema_version(self, version: int) -> None:
        raise NotImplementedError

    def _lock_schema(self) -> None:
        """Inside the schema transaction: keep other processes from creating the tables at once."""

    def _close_connection(self) -> None:
        raise NotImplementedError

    def _explain(self, error: BaseException) -> str:
        return str(error) or type(error).__name__

    # ---- opening and closing ---------------------------------------------------------------------
    def _setup(self) -> None:
        version = self._schema_version()
        if version == SCHEMA_VERSION:
            return
        with self.lock, self._transaction():
            self._lock_schema()
            version = self._schema_version()  # again: another process may have just done it
            if version > SCHEMA_VERSION:
                raise HistoryError(f"{self.path} was written by a newer provision (schema {version})")
            for statement in statements(self.types, version):
                self._run(statement)
            self._set_schema_version(SCHEMA_VERSION)

    def close(self) -> None:
        if self._closed:
            return
        if self._flusher is not None:
            self._flusher.stop()
        self._flush_quietly()
        with self.lock:
            self._closed = True
            self._close_connection_quietly()

    def _close_connection_quietly(self) -> None:
        try:
            self._close_connection()
        except (*self.database_errors, AttributeError):
            pass

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writes -----------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any error: a write is whole or absent."""
        self._begin()
        try:
            yield
        except BaseException:
            try:
                self._run("ROLLBACK")
            except self.database_errors:
                pass
            raise
        self._run("COMMIT")
        self.transactions += 1

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """A database error as a HistoryError that says what could not be done where."""
        try:
            yield
        except self.database_errors as error:
            raise HistoryError(f"{what} {self.path}: {self._explain(error)}") from None

    def _write(self, statement: str, values: tuple, what: str = "cannot write to") -> None:
        with self.lock, self._failing(what), self._transaction():
            self._run(statement, values)

    def begin_run(self, command: str, inventory: str = "", playbook: str = "", check: bool = False,
                  run_group: str | None = None, host_slice: tuple[int, int] | None = None) -> int:
        """A new run, "running" until finish_run; `run_group` and `host_slice` (K, N) place it in a
        fleet run whose slices other processes, on this machine or others, record alike."""
        number, count = host_slice or (0, 0)
        now = time.time()
        with self.lock, self._failing("cannot record a run in"), self._transaction():
            run_id = self._insert_id(
                "INSERT INTO runs (command, inventory, playbook, started, status, check_mode, pid, pid_started, "
                "machine, run_group, slice_number, slice_count, heartbeat) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                (command, inventory or "", playbook or "", now, int(check), os.getpid(), _process_start(os.getpid()),
                 socket.gethostname(), run_group or "", number, count, now))
            self._open_runs.add(run_id)  # under the lock: the flusher reads it for the heartbeat
            self._last_beat = now
        self._check_modes[run_id] = bool(check)
        if self._flusher is None:
            self._flusher = _Flusher(self)
            self._flusher.start()
        return run_id

    def record(self, run_id: int, result: TaskResult) -> None:
        """Queue one result (and its gpu_verify figures); written with the next batch."""
        check = result.check or self._check_mode(run_id)
        hidden = result.no_log
        now = time.time()
        values = (run_id, now, result.host, result.play, result.task, result.file, int(result.line or 0),
                  result.module, result.status, int(result.status == "changed"), int(is_drift(result, check)),
                  int(result.ignored), int(result.handler), None if hidden else result.diff,
                  NO_LOG_TEXT if hidden else (result.msg or ""), float(result.duration or 0.0))
        figures = gpu_figures(result) if result.module == "gpu_verify" else None
        if figures is not None:  # passed as 0/1 like every flag here: PostgreSQL takes no bool for an INTEGER
            passed, *measured = figures
            figures = (run_id, now, result.host, None if passed is None else int(passed), *measured)
        with self._pending_lock:
            self._pending.append((values, figures))
            full = len(self._pending) >= BATCH_SIZE
        if full:
            self.flush()

    def flush(self) -> int:
        """Write every queued result in one transaction (with the open runs' heartbeat); how many.
        Raises HistoryError when the database refuses: that batch is then lost, as one result was
        when each had its own transaction, and the run goes on."""
        with self.lock:
            with self._pending_lock:
                batch, self._pending = self._pending, []
            beat = bool(self._open_runs) and time.time() - self._last_beat >= HEARTBEAT_INTERVAL
            if not batch and not beat:
                return 0
            with self._failing("cannot record results in"), self._transaction():
                if batch:
                    self._insert_rows("results", RESULT_COLUMNS, [values for values, _ in batch])
                    figures = [row for _, row in batch if row is not None]
                    if figures:
                        self._insert_rows("gpu_verify", FIGURE_COLUMNS, figures)
                if self._open_runs:
                    self._last_beat = time.time()
                    ids = sorted(self._open_runs)
                    self._run(f"UPDATE runs SET heartbeat = ? WHERE id IN ({placeholders(ids)})",
                              (self._last_beat, *ids))
        return len(batch)

    def _flush_quietly(self) -> None:
        """Flush; a failure is kept in write_error for the run's listener to say, never raised."""
        try:
            self.flush()
        except HistoryError as error:
            self.write_error = self.write_error or str(error)

    def finish_run(self, run_id: int, report: RunReport, exit_code: int | None = None) -> None:
        """Close a run: complete or interrupted, with its exit code (default: the report's).

        A caller that did not stream results through HistoryEvents gets the report's results
        written here, so `verify` can record a report it built after the fact.
        """
        self._flush_quietly()
        recorded = self._query("SELECT COUNT(*) AS n FROM results WHERE run_id = ?", (run_id,))[0]["n"]
        if not recorded:
            for result in report.results:
                self.record(run_id, result)
            with self._failing("cannot record results in"):
                self.flush()
        status = "interrupted" if report.interrupted else "complete"
        code = report.exit_code if exit_code is None else exit_code
        self._write("UPDATE runs SET status = ?, exit_code = ?, finished = ? WHERE id = ?",
                    (status, code, report.finished or time.time(), run_id), f"cannot record the end of run {run_id} in")
        with self.lock:
            self._open_runs.discard(run_id)

    def mark_dead_runs(self) -> list[int]:
        """Runs left "running" by a process that is gone become "incomplete"; returns their ids.

        On this machine the process is looked up by pid (and start time, against a reused pid); a
        run of another machine is gone when its heartbeat is older than STALE_AFTER."""
        rows = self._query("SELECT id, pid, pid_started, machine, started, heartbeat FROM runs "
                           "WHERE status = 'running'")
        here, now = socket.gethostname(), time.time()
        dead = [row for row in rows if (not _alive(row["pid"], row["pid_started"]) if row["machine"] == here
                                        else row["heartbeat"] is not None and now - row["heartbeat"] > STALE_AFTER)]
        for row in dead:
            # The last sign of life is the best guess of when the process died.
            last = self._query("SELECT MAX(recorded) AS last FROM results WHERE run_id = ?", (row["id"],))[0]["last"]
            finished = max(value for value in (last, row["heartbeat"], row["started"]) if value is not None)
            self._write("UPDATE runs SET status = 'incomplete', finished = ? WHERE id = ? AND status = 'running'",
                        (finished, row["id"]))
        return [row["id"] for row in dead]

    def _check_mode(self, run_id: int) -> bool:
        if run_id not in self._check_modes:
            rows = self._query("SELECT check_mode FROM runs WHERE id = ?", (run_id,))
            self._check_modes[run_id] = bool(rows and rows[0]["check_mode"])
        return self._check_modes[run_id]

    # ---- queries ----------------------------------------------------------------------------------
    def _query(self, statement: str, values: tuple = ()) -> list[Row]:
        """Rows of one read; what this store queued is written first, so a read sees every write."""
        with self.lock:
            if self._pending:
                self._flush_quietly()
            with self._failing("cannot read"):
                return self._run(statement, values)


class _Flusher(threading.Thread):
    """Flushes its store's queue every FLUSH_INTERVAL seconds until stopped. It holds the store
    weakly, so a store nobody closed does not live on because of it."""

    def __init__(self, store: HistoryStore):
        super().__init__(name="history-flush", daemon=True)
        self.store = weakref.ref(store)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(FLUSH_INTERVAL):
            store = self.store()
            if store is None:
                return
            try:
                store._flush_quietly()
            except Exception as error:  # noqa: BLE001 - a thread's traceback would reach the user's terminal
                store.write_error = store.write_error or f"cannot record results in {store.path}: {error!r}"
            del store

    def stop(self) -> None:
        self.stopping.set()
        if self is not threading.current_thread():
            self.join()


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot: tells a live run from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces and parentheses, so split after it.
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def _alive(pid: int, started: str) -> bool:
    if not os.path.exists(f"/proc/{pid}"):
        return False
    return not started or _process_start(pid) == started

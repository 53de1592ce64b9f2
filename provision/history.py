"""History: every `apply`, `check` and `verify` run in one SQLite file, queried by `provision history`.

Three tables: `runs` (one row per command run), `results` (one row per host and task, written as
each result arrives) and `gpu_verify` (the figures a gpu_verify task measured). The default file is
`.provision/history.sqlite` under the current folder.

The easy thing to get wrong is a crash: a run killed mid-way (SIGKILL, power loss, OOM) must leave
every earlier run and every result it already wrote intact. So the database is in WAL mode, each
result is its own short transaction, and a run still marked "running" whose process is gone is
marked "incomplete" the next time the store is opened. Nothing here holds a transaction open
across a task.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import statistics
import threading
import time
from dataclasses import dataclass

from provision.errors import ProvisionError
from provision.runner.events import Events, Forward
from provision.gpu.figures import report_figures
from provision.runner.results import NO_LOG_TEXT, RunReport, TaskResult, is_drift

DEFAULT_PATH = os.path.join(".provision", "history.sqlite")
SCHEMA_VERSION = 1
RUN_STATES = ("running", "complete", "interrupted", "incomplete")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    inventory TEXT NOT NULL DEFAULT '',
    playbook TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'incomplete')),
    exit_code INTEGER,
    check_mode INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL,
    pid_started TEXT NOT NULL DEFAULT '',
    machine TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    recorded REAL NOT NULL,
    host TEXT NOT NULL,
    play TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL,
    file TEXT NOT NULL DEFAULT '',
    line INTEGER NOT NULL DEFAULT 0,
    module TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    changed INTEGER NOT NULL DEFAULT 0,
    drift INTEGER NOT NULL DEFAULT 0,
    ignored INTEGER NOT NULL DEFAULT 0,
    handler INTEGER NOT NULL DEFAULT 0,
    diff TEXT,
    msg TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE INDEX IF NOT EXISTS results_host ON results(host, run_id);
CREATE TABLE IF NOT EXISTS gpu_verify (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    recorded REAL NOT NULL,
    host TEXT NOT NULL,
    passed INTEGER,
    bf16_tflops REAL,
    h2d_gbps REAL,
    allreduce_busbw_gbps REAL
);
CREATE INDEX IF NOT EXISTS gpu_verify_host ON gpu_verify(host, recorded);
"""


class HistoryError(ProvisionError):
    """The history file cannot be opened or is from a newer provision."""


@dataclass
class Run:
    id: int
    command: str
    inventory: str
    playbook: str
    started: float
    finished: float | None
    status: str
    exit_code: int | None
    check: bool
    hosts: int = 0
    changed: int = 0
    failed: int = 0
    drift: int = 0


@dataclass
class StoredResult:
    run_id: int
    recorded: float
    host: str
    play: str
    task: str
    file: str
    line: int
    module: str
    status: str
    changed: bool
    drift: bool
    ignored: bool
    handler: bool
    diff: str | None
    msg: str
    duration: float


@dataclass
class Figures:
    """What one gpu_verify task measured on one host; a figure the report lacked is None."""

    run_id: int
    recorded: float
    host: str
    passed: bool | None
    bf16_tflops: float | None
    h2d_gbps: float | None
    allreduce_busbw_gbps: float | None


@dataclass
class DriftSpan:
    """One episode of drift of one task on one host: seen first in a check run, gone in a later run."""

    host: str
    task: str
    file: str
    line: int
    appeared_run: int
    appeared: float
    last_seen_run: int
    disappeared_run: int | None = None  # None: still drifting at the last run that looked
    disappeared: float | None = None
    msg: str = ""
    diff: str | None = None


def default_path() -> str:
    return os.path.join(os.getcwd(), DEFAULT_PATH)


class HistoryStore:
    """One SQLite file. Thread-safe: one connection, one writer lock, one transaction per write."""

    def __init__(self, path: str | None = None):
        self.path = path or default_path()
        self.lock = threading.Lock()
        self._check_modes: dict[int, bool] = {}
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            # isolation_level=None: no implicit transactions; every write says BEGIN/COMMIT itself.
            self.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.connection.row_factory = sqlite3.Row
            self._setup()
        except (OSError, sqlite3.Error) as error:
            raise HistoryError(f"cannot open the history file {self.path}: {error}") from None
        self.mark_dead_runs()

    def _setup(self) -> None:
        version = self.connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{self.path} was written by a newer provision (schema {version})")
        self.connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives any process crash; only an OS crash may lose the last
        # commits, never corrupt the file. FULL would cost one fsync per task result.
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        if version < SCHEMA_VERSION:
            with self._transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self.connection.execute(statement)
                self.connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writes -----------------------------------------------------------------------------------
    def _transaction(self):
        return _Transaction(self.connection)

    def _write(self, statement: str, values: tuple) -> int:
        with self.lock, self._transaction():
            return self.connection.execute(statement, values).lastrowid

    def begin_run(self, command: str, inventory: str = "", playbook: str = "", check: bool = False) -> int:
        run_id = self._write(
            "INSERT INTO runs (command, inventory, playbook, started, status, check_mode, pid, pid_started, machine) "
            "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?)",
            (command, inventory or "", playbook or "", time.time(), int(check), os.getpid(),
             _process_start(os.getpid()), socket.gethostname()))
        self._check_modes[run_id] = bool(check)
        return run_id

    def record(self, run_id: int, result: TaskResult) -> None:
        """Write one result (and its gpu_verify figures) in one transaction."""
        check = result.check or self._check_mode(run_id)
        hidden = result.no_log
        values = (run_id, time.time(), result.host, result.play, result.task, result.file, int(result.line or 0),
                  result.module, result.status, int(result.status == "changed"),
                  int(is_drift(result, check)), int(result.ignored),
                  int(result.handler), None if hidden else result.diff, NO_LOG_TEXT if hidden else (result.msg or ""),
                  float(result.duration or 0.0))
        figures = gpu_figures(result) if result.module == "gpu_verify" else None
        with self.lock, self._transaction():
            self.connection.execute(
                "INSERT INTO results (run_id, recorded, host, play, task, file, line, module, status, changed, "
                "drift, ignored, handler, diff, msg, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values)
            if figures is not None:
                self.connection.execute(
                    "INSERT INTO gpu_verify (run_id, recorded, host, passed, bf16_tflops, h2d_gbps, "
                    "allreduce_busbw_gbps) VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, time.time(), result.host, *figures))

    def finish_run(self, run_id: int, report: RunReport, exit_code: int | None = None) -> None:
        """Close a run: complete or interrupted, with its exit code (default: the report's).

        A caller that did not stream results through HistoryEvents gets the report's results
        written here, so `verify` can record a report it built after the fact.
        """
        with self.lock:
            recorded = self.connection.execute("SELECT COUNT(*) FROM results WHERE run_id = ?", (run_id,)).fetchone()[0]
        if not recorded:
            for result in report.results:
                self.record(run_id, result)
        status = "interrupted" if report.interrupted else "complete"
        code = report.exit_code if exit_code is None else exit_code
        self._write("UPDATE runs SET status = ?, exit_code = ?, finished = ? WHERE id = ?",
                    (status, code, report.finished or time.time(), run_id))

    def mark_dead_runs(self) -> list[int]:
        """Runs left "running" by a process that is gone become "incomplete"; returns their ids."""
        with self.lock:
            rows = self.connection.execute(
                "SELECT id, pid, pid_started, machine FROM runs WHERE status = 'running'").fetchall()
        here = socket.gethostname()
        dead = [row["id"] for row in rows
                if row["machine"] == here and not _alive(row["pid"], row["pid_started"])]
        for run_id in dead:
            # The last result written is the best guess of when the process died.
            self._write("UPDATE runs SET status = 'incomplete', finished = COALESCE("
                        "(SELECT MAX(recorded) FROM results WHERE run_id = ?), started) WHERE id = ?",
                        (run_id, run_id))
        return dead

    def _check_mode(self, run_id: int) -> bool:
        if run_id not in self._check_modes:
            with self.lock:
                row = self.connection.execute("SELECT check_mode FROM runs WHERE id = ?", (run_id,)).fetchone()
            self._check_modes[run_id] = bool(row and row[0])
        return self._check_modes[run_id]

    # ---- queries ----------------------------------------------------------------------------------
    def _query(self, statement: str, values: tuple = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.connection.execute(statement, values).fetchall()

    def runs(self, host: str | None = None, since_seconds: float | None = None) -> list[Run]:
        """Runs, oldest first, with per-run counts; `host` keeps runs that touched that host."""
        conditions, values = [], []
        if since_seconds is not None:
            conditions.append("runs.started >= ?")
            values.append(time.time() - since_seconds)
        if host is not None:
            conditions.append("EXISTS (SELECT 1 FROM results WHERE results.run_id = runs.id AND results.host = ?)")
            values.append(host)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        scope = "AND results.host = ?" if host is not None else ""
        rows = self._query(
            f"SELECT runs.*, (SELECT COUNT(DISTINCT host) FROM results WHERE run_id = runs.id {scope}) AS hosts, "
            f"(SELECT COUNT(*) FROM results WHERE run_id = runs.id AND changed = 1 AND drift = 0 {scope}) "
            f"AS n_changed, "
            f"(SELECT COUNT(*) FROM results WHERE run_id = runs.id AND status IN ('failed', 'unreachable') "
            f"AND ignored = 0 {scope}) AS n_failed, "
            f"(SELECT COUNT(*) FROM results WHERE run_id = runs.id AND drift = 1 {scope}) AS n_drift "
            f"FROM runs {where} ORDER BY runs.started, runs.id",
            tuple(([host] * 4 if host is not None else []) + values))
        return [Run(row["id"], row["command"], row["inventory"], row["playbook"], row["started"], row["finished"],
                    row["status"], row["exit_code"], bool(row["check_mode"]), row["hosts"], row["n_changed"],
                    row["n_failed"], row["n_drift"]) for row in rows]

    def run(self, run_id: int | None = None) -> Run | None:
        """One run by id, or the latest when run_id is None."""
        runs = self.runs()
        if run_id is None:
            return runs[-1] if runs else None
        return next((run for run in runs if run.id == run_id), None)

    def results(self, run_id: int, host: str | None = None) -> list[StoredResult]:
        rows = self._query("SELECT * FROM results WHERE run_id = ? AND (? IS NULL OR host = ?) ORDER BY id",
                           (run_id, host, host))
        return [_stored(row) for row in rows]

    def figures(self, run_id: int) -> list[Figures]:
        rows = self._query("SELECT * FROM gpu_verify WHERE run_id = ? ORDER BY id", (run_id,))
        return [_figures(row) for row in rows]

    def trend(self, host: str | None = None, since_seconds: float | None = None) -> list[Figures]:
        """gpu_verify figures over time, oldest first, for one host or all."""
        cutoff = time.time() - since_seconds if since_seconds is not None else 0.0
        rows = self._query("SELECT * FROM gpu_verify WHERE (? IS NULL OR host = ?) AND recorded >= ? "
                           "ORDER BY host, recorded, id", (host, host, cutoff))
        return [_figures(row) for row in rows]

    def drift_timeline(self, host: str | None = None) -> list[DriftSpan]:
        """Per host and task: when drift appeared (a check run saw "changed") and when it went away.

        Drift goes away when a later check run sees the task "ok", or a later apply run ran it
        without failing (it put it back). A run that did not reach the task (--limit, a crash, a
        skip, a failure) says nothing, so it neither ends nor restarts an episode.
        """
        rows = self._query(
            "SELECT results.*, runs.check_mode, runs.started FROM results JOIN runs ON runs.id = results.run_id "
            "WHERE (? IS NULL OR results.host = ?) AND results.handler = 0 ORDER BY runs.started, runs.id, results.id",
            (host, host))
        open_spans: dict[tuple[str, str, str], DriftSpan] = {}
        spans: list[DriftSpan] = []
        for row in rows:
            key = (row["host"], row["task"], row["file"])
            span = open_spans.get(key)
            if row["drift"]:
                if span is None:
                    span = DriftSpan(row["host"], row["task"], row["file"], row["line"], row["run_id"],
                                     row["started"], row["run_id"], msg=row["msg"], diff=row["diff"])
                    open_spans[key] = span
                    spans.append(span)
                span.last_seen_run, span.msg, span.diff = row["run_id"], row["msg"], row["diff"]
            elif span is not None and _clears_drift(row["status"], bool(row["check_mode"])):
                span.disappeared_run, span.disappeared = row["run_id"], row["started"]
                del open_spans[key]
        return spans


class HistoryEvents(Forward):
    """Forwards every event to `inner` and writes each TaskResult to the store as it arrives.

    A failing write (disk full, a lock held too long) must not stop a fleet run: it is reported
    once through `inner.note` and the run goes on.
    """

    def __init__(self, store: HistoryStore, run_id: int, inner: Events | None = None):
        super().__init__(inner)
        self.store = store
        self.run_id = run_id
        self.write_failed = False

    def task_result(self, result: TaskResult) -> None:
        try:
            self.store.record(self.run_id, result)
        except (sqlite3.Error, OSError) as error:
            if not self.write_failed:
                self.write_failed = True
                self.inner.note(f"history: cannot record results in {self.store.path}: {error}")
        self.inner.task_result(result)

    # The console listener is a context manager (its live panel); so is this wrapper.
    def __enter__(self) -> HistoryEvents:
        if hasattr(self.inner, "__enter__"):
            self.inner.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if hasattr(self.inner, "__exit__"):
            self.inner.__exit__(*exc)


def gpu_figures(result: TaskResult) -> tuple[bool | None, float | None, float | None, float | None] | None:
    """(passed, bf16 TFLOPS, H2D GB/s, all-reduce bus GB/s) from a gpu_verify result's report.

    Tolerant: a missing report gives None, a missing or skipped check gives None for its figure.
    """
    figures = report_figures((result.output or {}).get("report"))
    if figures is None:
        return None
    passed, tflops, h2d, busbw = figures
    if tflops is None and isinstance(result.output.get("bf16_tflops"), (int, float)):
        tflops = float(result.output["bf16_tflops"])
    return passed, tflops, h2d, busbw


def tflops_drops(figures: list[Figures], fraction: float = 0.85, window: int = 5) -> dict[tuple[int, str], float]:
    """Sudden TFLOPS drops: {(run_id, host): value / median of the host's previous `window` values}
    for each figure below `fraction` of that median."""
    drops: dict[tuple[int, str], float] = {}
    previous: dict[str, list[float]] = {}
    for figure in sorted(figures, key=lambda item: (item.recorded, item.run_id)):
        if figure.bf16_tflops is None:
            continue
        history = previous.setdefault(figure.host, [])
        if history:
            reference = statistics.median(history[-window:])
            if reference > 0 and figure.bf16_tflops < fraction * reference:
                drops[(figure.run_id, figure.host)] = figure.bf16_tflops / reference
        history.append(figure.bf16_tflops)
    return drops


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error: a write is whole or absent."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.connection.execute("COMMIT" if kind is None else "ROLLBACK")


def _clears_drift(status: str, check_mode: bool) -> bool:
    return status == "ok" if check_mode else status in ("ok", "changed")


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


def _stored(row: sqlite3.Row) -> StoredResult:
    return StoredResult(row["run_id"], row["recorded"], row["host"], row["play"], row["task"], row["file"],
                        row["line"], row["module"], row["status"], bool(row["changed"]), bool(row["drift"]),
                        bool(row["ignored"]), bool(row["handler"]), row["diff"], row["msg"], row["duration"])


def _figures(row: sqlite3.Row) -> Figures:
    passed = None if row["passed"] is None else bool(row["passed"])
    return Figures(row["run_id"], row["recorded"], row["host"], passed, row["bf16_tflops"], row["h2d_gbps"],
                   row["allreduce_busbw_gbps"])

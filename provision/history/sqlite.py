"""The embedded default: the history in one SQLite file, `.provision/history.sqlite`.

WAL mode, so readers (`provision history` while a run writes) never block the writer, and a
process killed mid-transaction leaves the file whole: the transaction is simply absent.
"""
from __future__ import annotations

import os
import sqlite3

from provision.history.records import Row
from provision.history.schema import SQLITE_TYPES
from provision.history.store import HistoryStore, default_path


class SqliteStore(HistoryStore):
    noun = "history file"
    types = SQLITE_TYPES
    database_errors = (sqlite3.Error, OSError)

    def _where(self, location: str | None) -> str:
        return location or default_path()

    def _open(self, location: str | None) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        # isolation_level=None: no implicit transactions; every write says BEGIN/COMMIT itself.
        self.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives any process crash; only an OS crash may lose the last
        # commits, never corrupt the file. FULL would cost one fsync per batch.
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("PRAGMA foreign_keys=ON")

    def _run(self, statement: str, values: tuple = ()) -> list[Row]:
        cursor = self.connection.execute(statement, values)
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _insert_id(self, statement: str, values: tuple) -> int:
        return self.connection.execute(statement, values).lastrowid

    def _insert_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self.connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)

    def _begin(self) -> None:
        # IMMEDIATE: take the write lock now, so two writers wait for each other instead of
        # failing half-way with "database is locked".
        self.connection.execute("BEGIN IMMEDIATE")

    def _schema_version(self) -> int:
        return self.connection.execute("PRAGMA user_version").fetchone()[0]

    def _set_schema_version(self, version: int) -> None:
        self.connection.execute(f"PRAGMA user_version={int(version)}")

    def _close_connection(self) -> None:
        self.connection.close()

"""Every read of the history, one text of SQL for SQLite and PostgreSQL alike.

A mixin of HistoryStore (provision/history/store.py): it needs only `_query`, which runs a read
after writing what the store has queued, so a read always sees this process's own results.
Conditions are built in Python rather than written as `? IS NULL OR ...`: PostgreSQL cannot tell
the type of a parameter it only compares with NULL.
"""
from __future__ import annotations

import time
from typing import Any

from provision.history.fleet import FleetRun, build_fleet, counted_runs
from provision.history.records import DriftSpan, Figures, Row, Run, StoredResult, figures_of, run_of, stored_result_of


class HistoryQueries:
    """Runs, results, figures, drift episodes and fleet runs, read back."""

    path: str

    def _query(self, statement: str, values: tuple = ()) -> list[Row]:
        raise NotImplementedError

    def runs(self, host: str | None = None, since_seconds: float | None = None,
             run_group: str | None = None) -> list[Run]:
        """Runs, oldest first, with per-run counts; `host` keeps runs that touched that host (and
        counts only its results); `run_group` keeps that fleet run's runs."""
        conditions: list[str] = []
        values: list[Any] = []
        scope = ""
        if host is not None:
            scope = "AND results.host = ?"
            values += [host] * 4  # one per count below
        if since_seconds is not None:
            conditions.append("runs.started >= ?")
            values.append(time.time() - since_seconds)
        if host is not None:
            conditions.append("EXISTS (SELECT 1 FROM results WHERE results.run_id = runs.id AND results.host = ?)")
            values.append(host)
        if run_group is not None:
            conditions.append("runs.run_group = ?")
            values.append(run_group)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._query(
            f"SELECT runs.*, (SELECT COUNT(DISTINCT host) FROM results WHERE run_id = runs.id {scope}) AS hosts, "
            f"(SELECT COUNT(*) FROM results WHERE run_id = runs.id AND changed = 1 AND drift = 0 {scope}) "
            f"AS n_changed, "
            f"(SELECT COUNT(*) FROM results WHERE run_id = runs.id AND status IN ('failed', 'unreachable') "
            f"AND ignored = 0 {scope}) AS n_failed, "
            f"(SELECT COUNT(*) FROM results WHERE run_id = runs.id AND drift = 1 {scope}) AS n_drift "
            f"FROM runs {where} ORDER BY runs.started, runs.id", tuple(values))
        return [run_of(row) for row in rows]

    def run(self, run_id: int | None = None) -> Run | None:
        """One run by id, or the latest when run_id is None."""
        runs = self.runs()
        if run_id is None:
            return runs[-1] if runs else None
        return next((run for run in runs if run.id == run_id), None)

    def fleet(self, run_group: str, host: str | None = None) -> FleetRun | None:
        """The runs of one run group as one run of the whole fleet (None when the group has none):
        the latest run of each slice counts, a slice with no run is missing."""
        members = self.runs(run_group=run_group)
        if not members:
            return None
        counted = counted_runs(members)
        scoped = {run.id: run for run in (self.runs(host=host, run_group=run_group) if host else counted)}
        ids = [run.id for run in counted]
        condition = "AND host = ?" if host is not None else ""
        hosts = self._query(f"SELECT COUNT(DISTINCT host) AS n FROM results WHERE run_id IN ({placeholders(ids)}) "
                            f"{condition}", (*ids, *([host] if host is not None else [])))[0]["n"]
        return build_fleet(run_group, members, scoped, hosts)

    def timeline(self, host: str | None = None, since_seconds: float | None = None) -> list[Run | FleetRun]:
        """Runs oldest first, each run group folded into one fleet run where its first run stands."""
        entries: list[Run | FleetRun] = []
        seen: set[str] = set()
        for run in self.runs(host=host, since_seconds=since_seconds):
            if not run.run_group:
                entries.append(run)
            elif run.run_group not in seen:
                seen.add(run.run_group)
                fleet = self.fleet(run.run_group, host)
                if fleet is not None:
                    entries.append(fleet)
        return entries

    def results(self, run_id: int, host: str | None = None) -> list[StoredResult]:
        condition = "AND host = ?" if host is not None else ""
        rows = self._query(f"SELECT * FROM results WHERE run_id = ? {condition} ORDER BY id",
                           (run_id, *([host] if host is not None else [])))
        return [stored_result_of(row) for row in rows]

    def figures(self, run_id: int) -> list[Figures]:
        rows = self._query("SELECT * FROM gpu_verify WHERE run_id = ? ORDER BY id", (run_id,))
        return [figures_of(row) for row in rows]

    def trend(self, host: str | None = None, since_seconds: float | None = None) -> list[Figures]:
        """gpu_verify figures over time, oldest first, for one host or all."""
        cutoff = time.time() - since_seconds if since_seconds is not None else 0.0
        condition = "host = ? AND" if host is not None else ""
        rows = self._query(f"SELECT * FROM gpu_verify WHERE {condition} recorded >= ? ORDER BY host, recorded, id",
                           (*([host] if host is not None else []), cutoff))
        return [figures_of(row) for row in rows]

    def drift_timeline(self, host: str | None = None) -> list[DriftSpan]:
        """Per host and task: when drift appeared (a check run saw "changed") and when it went away.

        Drift goes away when a later check run sees the task "ok", or a later apply run ran it
        without failing (it put it back). A run that did not reach the task (--limit, a crash, a
        skip, a failure, another slice) says nothing, so it neither ends nor restarts an episode.
        """
        condition = "results.host = ? AND" if host is not None else ""
        rows = self._query(
            "SELECT results.*, runs.check_mode, runs.started FROM results JOIN runs ON runs.id = results.run_id "
            f"WHERE {condition} results.handler = 0 ORDER BY runs.started, runs.id, results.id",
            tuple([host] if host is not None else []))
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


def placeholders(values: list) -> str:
    """"?, ?, ?" for an IN list of these values."""
    return ", ".join("?" * len(values))


def _clears_drift(status: str, check_mode: bool) -> bool:
    return status == "ok" if check_mode else status in ("ok", "changed")

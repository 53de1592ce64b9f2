"""What the history gives back: plain dataclasses, the same whichever database holds them.

Rows come from either backend as plain dicts (column name -> value); the functions here turn
them into records, so no caller ever sees a sqlite3.Row or a driver's tuple.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]


@dataclass
class Run:
    """One command run (apply, check, verify) with its counts; `run_group` and the slice say which
    fleet run it is part of (empty and 0/0 for a run on its own)."""

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
    run_group: str = ""
    slice_number: int = 0  # K of --slice K/N; 0 when the run was not sliced
    slice_count: int = 0  # N
    machine: str = ""

    @property
    def slice_label(self) -> str:
        return f"{self.slice_number}/{self.slice_count}" if self.slice_count else ""


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


def run_of(row: Row) -> Run:
    return Run(row["id"], row["command"], row["inventory"], row["playbook"], row["started"], row["finished"],
               row["status"], row["exit_code"], bool(row["check_mode"]), row["hosts"], row["n_changed"],
               row["n_failed"], row["n_drift"], row["run_group"], row["slice_number"], row["slice_count"],
               row["machine"])


def stored_result_of(row: Row) -> StoredResult:
    return StoredResult(row["run_id"], row["recorded"], row["host"], row["play"], row["task"], row["file"],
                        row["line"], row["module"], row["status"], bool(row["changed"]), bool(row["drift"]),
                        bool(row["ignored"]), bool(row["handler"]), row["diff"], row["msg"], row["duration"])


def figures_of(row: Row) -> Figures:
    passed = None if row["passed"] is None else bool(row["passed"])
    return Figures(row["run_id"], row["recorded"], row["host"], passed, row["bf16_tflops"], row["h2d_gbps"],
                   row["allreduce_busbw_gbps"])

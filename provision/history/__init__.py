"""History: every `apply`, `check` and `verify` run, queried by `provision history` and `provision report`.

Where it lives (`--state-db`, else $PROVISION_STATE_DB): a SQLite file by default,
`.provision/history.sqlite` under the current folder; or a PostgreSQL database
(`postgresql://USER@HOST:PORT/DATABASE`), which runs on several machines share. Both hold the same
three tables, `runs` (one row per command run, with its run group and slice), `results` (one row
per host and task) and `gpu_verify` (the figures a gpu_verify task measured), behind one API
(store.py); sqlite.py and postgres.py only run statements. Runs that share a run group
(`--run-group`, the slices of one fleet run) are read back as one fleet run (fleet.py).

The easy thing to get wrong is a crash. The promise, for either database:
- Results are written in batches, each batch one transaction: a host's results when the host ends
  its play, whatever has waited FLUSH_INTERVAL (0.5 s) by a background flush, and at most
  BATCH_SIZE (200) results at a time; everything when the run finishes. A run killed mid-way
  (SIGKILL, power loss, OOM) keeps every earlier run and every batch already committed, so it loses
  at most the last half second of results; no batch is ever half-written.
- A run still "running" whose process is gone is marked "incomplete" the next time a store is
  opened: on the same machine when its pid is gone (or reused), from any machine when its
  heartbeat (written with each batch, at least every 30 s) is older than 5 minutes.
- Nothing holds a transaction open across a task, and a write that fails is said once and the run
  goes on. On SQLite the file is in WAL mode, which no process crash can corrupt.
"""
from provision.history.events import HistoryEvents
from provision.history.figures import gpu_figures, tflops_drops
from provision.history.fleet import FleetRun
from provision.history.records import DriftSpan, Figures, Run, StoredResult
from provision.history.schema import RUN_STATES, SCHEMA_VERSION
from provision.history.store import (BATCH_SIZE, DEFAULT_PATH, FLUSH_INTERVAL, HistoryError, HistoryStore,
                                     default_path, is_database_url)

__all__ = ["BATCH_SIZE", "DEFAULT_PATH", "FLUSH_INTERVAL", "DriftSpan", "Figures", "FleetRun", "HistoryError",
           "HistoryEvents", "HistoryStore", "RUN_STATES", "Run", "SCHEMA_VERSION", "StoredResult", "default_path",
           "gpu_figures", "is_database_url", "tflops_drops"]

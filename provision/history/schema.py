"""The history's tables, written once for both databases.

The only differences between SQLite and PostgreSQL are three column types, filled in per
backend: an id that numbers itself, a float that keeps a Unix time to the microsecond (Postgres'
REAL is 4 bytes and would not), and the type of a reference to an id. Every query is the same text.

Version 2 added the fleet columns of `runs` (run_group, the slice, heartbeat); a version-1 SQLite
file is migrated in place by MIGRATIONS the first time a newer provision opens it.
"""
from __future__ import annotations

SCHEMA_VERSION = 2
RUN_STATES = ("running", "complete", "interrupted", "incomplete")

SQLITE_TYPES = {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL", "reference": "INTEGER"}
POSTGRES_TYPES = {"serial": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION", "reference": "BIGINT"}

TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    id {serial},
    command TEXT NOT NULL,
    inventory TEXT NOT NULL DEFAULT '',
    playbook TEXT NOT NULL DEFAULT '',
    started {real} NOT NULL,
    finished {real},
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'incomplete')),
    exit_code INTEGER,
    check_mode INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL,
    pid_started TEXT NOT NULL DEFAULT '',
    machine TEXT NOT NULL DEFAULT '',
    run_group TEXT NOT NULL DEFAULT '',
    slice_number INTEGER NOT NULL DEFAULT 0,
    slice_count INTEGER NOT NULL DEFAULT 0,
    heartbeat {real}
);
CREATE INDEX IF NOT EXISTS runs_group ON runs(run_group);
CREATE TABLE IF NOT EXISTS results (
    id {serial},
    run_id {reference} NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    recorded {real} NOT NULL,
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
    duration {real} NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE INDEX IF NOT EXISTS results_host ON results(host, run_id);
CREATE TABLE IF NOT EXISTS gpu_verify (
    id {serial},
    run_id {reference} NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    recorded {real} NOT NULL,
    host TEXT NOT NULL,
    passed INTEGER,
    bf16_tflops {real},
    h2d_gbps {real},
    allreduce_busbw_gbps {real}
);
CREATE INDEX IF NOT EXISTS gpu_verify_host ON gpu_verify(host, recorded);
"""

# version -> what takes a file of the version before it there
MIGRATIONS = {
    2: ["ALTER TABLE runs ADD COLUMN run_group TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN slice_number INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN slice_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN heartbeat {real}",
        "CREATE INDEX IF NOT EXISTS runs_group ON runs(run_group)"],
}

RESULT_COLUMNS = ("run_id", "recorded", "host", "play", "task", "file", "line", "module", "status", "changed",
                  "drift", "ignored", "handler", "diff", "msg", "duration")
FIGURE_COLUMNS = ("run_id", "recorded", "host", "passed", "bf16_tflops", "h2d_gbps", "allreduce_busbw_gbps")


def statements(types: dict[str, str], since_version: int) -> list[str]:
    """What brings a database at `since_version` (0: empty) to SCHEMA_VERSION, with the backend's types."""
    if since_version == 0:
        return [statement.strip().format(**types) for statement in TABLES.split(";") if statement.strip()]
    return [statement.format(**types) for version in range(since_version + 1, SCHEMA_VERSION + 1)
            for statement in MIGRATIONS[version]]

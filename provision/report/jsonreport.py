"""`--report-json FILE`: every task result of a run per host, in a stable, documented schema.

Schema "provision.report/1" (README, "JSON report"): top-level command, started, finished (Unix
seconds), check, interrupted, exit_code, notes, hosts {name: recap}, results [task results].
Written atomically, so a reader never sees half a report.
"""
from __future__ import annotations

import json
from dataclasses import asdict

from provision.report.files import write_text_atomic
from provision.runner.results import RunReport

SCHEMA = "provision.report/1"


def report_dict(report: RunReport) -> dict:
    return {
        "schema": SCHEMA,
        "command": report.command,
        "started": report.started,
        "finished": report.finished,
        "check": report.check,
        "interrupted": report.interrupted,
        "exit_code": report.exit_code,
        "notes": list(report.notes),
        "hosts": {name: asdict(recap) for name, recap in report.recaps.items()},
        "results": [result.public() for result in report.results],
    }


def write_json(report: RunReport, path: str, extra: dict | None = None) -> None:
    write_text_atomic(path, json.dumps({**report_dict(report), **(extra or {})}, indent=1, default=str))

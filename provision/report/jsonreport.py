"""`--report-json FILE`: every task result of a run per host, in a stable, documented schema.

Schema "provision.report/1" (README, "JSON report"): top-level command, started, finished (Unix
seconds), check, interrupted, exit_code (the command's own), notes, hosts {name: recap}, states
{name: one word}, drift {name: [task names]}, results [task results, verify's checks among them
with module "testinfra"], verify (the verify part's figures, or null), gpu [GPU table rows].
Written atomically, so a reader never sees half a report.
"""
from __future__ import annotations

import json
from dataclasses import asdict

from provision.report.files import write_text_atomic
from provision.runner.results import RunReport, drift_of, host_states

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
        "states": host_states(report),
        "drift": {host: [result.task for result in results] for host, results in drift_of(report).items()},
        "results": [result.public() for result in report.results],
        "verify": report.verify,
        "gpu": list(report.gpu),
    }


def write_json(report: RunReport, path: str, extra: dict | None = None) -> None:
    write_text_atomic(path, json.dumps({**report_dict(report), **(extra or {})}, indent=1, default=str))

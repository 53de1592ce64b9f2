"""`--prom FILE`: node_exporter textfile metrics of a run, for alerts on drift and failures.

    provision_drift_tasks{host="..."} N                  drift: tasks that would change and checks
                                                         that failed (check mode)
    provision_host_status{host="...",status="..."} 0|1   one series per status; 1 marks the host's
    provision_last_run_timestamp_seconds T               when the run finished (Unix seconds)
    provision_run_exit_code N                            the command's exit code
    provision_run_duration_seconds S                     the whole command, verify included

The easy thing to get wrong: node_exporter reads the directory while we write, and runs as
another user. So the file is written beside its target and renamed into place, readable by all,
and label values are escaped (backslash, double quote, newline) as the text format requires.
"""
from __future__ import annotations

import time

from provision.report.files import write_text_atomic
from provision.runner.results import HOST_STATES, RunReport, drift_of, host_states

def label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def prometheus_text(report: RunReport) -> str:
    counts = {host: len(results) for host, results in drift_of(report).items()}
    states = host_states(report)
    finished = report.finished or time.time()
    lines = ["# HELP provision_drift_tasks Tasks that would change on the host (check mode).",
             "# TYPE provision_drift_tasks gauge"]
    lines += [f"provision_drift_tasks{{host=\"{label(host)}\"}} {int(counts.get(host, 0))}" for host in states]
    lines += ["# HELP provision_host_status The host's state at the last run: 1 for its status, 0 otherwise.",
              "# TYPE provision_host_status gauge"]
    for host, state in states.items():
        lines += [f"provision_host_status{{host=\"{label(host)}\",status=\"{status}\"}} {int(status == state)}"
                  for status in HOST_STATES]
    lines += ["# HELP provision_last_run_timestamp_seconds When the last provision run finished.",
              "# TYPE provision_last_run_timestamp_seconds gauge",
              f"provision_last_run_timestamp_seconds {finished:.3f}",
              "# HELP provision_run_exit_code Exit code of the last provision run.",
              "# TYPE provision_run_exit_code gauge",
              f"provision_run_exit_code {report.exit_code}",
              "# HELP provision_run_duration_seconds How long the last provision run took.",
              "# TYPE provision_run_duration_seconds gauge",
              f"provision_run_duration_seconds {max(finished - report.started, 0.0):.3f}"]
    return "\n".join(lines) + "\n"


def write_prometheus(report: RunReport, path: str) -> None:
    """Write the metrics file atomically: drift, states and exit code as the report defines them."""
    write_text_atomic(path, prometheus_text(report))

"""What a verify or check run comes to, as data: verify's checks added to the run's report, the
nightly check's exit code and its one-line summary. Command handlers print these and every report
writer reads the same RunReport, so the exit code, the terminal, JSON, JUnit, metrics, history and
the HTML report cannot disagree."""
from __future__ import annotations

import time

from provision.runner.results import CHECK_MODULE, HostRecap, RunReport, TaskResult, drift_of
from provision.verify.run import VerifyResult

STATUSES = {"passed": "ok", "failed": "failed", "skipped": "skipped"}


def check_result(check: dict, check_run: bool) -> TaskResult:
    """One testinfra check as a task result: "verify : test_name", where the test is written."""
    return TaskResult(
        host=check["host"], play="verify", task=f"verify : {check['test']}", file=check["file"],
        line=check["line"], status=STATUSES.get(check["outcome"], "failed"), msg=check["message"].strip(),
        duration=check["duration"], module=CHECK_MODULE, check=check_run,
        output={"properties": check["properties"]} if check.get("properties") else {})


def fold_verify(report: RunReport, result: VerifyResult, names: list[str]) -> None:
    """Fold a verify run into `report`: each check a result (counted in its host's recap), each
    host verify could not reach unreachable, and the verify part's own figures in `report.verify`."""
    for name in names:
        report.recaps.setdefault(name, HostRecap(name))
    for check in result.checks:
        row = check_result(check, report.check)
        report.results.append(row)
        report.recaps.setdefault(row.host, HostRecap(row.host)).count(row)
    for name, why in result.unreachable.items():
        recap = report.recaps.setdefault(name, HostRecap(name))
        recap.unreachable = max(recap.unreachable, 1)
        recap.reason = recap.reason or why
    report.verify = {"duration": round(result.duration, 3), "workers": result.workers, "hosts": list(result.hosts),
                     "unreachable": dict(result.unreachable),
                     "broken": result.output[-3000:] if result.broken else ""}


def verify_run_report(result: VerifyResult, names: list[str], started: float | None = None) -> RunReport:
    """A `verify` command's run: its checks and nothing else; exit code as verify defines it."""
    report = RunReport(command="verify", started=started or result.started)
    fold_verify(report, result, names)
    report.finished = time.time()
    report.final_exit_code = result.exit_code
    return report


def check_exit_code(report: RunReport) -> int:
    """130 interrupted; 2 a task failed in check mode or the checks could not run; 4 a host
    unreachable; 3 drift (a task would change, or a check no longer holds).

    A failed testinfra assertion is drift (the host is no longer in its verified state); 2 is kept
    for "the check itself could not be carried out".
    """
    if report.interrupted:
        return 130
    if report.failed_hosts or (report.verify and report.verify.get("broken")):
        return 2
    if report.unreachable_hosts:
        return 4
    return 3 if any(drift_of(report).values()) else 0


def check_summary(report: RunReport) -> str:
    """The one line a nightly check ends with (and all `--summary` prints)."""
    drift = drift_of(report)
    moved = [host for host, results in drift.items() if results]
    hosts = len(report.recaps)
    parts = [f"drift on {len(moved)} of {hosts} host(s): {', '.join(moved)}" if moved else f"no drift on {hosts} host(s)"]
    if report.failed_hosts:
        parts.append(f"failed: {', '.join(report.failed_hosts)}")
    if report.unreachable_hosts:
        parts.append(f"unreachable: {', '.join(report.unreachable_hosts)}")
    if report.verify and report.verify.get("broken"):
        parts.append("the checks could not run")
    if report.interrupted:
        parts.append("interrupted")
    tasks = sum(1 for rows in drift.values() for row in rows if row.module != CHECK_MODULE)
    checks = sum(1 for rows in drift.values() for row in rows if row.module == CHECK_MODULE)
    if moved:
        parts.append(f"{tasks} task(s) would change, {checks} check(s) failed")
    return "; ".join(parts)

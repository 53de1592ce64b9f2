"""What a verify or check run comes to, as data: the history's view of a verify run, the drift of
a check-mode run, and the nightly check's exit code. Command handlers print these; they decide
nothing themselves."""
from __future__ import annotations

import time

from provision.runner.results import HostRecap, RunReport, TaskResult
from provision.verify.run import VerifyResult


def verify_run_report(result: VerifyResult, names: list[str]) -> RunReport:
    """A verify run as the history stores runs: one result per host and check."""
    report = RunReport(command="verify", started=time.time())
    statuses = {"passed": "ok", "failed": "failed", "skipped": "skipped"}
    for check in result.checks:
        report.results.append(TaskResult(
            host=check["host"], play="verify", task=f"verify : {check['test']}", file=check["file"],
            line=check["line"], status=statuses.get(check["outcome"], "failed"), msg=check["message"],
            duration=check["duration"], module="testinfra"))
    for name in names:
        report.recaps[name] = HostRecap(name, unreachable=int(name in result.unreachable),
                                        reason=result.unreachable.get(name, ""))
    for row in report.results:
        report.recaps.setdefault(row.host, HostRecap(row.host)).count(row)
    report.finished = time.time()
    return report


def drift_of(report: RunReport) -> dict[str, list[TaskResult]]:
    """host -> the results that would change something (drift), in run order."""
    drift: dict[str, list] = {name: [] for name in report.recaps}
    for result in report.results:
        if result.status == "changed" and not result.handler:
            drift.setdefault(result.host, []).append(result)
    return drift


def check_exit_code(report: RunReport, verified: VerifyResult | None, moved: list[str]) -> int:
    """130 interrupted; 2 a task failed in check mode or the checks could not run; 4 a host
    unreachable; 3 drift.

    A failed testinfra assertion is drift too (the host is no longer in its verified state), and
    the verify summary names it; 2 is kept for "the check itself could not be carried out".
    """
    if report.interrupted:
        return 130
    if report.failed_hosts or (verified is not None and verified.returncode not in (0, 1, 5)):
        return 2
    if report.unreachable_hosts or (verified is not None and verified.unreachable):
        return 4
    return 3 if moved or (verified is not None and verified.failed) else 0

"""The conformance table, printed after the run: target -> tasks run, passed, failed."""
from __future__ import annotations

ROWS: list[tuple[str, int, int, int]] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if not ROWS:
        return
    terminalreporter.write_line("")
    terminalreporter.write_line("ansible-core 2.19.14 integration targets run by provision (tests/conformance/):")
    terminalreporter.write_line(f"  {'target':<20} {'tasks':>6} {'passed':>7} {'failed':>7}")
    for target, tasks, passed, failed in sorted(ROWS):
        terminalreporter.write_line(f"  {target:<20} {tasks:>6} {passed:>7} {failed:>7}")

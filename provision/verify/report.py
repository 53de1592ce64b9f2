"""What `provision verify` prints and writes: a table per host, each failure with its message."""
from __future__ import annotations

import json

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provision.report.files import write_text_atomic
from provision.verify.run import VerifyResult

SCHEMA = "provision.verify/1"


def per_host(result: VerifyResult, names: list[str]) -> dict[str, dict]:
    summary = {name: {"passed": 0, "failed": 0, "skipped": 0, "unreachable": name in result.unreachable}
               for name in names}
    for check in result.checks:
        counts = summary.setdefault(check["host"], {"passed": 0, "failed": 0, "skipped": 0, "unreachable": False})
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
    return summary


def print_verify(console: Console, result: VerifyResult, names: list[str], quiet: bool) -> None:
    for check in result.failed:
        console.print(f"[bold red]FAILED[/] {escape(check['host'])}: {escape(check['test'])} "
                      f"({escape(check['file'])}:{check['line']})\n    {escape(check['message'].strip())}",
                      highlight=False, soft_wrap=True)
    for name, why in result.unreachable.items():
        console.print(f"[bold magenta]UNREACHABLE[/] {escape(name)}: {escape(why)}", highlight=False, soft_wrap=True)
    if result.returncode not in (0, 1, 5):
        console.print("[bold red]the checks could not run:[/]\n" + escape(result.output[-3000:]), highlight=False)
    table = Table(title="VERIFY", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("host", "passed", "failed", "skipped", "status"):
        table.add_column(column, justify="left" if column in ("host", "status") else "right", no_wrap=True)
    for name, counts in per_host(result, names).items():
        status = "unreachable" if counts["unreachable"] else "FAILED" if counts["failed"] else "ok"
        style = {"unreachable": "magenta", "FAILED": "red", "ok": "green"}[status]
        table.add_row(name, str(counts["passed"]), str(counts["failed"]), str(counts["skipped"]),
                      f"[{style}]{status}[/]")
    if not quiet or result.exit_code:
        console.print(table)


def write_verify_json(result: VerifyResult, names: list[str], path: str) -> None:
    data = {"schema": SCHEMA, "exit_code": result.exit_code, "hosts": per_host(result, names),
            "unreachable": result.unreachable, "checks": result.checks}
    write_text_atomic(path, json.dumps(data, indent=1))

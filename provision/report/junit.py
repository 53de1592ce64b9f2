"""`--junit FILE`: a run as JUnit XML, so CI servers show each host x task as a test case.

One <testsuite> per host, one <testcase> per task result and per verify check (classname = host,
name = "task (file:line)"). Failed -> <failure>, unreachable -> <error>, skipped -> <skipped/>;
drift (a change seen in check mode, or a check that failed in a drift check) -> <failure
type="drift"> when `drift_is_failure`, else a passing case that says what would change.

The easy thing to get wrong: messages and diffs carry command output, which may hold characters
XML 1.0 forbids (terminal escapes, NUL); they are replaced, or CI parsers reject the whole file.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from provision.report.files import write_atomic
from provision.runner.results import CHECK_MODULE, NO_LOG_TEXT, RunReport, TaskResult, is_drift

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str | None) -> str:
    """Text XML 1.0 can carry: forbidden characters become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text or "")


def junit_tree(report: RunReport, drift_is_failure: bool = True) -> ElementTree.ElementTree:
    root = ElementTree.Element("testsuites", name=f"provision {report.command}")
    by_host: dict[str, list[TaskResult]] = {}
    for result in report.results:
        by_host.setdefault(result.host, []).append(result)
    for host in list(report.recaps) + [name for name in by_host if name not in report.recaps]:
        _suite(root, host, by_host.get(host, []), report, drift_is_failure)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in root)))
    root.set("time", f"{max(report.finished - report.started, 0.0):.3f}" if report.finished else "0")
    ElementTree.indent(root)
    return ElementTree.ElementTree(root)


def _suite(root: ElementTree.Element, host: str, results: list[TaskResult], report: RunReport,
           drift_is_failure: bool) -> None:
    suite = ElementTree.SubElement(root, "testsuite", name=clean(host))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seen: dict[str, int] = {}
    total = 0.0
    for result in results:
        name = f"{result.task} ({result.file}:{result.line})"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # a task run twice (a handler, an include in a loop): keep names unique
            name += f" #{seen[name]}"
        case = ElementTree.SubElement(suite, "testcase", classname=clean(host), name=clean(name),
                                      time=f"{result.duration:.3f}")
        message = NO_LOG_TEXT if result.no_log else result.msg
        detail = message + (f"\n{result.diff}" if result.diff and not result.no_log else "")
        counts["tests"] += 1
        total += result.duration
        drift = is_drift(result, report.check)
        if drift and result.module == CHECK_MODULE:  # an assertion that no longer holds
            counts["failures"] += 1
            _child(case, "failure", f"drift: {message}" if drift_is_failure else message, "drift", detail)
        elif result.status == "failed" and not result.ignored:
            counts["failures"] += 1
            _child(case, "failure", message or "failed", "failed", detail)
        elif result.status == "unreachable":
            counts["errors"] += 1
            _child(case, "error", message or "unreachable", "unreachable", detail)
        elif result.status == "skipped":
            counts["skipped"] += 1
            _child(case, "skipped", message, None, "")
        elif drift and drift_is_failure:
            counts["failures"] += 1
            _child(case, "failure", "drift", "drift", detail)
        elif drift or result.status == "changed" or result.ignored:
            label = "would change" if drift else "failed (ignored)" if result.ignored else "changed"
            _child(case, "system-out", None, None, f"{label}: {detail}".rstrip(": "))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.3f}")


def _child(case: ElementTree.Element, tag: str, message: str | None, kind: str | None, text: str) -> None:
    element = ElementTree.SubElement(case, tag)
    if message is not None:
        element.set("message", clean(message))
    if kind is not None:
        element.set("type", kind)
    if text:
        element.text = clean(text)


def write_junit(report: RunReport, path: str, drift_is_failure: bool = True) -> None:
    """Write the JUnit file atomically (a CI reader never sees half of it)."""
    write_atomic(path, lambda handle: junit_tree(report, drift_is_failure).write(
        handle, encoding="utf-8", xml_declaration=True))

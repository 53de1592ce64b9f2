"""JUnit XML and node_exporter textfile metrics of a check run, as CI and Prometheus read them."""
from __future__ import annotations

import os
import re
import stat
import xml.etree.ElementTree as ElementTree

from provision.report.junit import write_junit
from provision.report.metrics import write_prometheus
from provision.runner.results import HostRecap
from tests.report.builders import report, result


def check_run():
    return report([
        result("gpu01", "docker : daemon.json", "changed", check=True, diff="-a\n+b",
               file="roles/docker/tasks/main.yaml", line=4),
        result("gpu01", "docker : service", "ok", check=True, line=9),
        result("gpu02", "driver : nouveau blacklisted", "failed", check=True, msg="bad \x1b[31mcolour\x00 <x>"),
        result("gpu02", "driver : optional", "failed", check=True, ignored=True, msg="ignored"),
        result("gpu03", "ping", "unreachable", check=True, msg="connection refused", file="site.yaml", line=2),
        result("gpu04", "docker : daemon.json", "skipped", check=True),
        result("gpu04", "handler", "ok", check=True), result("gpu04", "handler", "ok", check=True),
    ], "check", check=True)


def test_junit_has_a_suite_per_host_and_the_right_failures(tmp_path):
    path = tmp_path / "ci" / "junit.xml"
    write_junit(check_run(), str(path), drift_is_failure=True)
    root = ElementTree.parse(path).getroot()  # a real parser: control characters were replaced
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["gpu01", "gpu02", "gpu03", "gpu04"]
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("8", "2", "1", "1")

    cases = {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}
    drift = cases[("gpu01", "docker : daemon.json (roles/docker/tasks/main.yaml:4)")]
    assert drift.find("failure").get("message") == "drift" and "+b" in drift.find("failure").text
    assert list(cases[("gpu01", "docker : service (roles/docker/tasks/main.yaml:9)")]) == []
    failed = cases[("gpu02", "driver : nouveau blacklisted (roles/docker/tasks/main.yaml:12)")].find("failure")
    assert failed.get("type") == "failed" and "<x>" in failed.get("message") and "\x00" not in failed.get("message")
    assert cases[("gpu02", "driver : optional (roles/docker/tasks/main.yaml:12)")].find("failure") is None
    error = cases[("gpu03", "ping (site.yaml:2)")].find("error")
    assert error.get("message") == "connection refused"
    assert cases[("gpu04", "docker : daemon.json (roles/docker/tasks/main.yaml:12)")].find("skipped") is not None
    assert ("gpu04", "handler (roles/docker/tasks/main.yaml:12) #2") in cases
    assert suites["gpu01"].get("failures") == "1" and suites["gpu03"].get("errors") == "1"


def test_junit_drift_can_pass(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(check_run(), str(path), drift_is_failure=False)
    root = ElementTree.parse(path).getroot()
    case = next(case for case in root.iter("testcase") if case.get("name").startswith("docker : daemon.json")
                and case.get("classname") == "gpu01")
    assert case.find("failure") is None and "would change" in case.find("system-out").text
    assert root.get("failures") == "1"


LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>(\w+="(\\.|[^"\\])*",?)*)\})? '
                  r'(?P<value>-?[0-9.]+(e[+-]?\d+)?)$')
LABEL = re.compile(r'(\w+)="((?:\\.|[^"\\])*)"')


def parse_prometheus(text: str) -> dict[tuple, float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = LINE.match(line)
        assert match, f"not in the text format: {line!r}"
        labels = tuple((key, re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), value))
                       for key, value in LABEL.findall(match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples


def test_prometheus_textfile_parses_with_escaped_labels(tmp_path):
    run = check_run()
    run.results.append(result('odd"host\\\nname', "docker : daemon.json", "changed", check=True))
    run.recaps['odd"host\\\nname'] = HostRecap('odd"host\\\nname', changed=1, ok=1)
    path = tmp_path / "textfile" / "provision.prom"
    run.final_exit_code = 3  # what `check` decided
    write_prometheus(run, str(path))
    text = path.read_text()
    samples = parse_prometheus(text)
    assert samples[("provision_drift_tasks", (("host", "gpu01"),))] == 1
    assert samples[("provision_drift_tasks", (("host", "gpu02"),))] == 0
    assert samples[("provision_drift_tasks", (("host", 'odd"host\\\nname'),))] == 1
    assert samples[("provision_run_exit_code", ())] == 3
    assert abs(samples[("provision_last_run_timestamp_seconds", ())] - run.finished) < 0.01
    status = {labels[0][1]: labels[1][1] for (name, labels), value in samples.items()
              if name == "provision_host_status" and value == 1}
    assert status == {"gpu01": "drift", "gpu02": "failed", "gpu03": "unreachable", "gpu04": "ok",
                      'odd"host\\\nname': "drift"}
    assert sum(1 for (name, _), _value in samples.items() if name == "provision_host_status") == 5 * 5
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # node_exporter runs as another user
    assert os.listdir(path.parent) == ["provision.prom"]  # no temporary left behind

    run.final_exit_code = None
    run.results.append(result("gpu01", "verify : test_daemon_json", "failed", check=True))
    run.results[-1].module = "testinfra"  # a failed check in a drift check is drift too
    write_prometheus(run, str(path))
    samples = parse_prometheus(path.read_text())
    assert samples[("provision_drift_tasks", (("host", "gpu01"),))] == 2
    assert samples[("provision_run_exit_code", ())] == run.exit_code == 6

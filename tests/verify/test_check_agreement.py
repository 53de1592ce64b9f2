"""The nightly check tells one story everywhere: exit code, terminal summary, --report-json, JUnit,
--prom, history and the HTML report agree on one drift run that mixes a task's drift (host01: a
file a task manages, which no check looks at) with an assertion-only drift (host02: a file only a
check looks at), next to a clean host (host03). And from cron (stdout not a terminal) a run with
no drift prints nothing.

A small project of our own (a temporary folder with its playbook and role) runs against three
hosts of the session sandbox; `check` runs the tests of the roles the playbook applies, so an
unrelated role's failing test in the same roles/ folder must not be run at all.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest
import yaml

from tests.conftest import ssh
from tests.engine.scenario import PROVISION, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

MANAGED = "/etc/provision-agree/managed.conf"  # a task writes it; no check reads it
WATCHED = "/etc/provision-agree.forbidden"  # a check says it must not exist; no task touches it
HOSTS = ["host01", "host02", "host03"]

PROJECT = {
    "site.yaml": """
        - name: agreement
          hosts: lab
          roles: [agree]
    """,
    "roles/agree/tasks/main.yml": f"""
        - name: config folder
          file: {{path: /etc/provision-agree, state: directory, mode: "0755"}}
        - name: managed file
          copy: {{dest: {MANAGED}, content: "managed\\n", mode: "0644"}}
        - name: marker for the checks
          copy: {{dest: /etc/provision-agree/marker, content: "{{{{ inventory_hostname }}}}\\n", mode: "0644"}}
    """,
    "roles/agree/tests/test_agree.py": f"""
        def test_marker_names_the_host(host, provision_vars):
            assert host.file("/etc/provision-agree/marker").content_string.strip() == provision_vars["inventory_hostname"]


        def test_forbidden_file_absent(host):
            assert not host.file("{WATCHED}").exists, "{WATCHED} appeared"


        def test_folder_mode(host):
            assert host.file("/etc/provision-agree").mode == 0o755
    """,
    # a role the playbook does not use: its tests must never run
    "roles/unused/tasks/main.yml": "- debug: {msg: unused}\n",
    "roles/unused/tests/test_unused.py": """
        def test_always_fails(host):
            assert False, "a test of a role the playbook does not use was run"
    """,
}


def run(folder, *args: str) -> subprocess.CompletedProcess:
    """provision from the project folder, with stdout a pipe (as under cron)."""
    return subprocess.run([PROVISION, *args], capture_output=True, text=True, timeout=300, cwd=folder,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def project(sandbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("agree")
    write(folder, PROJECT)
    with open(folder / "inventory.yaml", "w") as handle:
        yaml.safe_dump(sandbox_inventory(sandbox, HOSTS), handle, sort_keys=False)
    converge = run(folder, "apply", "inventory.yaml", "site.yaml", "--state-db", str(folder / "h.sqlite"))
    assert converge.returncode == 0, converge.stdout + converge.stderr
    yield folder
    for host in HOSTS:
        ssh(sandbox, host, f"rm -rf /etc/provision-agree {WATCHED}")


def prom_samples(text: str) -> dict:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def test_every_output_tells_the_same_drift(sandbox, project):
    ssh(sandbox, "host01", f"echo 'edited by hand' >> {MANAGED}")
    ssh(sandbox, "host02", f"touch {WATCHED}")
    files = {name: str(project / name) for name in ("r.json", "j.xml", "m.prom", "page.html")}
    history = str(project / "h.sqlite")
    try:
        check = run(project, "check", "inventory.yaml", "site.yaml", "--report-json", files["r.json"],
                    "--junit", files["j.xml"], "--prom", files["m.prom"], "--state-db", history)
    finally:
        ssh(sandbox, "host02", f"rm -f {WATCHED}")
    report = json.load(open(files["r.json"]))
    assert "Traceback" not in check.stdout + check.stderr

    # exit code: drift, and nothing else
    assert check.returncode == 3, check.stdout + check.stderr
    assert report["exit_code"] == 3

    # the terminal's summary line is the JSON's
    summary = check.stdout.strip().splitlines()[-1]
    assert summary == report["summary"]
    assert summary.startswith("drift on 2 of 3 host(s): host01, host02;"), summary
    assert "1 task(s) would change, 1 check(s) failed" in summary
    assert re.search(r"drift.* host01: agree : managed file", check.stdout)
    assert "+edited by hand" not in check.stdout and "-edited by hand" in check.stdout, "the diff is shown"
    assert re.search(r"drift.* host02: test_forbidden_file_absent \(.*test_agree\.py:\d+\)", check.stdout)

    # JSON: the same drift per host, states, and the checks among the results
    drift = {"host01": ["agree : managed file"], "host02": ["verify : test_forbidden_file_absent"], "host03": []}
    assert report["drift"] == drift
    assert report["states"] == {"host01": "drift", "host02": "drift", "host03": "ok"}
    checks = [row for row in report["results"] if row["module"] == "testinfra"]
    assert len(checks) == 9, "three checks on each of three hosts, and none of the unused role's"
    assert not any("unused" in row["file"] for row in report["results"])
    assert report["verify"]["duration"] > 0 and report["verify"]["hosts"] == HOSTS

    # JUnit: a suite per host, task and check cases, failures = drift
    root = ElementTree.parse(files["j.xml"]).getroot()
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == HOSTS
    for host in HOSTS:
        names = [case.get("name") for case in suites[host].iter("testcase")]
        assert sum(name.startswith("verify : ") for name in names) == 3, names
        assert sum(name.startswith("agree : ") for name in names) == 3, names
    failures = {(case.get("classname"), case.get("name").split(" (")[0])
                for case in root.iter("testcase") if case.find("failure") is not None}
    assert failures == {(host, task) for host, tasks in drift.items() for task in tasks}
    assert root.get("failures") == "2"

    # metrics: the same drift count per host, the same states, the whole command's duration
    samples = prom_samples(open(files["m.prom"]).read())
    for host, tasks in drift.items():
        assert samples[f'provision_drift_tasks{{host="{host}"}}'] == len(tasks)
        assert samples[f'provision_host_status{{host="{host}",status="{report["states"][host]}"}}'] == 1
    assert samples["provision_run_exit_code"] == 3
    duration = report["finished"] - report["started"]
    assert abs(samples["provision_run_duration_seconds"] - duration) < 0.01
    assert duration > report["verify"]["duration"]

    # history: the run's exit code and the same drift, verify's checks included
    with sqlite3.connect(history) as database:
        run_id, code = database.execute("SELECT id, exit_code FROM runs WHERE command = 'check' "
                                         "ORDER BY id DESC LIMIT 1").fetchone()
        stored = database.execute("SELECT host, task FROM results WHERE run_id = ? AND drift = 1", (run_id,)).fetchall()
    assert code == 3
    assert set(stored) == {(host, task) for host, tasks in drift.items() for task in tasks}

    # the HTML report made from that history: both drifted hosts show drift, with their checks
    page = run(project, "report", "--run", str(run_id), "-o", files["page.html"], "--state-db", history)
    assert page.returncode == 0, page.stdout + page.stderr
    html = open(files["page.html"]).read()
    assert "test_forbidden_file_absent" in html and "agree : managed file" in html
    assert re.search(r"results: [^<]*2 drift", html), re.search(r"results: [^<]*", html).group(0)

    # and a plain `verify` of the same hosts, with the playbook, names host01 clean (no check covers
    # the managed file) and fails nothing now that the forbidden file is gone
    assert run(project, "apply", "inventory.yaml", "site.yaml", "-q", "--state-db", history).returncode == 0


def test_a_clean_check_from_cron_prints_nothing(project):
    quiet = run(project, "check", "inventory.yaml", "site.yaml", "--state-db", str(project / "h.sqlite"))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    summary = run(project, "check", "inventory.yaml", "site.yaml", "--summary", "--state-db", str(project / "h.sqlite"))
    assert summary.returncode == 0
    assert summary.stdout.splitlines() == ["no drift on 3 host(s)"]


def test_verify_with_one_fork_checks_every_host(sandbox, project):
    """-f 1: one worker, the hosts one after another (test_local_verify.py shows a host's commands
    share one connection; test_verify_plan.py how hosts are spread over workers)."""
    verify = run(project, "verify", "inventory.yaml", "site.yaml", "-f", "1", "--report-json",
                 str(project / "v.json"), "--state-db", str(project / "h.sqlite"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.load(open(project / "v.json"))
    assert report["verify"]["workers"] == 1
    assert report["states"] == {host: "ok" for host in HOSTS}
    assert all(report["hosts"][host]["checks_passed"] == 3 for host in HOSTS)

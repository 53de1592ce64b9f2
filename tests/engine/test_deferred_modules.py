"""Real roles carry tasks for other systems behind a condition (`zypper:` under `when: ansible_os_family
== 'Suse'`). A module provision lacks on such a task is a warning, not a refusal of the whole run;
a host that does reach the task fails it; `--strict` keeps the all-or-nothing refusal; and a module
provision lacks on a task that will certainly run is still refused before any host is touched."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.engine.scenario import PROVISION, write

INVENTORY = "all:\n  hosts:\n    here: {ansible_connection: local}\n"
PLAYBOOK = """
- hosts: all
  tasks:
    - name: on SUSE systems only
      zypper: {name: nvidia-driver, state: present}
      when: ansible_os_family == 'Suse'
    - name: a block for SUSE
      when: ansible_os_family == 'Suse'
      block:
        - zypper_repository: {name: cuda, repo: "https://example.invalid/cuda"}
    - name: the same everywhere
      debug: {msg: still running}
"""


def run(folder, *words: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROVISION, *words], capture_output=True, text=True, timeout=120, cwd=folder,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def project(tmp_path):
    write(tmp_path, {"inventory.yaml": INVENTORY, "site.yaml": PLAYBOOK})
    return tmp_path


def test_a_missing_module_under_a_condition_is_a_warning_and_the_task_is_skipped_here(project):
    lint = run(project, "lint", "inventory.yaml", "site.yaml")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.count("warning:") == 2
    assert "site.yaml:4:7: module 'zypper' is not supported by provision" in lint.stdout
    assert "module 'zypper_repository' is not supported" in lint.stdout
    applied = run(project, "apply", "inventory.yaml", "site.yaml", "--report-json", "r.json", "--state-db", "h.db")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rows = {row["task"]: row["status"] for row in json.load(open(project / "r.json"))["results"]}
    assert rows["on SUSE systems only"] == "skipped" and rows["the same everywhere"] == "ok"


def test_strict_refuses_it_as_before(project):
    strict = run(project, "lint", "inventory.yaml", "site.yaml", "--strict")
    assert strict.returncode == 1
    assert "unknown module 'zypper'" in strict.stderr and "unknown module 'zypper_repository'" in strict.stderr


def test_a_host_that_meets_the_condition_fails_the_task(project):
    applied = run(project, "apply", "inventory.yaml", "site.yaml", "-e", "ansible_os_family=Suse",
                  "--report-json", "r.json", "--state-db", "h.db")
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert "module 'zypper' is not supported by provision (this host met the task's condition, so it ran)" in applied.stdout
    assert "Traceback" not in applied.stdout + applied.stderr


def test_a_missing_module_on_a_task_that_always_runs_is_still_refused(tmp_path):
    write(tmp_path, {"inventory.yaml": INVENTORY,
                     "site.yaml": "- hosts: all\n  tasks:\n    - zypper: {name: x}\n"})
    refused = run(tmp_path, "apply", "inventory.yaml", "site.yaml", "--state-db", "h.db")
    assert refused.returncode == 1 and "unknown module 'zypper'" in refused.stderr
    assert not (tmp_path / "h.db").exists(), "refused before anything ran or was recorded"

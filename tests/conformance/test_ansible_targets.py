"""ansible-core's own integration targets run unchanged by provision on a sandbox host.

The targets come from ansible-core's sdist on PyPI (./bootstrap fetches it into .cache/; the test
reaches no network). adaptations.yaml lists which targets run and the only changes made: two
helper roles their meta pulls in are replaced. Each target's tasks assert on the results of the
tasks before them, Ansible's own expectations of its modules: a failed task is a difference from
Ansible, and fails this test unless adaptations.yaml names it with the reason.
"""
from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.conformance.conftest import ROWS
from tests.engine.scenario import dump_inventory, provision, sandbox_inventory, write

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(ROOT, ".cache", "ansible_core-2.19.14", "test", "integration", "targets")
with open(os.path.join(HERE, "adaptations.yaml")) as handle:
    ADAPTATIONS = yaml.safe_load(handle)

REMOTE_TMP_DIR = """
- name: remote_tmp_dir (conformance adaptation of setup_remote_tmp_dir)
  tempfile: {state: directory, suffix: .test}
  register: remote_tmp_dir_made
- set_fact: {remote_tmp_dir: "{{ remote_tmp_dir_made.path }}"}
"""


@pytest.fixture(scope="module")
def targets() -> str:
    if not os.path.isdir(TARGETS):
        pytest.fail(f"{TARGETS} is missing: ./bootstrap fetches ansible-core's sdist into .cache/")
    return TARGETS


@pytest.mark.sandbox
@pytest.mark.parametrize("target", ADAPTATIONS["targets"])
def test_an_ansible_core_target_passes(target, targets, sandbox, tmp_path):
    os.makedirs(tmp_path / "roles")
    os.symlink(os.path.join(targets, target), tmp_path / "roles" / target)
    write(tmp_path, {"roles/prepare_tests/tasks/main.yml": "[]\n",
                     "roles/setup_remote_tmp_dir/tasks/main.yml": REMOTE_TMP_DIR,
                     "site.yaml": f"- hosts: lab\n  roles: [{target}]\n"})
    inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host04"]))
    run = provision("apply", inventory, str(tmp_path / "site.yaml"), "--report-json", str(tmp_path / "report.json"),
                    timeout=600)
    assert os.path.exists(tmp_path / "report.json"), run.stdout[-3000:] + run.stderr[-3000:]
    with open(tmp_path / "report.json") as handle:
        report = json.load(handle)
    results = [result for result in report["results"] if result["task"] != "Gathering Facts"]
    # a failure a block's rescue took (the targets' "EXPECTED FAILURE" tasks) is no failure of the
    # run: the recap says whether the host failed, and then its last failed task is what failed
    stopped = [result for result in results if result["status"] == "failed" and not result["ignored"]]
    failed = {stopped[-1]["task"]: stopped[-1]["msg"]} if report["hosts"]["host04"]["failed"] and stopped else {}
    ROWS.append((target, len(results), len(results) - len(failed), len(failed)))
    expected = (ADAPTATIONS.get("expected_failures") or {}).get(target, {})
    unexpected = {task: message for task, message in failed.items() if task not in expected}
    assert not unexpected, json.dumps(unexpected, indent=1)[:4000]
    assert run.returncode == (2 if failed else 0), run.stdout[-3000:]

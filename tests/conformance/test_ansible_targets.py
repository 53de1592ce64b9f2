"""ansible-core's own integration targets run unchanged by provision on a sandbox host.

The targets come from ansible-core's sdist on PyPI (./bootstrap fetches it into .cache/; the test
reaches no network). adaptations.yaml lists which targets run and the only changes made: two
helper roles their meta pulls in are replaced. Each target's tasks assert on the results of the
tasks before them, Ansible's own expectations of its modules: a failed task is a difference from
Ansible, and fails this test unless adaptations.yaml names it with the reason. The targets run all
at once (each in its own temporary folder on the host), so the lane costs about the longest one.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from tests.conformance.conftest import ROWS
from tests.conftest import throwaway_sandbox
from tests.engine.scenario import PROVISION, dump_inventory, sandbox_inventory, write

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(ROOT, ".cache", "ansible_core-2.19.14", "test", "integration", "targets")

HOST = "host01"  # in the inventory of every target: the sandbox host it runs on is its address
with open(os.path.join(HERE, "adaptations.yaml")) as handle:
    ADAPTATIONS = yaml.safe_load(handle)
# ansible-core's own commands on the controller's PATH (why: adaptations.yaml, controller_path)
ANSIBLE_BIN = os.path.join(ROOT, ADAPTATIONS["controller_path"])
# targets that would step on each other run on a host of their own (adaptations.yaml, own_host)
OWN_HOSTS = {target: f"host{index + 2:02d}" for index, target in enumerate(ADAPTATIONS["own_host"])}

REMOTE_TMP_DIR = """
- name: remote_tmp_dir (conformance adaptation of setup_remote_tmp_dir)
  tempfile: {state: directory, suffix: .test}
  register: remote_tmp_dir_made
- set_fact: {remote_tmp_dir: "{{ remote_tmp_dir_made.path }}"}
"""


@pytest.fixture(scope="module")
def python_host():
    """A host with python3, as ansible-test's: the targets run Python on it in some tasks (scripts
    of their own, `{{ ansible_python.executable }} -c ...`). provision itself needs none there."""
    with throwaway_sandbox("cnf", hosts=1 + len(OWN_HOSTS), kind="python") as fleet:
        yield fleet


@pytest.fixture(scope="module")
def runs(python_host, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, str]]:
    """Every target's run: (the finished process, the folder holding its report.json)."""
    if not os.path.isdir(TARGETS):
        pytest.fail(f"{TARGETS} is missing: ./bootstrap fetches ansible-core's sdist into .cache/")
    started = {}
    for target in ADAPTATIONS["targets"]:
        folder = tmp_path_factory.mktemp(f"conformance-{target}")
        os.makedirs(folder / "roles")
        os.symlink(os.path.join(TARGETS, target), folder / "roles" / target)
        for helper in ADAPTATIONS["helper_roles"]:  # the sdist's own, unchanged (setup_nobody...)
            os.symlink(os.path.join(TARGETS, helper), folder / "roles" / helper)
        play = {"hosts": "lab", "vars": ADAPTATIONS["play_vars"], "roles": [target]}
        write(folder, {"roles/prepare_tests/tasks/main.yml": "[]\n",
                       "roles/setup_remote_tmp_dir/tasks/main.yml": REMOTE_TMP_DIR,
                       "site.yaml": yaml.safe_dump([play])})
        inventory = sandbox_inventory(python_host, [HOST])
        if target in OWN_HOSTS:  # the same name in the report, another sandbox host's address
            own = sandbox_inventory(python_host, [OWN_HOSTS[target]])["all"]["children"]["lab"]["hosts"]
            inventory["all"]["children"]["lab"]["hosts"][HOST] = own[OWN_HOSTS[target]]
        inventory["all"]["vars"].update(ADAPTATIONS["inventory_vars"])
        inventory = dump_inventory(folder, inventory)
        started[target] = (subprocess.Popen([PROVISION, "apply", inventory, str(folder / "site.yaml"), "--report-json",
                                             str(folder / "report.json")], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True, cwd=folder,
                                            env={**os.environ, "COLUMNS": "200",
                                                 "PATH": ANSIBLE_BIN + os.pathsep + os.environ.get("PATH", "")}),
                           str(folder))
    done = {}
    for target, (process, folder) in started.items():
        output, _ = process.communicate(timeout=600)
        done[target] = (subprocess.CompletedProcess(process.args, process.returncode, output, ""), folder)
    return done


@pytest.mark.sandbox
@pytest.mark.parametrize("target", ADAPTATIONS["targets"])
def test_an_ansible_core_target_passes(target, runs):
    run, folder = runs[target]
    path = os.path.join(folder, "report.json")
    assert os.path.exists(path), run.stdout[-4000:]
    with open(path) as handle:
        report = json.load(handle)
    results = [result for result in report["results"] if result["task"] != "Gathering Facts"]
    # a failure a block's rescue took (the targets' "EXPECTED FAILURE" tasks) is no failure of the
    # run: the recap says whether the host failed, and then its last failed task is what failed
    stopped = [result for result in results if result["status"] == "failed" and not result["ignored"]]
    failed = {stopped[-1]["task"]: stopped[-1]["msg"]} if report["hosts"][HOST]["failed"] and stopped else {}
    ROWS.append((target, len(results), len(results) - len(failed), len(failed)))
    expected = (ADAPTATIONS.get("expected_failures") or {}).get(target, {})
    unexpected = {task: message for task, message in failed.items() if task not in expected}
    assert not unexpected, json.dumps(unexpected, indent=1)[:4000]
    assert run.returncode == (2 if failed else 0), run.stdout[-3000:]

"""Worker processes: a fleet's hosts split over forked workers give the same run as one process,
every event reaches this process's listener, and a playbook that looks across hosts stays whole."""
from __future__ import annotations

import os

import pytest

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.runner import Collect, RunOptions, run_playbook
from provision.runner.workers import shares, split_reason, worker_count
from tests.engine.scenario import dump_inventory, sandbox_inventory, write

HOSTS = ["host01", "host02", "host03", "host04"]
# On this machine: the PID of the Python process that ran the task (the nearest python ancestor).
RUNNER_PID = ("p=$$; while [ $p -gt 1 ]; do case $(cat /proc/$p/comm) in python*) echo $p; break;; esac; "
              "p=$(cut -d' ' -f4 /proc/$p/stat); done")

PLAYBOOK = """
- name: first
  hosts: lab
  tasks:
    - copy: {content: "{{ inventory_hostname }}\\n", dest: /root/workers-test}
    - name: runner pid
      shell: "{{ runner_pid_command }}"
      delegate_to: localhost
      register: runner
      changed_when: false
    - set_fact: {runner_pid: "{{ runner.stdout }}"}
- name: second
  hosts: lab
  gather_facts: false
  tasks:
    - stat: {path: /root/workers-test}
      register: made
    - assert: {that: ["made.stat.exists"]}
"""


EXTRA = {"runner_pid_command": RUNNER_PID}


def _load(tmp_path, sandbox, text, names=HOSTS):
    write(tmp_path, {"site.yaml": text})
    inventory = load_inventory(dump_inventory(tmp_path, sandbox_inventory(sandbox, names)))
    return load_and_validate(str(tmp_path / "site.yaml"), inventory, EXTRA), inventory


@pytest.mark.parametrize("text, reason", [
    ("- hosts: all\n  serial: 2\n  tasks: [{ping: {}}]\n", "uses serial"),
    ("- hosts: all\n  tasks: [{ping: {}, run_once: true}]\n", "run_once"),
    ("- hosts: all\n  tasks: [{debug: {msg: \"{{ hostvars['x'].ansible_hostname }}\"}}]\n", "looks at other hosts"),
    ("- hosts: all\n  tasks: [{debug: {msg: \"{{ ansible_play_hosts | length }}\"}}]\n", "looks at other hosts"),
    ("- hosts: all\n  tasks: [{debug: {msg: \"{{ groups['all'] | length }}\"}}]\n", None),  # the inventory: everywhere
])
def test_what_keeps_a_playbook_in_one_process(tmp_path, text, reason):
    write(tmp_path, {"site.yaml": text})
    found = split_reason(load_and_validate(str(tmp_path / "site.yaml"), None))
    assert (found is None) if reason is None else (reason in found), found


def test_a_template_looking_at_other_hosts_keeps_it_whole(tmp_path):
    write(tmp_path, {"site.yaml": "- hosts: all\n  tasks: [{template: {src: hosts.j2, dest: /etc/hosts}}]\n",
                     "templates/hosts.j2": "{% for h in groups.all %}{{ hostvars[h].ansible_host }}\n{% endfor %}"})
    assert split_reason(load_and_validate(str(tmp_path / "site.yaml"), None)) == \
        "a template of the playbook looks at other hosts"


def test_sizes_and_shares():
    assert worker_count(None, 150) == 1 and worker_count(1, 5000) == 1 and worker_count(3, 2) == 2
    assert worker_count(None, 10_000) == (os.cpu_count() or 1)
    assert shares(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]


@pytest.mark.sandbox
def test_two_workers_give_the_run_of_one_process(sandbox, tmp_path):
    playbook, inventory = _load(tmp_path, sandbox, PLAYBOOK)
    alone, split = Collect(), Collect()
    run_playbook(playbook, inventory, RunOptions(extra_vars=EXTRA))  # converged first: both runs then see the same hosts
    one = run_playbook(playbook, inventory, RunOptions(workers=1, extra_vars=EXTRA), alone)
    two = run_playbook(playbook, inventory, RunOptions(workers=2, extra_vars=EXTRA), split)
    assert one.exit_code == two.exit_code == 0, [(r.host, r.task, r.msg) for r in two.results if r.status == "failed"]

    def rows(report):
        return sorted((r.host, r.play, r.task, r.status) for r in report.results)

    assert rows(two) == rows(one) and len(split.results) == len(two.results)
    assert list(two.recaps) == HOSTS
    assert {name: (r.ok, r.changed, r.failed, r.exec_channels) for name, r in two.recaps.items()} == \
        {name: (r.ok, r.changed, r.failed, r.exec_channels) for name, r in one.recaps.items()}
    # two processes ran the hosts, neither of them this one; each host's events came through
    pids = {r.host: r.output["stdout"] for r in two.results if r.task == "runner pid"}
    assert len(set(pids.values())) == 2 and str(os.getpid()) not in pids.values()
    assert pids["host01"] == pids["host03"] and pids["host02"] == pids["host04"]
    assert sorted(split.ended) == sorted(alone.ended) and len(split.started) == len(alone.started)


@pytest.mark.sandbox
def test_a_worker_that_dies_fails_its_hosts_and_not_the_others(sandbox, tmp_path):
    playbook, inventory = _load(tmp_path, sandbox, """
        - hosts: lab
          gather_facts: false
          tasks:
            - shell: "kill -9 $({{ runner_pid_command }})"
              delegate_to: localhost
              when: inventory_hostname == 'host02'
            - ping:
        """)
    report = run_playbook(playbook, inventory, RunOptions(workers=2, extra_vars=EXTRA))
    assert report.recaps["host01"].failed == 0 and report.recaps["host03"].ok == 1
    for name in ("host02", "host04"):  # the dead worker's share
        assert report.recaps[name].failed == 1 and "killed by signal 9" in report.recaps[name].reason
    assert report.exit_code == 2

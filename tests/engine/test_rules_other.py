"""Cross-argument rules of command, shell, wait_for and debug: `provision lint` refuses a task that
would fail on every host, pointing at the module's line (file:line:col), before any host is
contacted; the valid forms pass. The rules are Ansible's (see each module's class attributes)."""
from __future__ import annotations

import pytest

from provision.cli import main

INVENTORY = "all:\n  hosts:\n    web1: {ansible_host: 127.0.0.1}\n"
HEADER = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: the task\n"
MODULE_LINE = 5  # the line of the module's key, below HEADER


def lint(tmp_path, task: str) -> int:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "playbook.yaml").write_text(HEADER + task)
    return main(["lint", str(tmp_path / "inventory.yaml"), str(tmp_path / "playbook.yaml")])


REFUSED = [
    ("command: echo hi\n      args:\n        argv: [echo, hi]\n",
     "command: arguments the free-form command and 'argv' are mutually exclusive"),
    ("command:\n        cmd: echo hi\n        argv: [echo, hi]\n", "arguments 'cmd' and 'argv' are mutually exclusive"),
    ("command: echo hi\n      args:\n        cmd: echo ho\n", "arguments the free-form command and 'cmd' are mutually exclusive"),
    ("command:\n        chdir: /tmp\n", "command: one of the free-form command, 'cmd', 'argv' is required"),
    ("shell:\n        creates: /tmp/x\n", "shell: one of the free-form command, 'cmd' is required"),
    ("shell: echo hi\n      args:\n        cmd: echo ho\n", "shell: arguments the free-form command and 'cmd' are mutually exclusive"),
    ("wait_for:\n        port: 22\n        path: /tmp/ready\n",
     "wait_for: arguments 'port' and 'path' are mutually exclusive"),
    ("ansible.builtin.wait_for:\n        port: \"{{ 20 + 2 }}\"\n        path: /tmp/ready\n",
     "arguments 'port' and 'path' are mutually exclusive"),
    ("debug:\n        msg: hello\n        var: ansible_hostname\n",
     "debug: arguments 'msg' and 'var' are mutually exclusive"),
]


@pytest.mark.parametrize("task, message", REFUSED, ids=[message for _, message in REFUSED])
def test_lint_refuses_with_file_line_and_column(tmp_path, capsys, task, message):
    assert lint(tmp_path, "      " + task) == 1
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert message in err
    assert f"playbook.yaml:{MODULE_LINE}:7" in err


ACCEPTED = [
    "command: echo hi\n",
    "command:\n        argv: [echo, hi]\n        creates: /tmp/x\n",
    "command:\n        cmd: echo hi\n",
    "command: echo hi\n      args:\n        chdir: /tmp\n",
    "shell: echo hi | wc\n",
    "shell:\n        cmd: echo hi\n        executable: /bin/bash\n",
    "wait_for:\n        port: 22\n",
    "wait_for:\n        path: /tmp/ready\n        search_regex: READY\n",
    "wait_for:\n        timeout: 1\n",
    "debug:\n        msg: hello\n",
    "debug:\n        var: ansible_hostname\n",
    "debug:\n",
]


@pytest.mark.parametrize("task", ACCEPTED)
def test_lint_accepts_the_valid_forms(tmp_path, capsys, task):
    assert lint(tmp_path, "      " + task) == 0, capsys.readouterr()

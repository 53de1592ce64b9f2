"""Cross-argument rules of command, shell, wait_for and debug: `provision lint` refuses a task that
would fail on every host, pointing at the module's line (file:line:col), before any host is
contacted; the valid forms pass. The rules are Ansible's (see each module's class attributes)."""
from __future__ import annotations

import pytest

from tests.engine.lintcase import assert_accepted, assert_refused

REFUSED = [
    ("command: echo hi\n      args:\n        argv: [echo, hi]\n",
     "command: parameters are mutually exclusive: _raw_params|cmd|argv"),
    ("command:\n        cmd: echo hi\n        argv: [echo, hi]\n", "parameters are mutually exclusive: _raw_params|cmd|argv"),
    ("command: echo hi\n      args:\n        cmd: echo ho\n", "parameters are mutually exclusive: _raw_params|cmd"),
    ("command:\n        chdir: /tmp\n", "command: one of the following is required: _raw_params, cmd, argv"),
    ("shell:\n        creates: /tmp/x\n", "shell: one of the following is required: _raw_params, cmd"),
    ("shell: echo hi\n      args:\n        cmd: echo ho\n", "shell: parameters are mutually exclusive: _raw_params|cmd"),
    ("wait_for:\n        port: 22\n        path: /tmp/ready\n",
     "wait_for: parameters are mutually exclusive: port|path"),
    ("ansible.builtin.wait_for:\n        port: \"{{ 20 + 2 }}\"\n        path: /tmp/ready\n",
     "parameters are mutually exclusive: port|path"),
    ("debug:\n        msg: hello\n        var: ansible_hostname\n",
     "debug: parameters are mutually exclusive: msg|var"),
]


@pytest.mark.parametrize("task, message", REFUSED, ids=[message for _, message in REFUSED])
def test_lint_refuses_with_file_line_and_column(tmp_path, capsys, task, message):
    assert_refused(tmp_path, capsys, task, message)


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
    assert_accepted(tmp_path, capsys, task)

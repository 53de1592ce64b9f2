"""Cross-argument rules of the file modules (copy, lineinfile, blockinfile, file): `provision lint`
refuses a task that would fail on every host, pointing at the module's line (file:line:col), before
any host is contacted; the valid forms pass. The rules are Ansible's (each module's class attributes
name their source)."""
from __future__ import annotations

import pytest

from tests.engine.lintcase import assert_accepted, assert_refused

REFUSED = [
    ("copy:\n        dest: /etc/motd\n        content: hi\n        src: motd\n",
     "copy: src and content are mutually exclusive"),
    ("copy:\n        dest: /etc/motd\n        mode: \"0644\"\n", "copy: src (or content) is required"),
    ("ansible.builtin.copy:\n        dest: /etc/motd\n        content: \"{{ greeting }}\"\n        src: motd\n"
     "      vars:\n        greeting: hi\n",
     "copy: src and content are mutually exclusive"),
    ("lineinfile:\n        path: /etc/hosts\n        regexp: '^127'\n", "lineinfile: state is present but all of the following are missing: line"),
    ("lineinfile:\n        path: /etc/hosts\n        state: present\n", "lineinfile: state is present but all of the following are missing: line"),
    ("lineinfile:\n        path: /etc/hosts\n        line: x\n        insertafter: a\n        insertbefore: b\n",
     "lineinfile: parameters are mutually exclusive: insertbefore|insertafter"),
    ("lineinfile:\n        path: /etc/hosts\n        line: x\n        regexp: a\n        search_string: b\n",
     "lineinfile: parameters are mutually exclusive: regexp|search_string"),
    ("lineinfile:\n        path: /etc/hosts\n        line: x\n        search_string: b\n        backrefs: true\n",
     "lineinfile: parameters are mutually exclusive: backrefs|search_string"),
    ("blockinfile:\n        path: /etc/hosts\n        block: x\n        insertafter: a\n        insertbefore: b\n",
     "blockinfile: parameters are mutually exclusive: insertbefore|insertafter"),
    # file has none: `state: link` without src is a link kept as it is when one is there (Ansible's)
]


@pytest.mark.parametrize("task, message", REFUSED, ids=[message for _, message in REFUSED])
def test_lint_refuses_with_file_line_and_column(tmp_path, capsys, task, message):
    assert_refused(tmp_path, capsys, task, message)


ACCEPTED = [
    "copy:\n        dest: /etc/motd\n        content: hi\n",
    "copy:\n        dest: /etc/motd\n        content: \"\"\n",  # an empty file
    "copy:\n        dest: /etc/motd\n        src: motd\n",
    "copy:\n        dest: /etc/\n        src: motd\n        mode: '0644'\n",
    "template:\n        src: motd.j2\n        dest: /etc/motd\n",
    "lineinfile:\n        path: /etc/hosts\n        line: 127.0.0.1 localhost\n",
    "lineinfile:\n        path: /etc/hosts\n        regexp: '^127'\n        line: x\n        insertbefore: BOF\n",
    "lineinfile:\n        path: /etc/hosts\n        regexp: '^127'\n        state: absent\n",
    "lineinfile:\n        path: /etc/hosts\n        search_string: localhost\n        line: x\n",
    "lineinfile:\n        path: /etc/ssh/sshd_config\n        regexp: '^Port (\\d+)'\n        line: 'Port \\1'\n"
    "        backrefs: true\n",
    "blockinfile:\n        path: /etc/hosts\n        block: x\n        insertafter: EOF\n",
    "blockinfile:\n        path: /etc/hosts\n        state: absent\n",
    "file:\n        path: /etc/current\n        src: /opt/v2\n        state: link\n",
    "file:\n        path: /etc/current\n        src: /opt/v2\n",
    "file:\n        path: /etc/ssl\n        state: directory\n",
    "get_url:\n        url: https://example.com/a.run\n        dest: /opt/\n        checksum: sha256:00ff\n",
    "stat:\n        path: /etc/hosts\n",
    "json_merge:\n        path: /etc/docker/daemon.json\n        keys: {debug: true}\n",
]


@pytest.mark.parametrize("task", ACCEPTED)
def test_lint_accepts_the_valid_forms(tmp_path, capsys, task):
    assert_accepted(tmp_path, capsys, task)

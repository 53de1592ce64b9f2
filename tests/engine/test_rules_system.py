"""Cross-argument rules of the system modules (apt_repository, dnf, service, systemd, sysctl):
`provision lint` refuses a task that would fail on every host, pointing at the module's line
(file:line:col), before any host is contacted; the valid forms pass. The rules are Ansible's (each
module's class attributes name their source)."""
from __future__ import annotations

import pytest

from tests.engine.lintcase import assert_accepted, assert_refused

REPO = "apt_repository:\n        name: cuda\n        repo: deb https://repo.example/cuda /\n"

REFUSED = [
    (REPO + "        key_src: vendor.asc\n        key_url: https://repo.example/key.asc\n",
     "apt_repository: parameters are mutually exclusive: key_src|key_content|key_url"),
    (REPO + "        key_content: \"{{ vendor_key }}\"\n        key_url: https://repo.example/key.asc\n"
     "      vars:\n        vendor_key: x\n",
     "apt_repository: parameters are mutually exclusive: key_src|key_content|key_url"),
    ("dnf:\n        state: latest\n", "dnf: missing required arguments: name"),
    ("service:\n        name: nvidia-persistenced\n",
     "service: one of the following is required: state, enabled, daemon_reload"),
    ("ansible.builtin.service:\n        name: nvidia-persistenced\n        enabled:\n",
     "service: one of the following is required: state, enabled, daemon_reload"),
    ("systemd:\n        name: nvidia-fabricmanager\n",
     "systemd: one of the following is required: state, enabled, masked, daemon_reload"),
    ("systemd:\n        state: started\n", "systemd: one of the following is required: name, daemon_reload"),
    ("systemd:\n        daemon_reload: true\n        state: started\n", "systemd: missing parameter(s) required by 'state': name"),
    ("sysctl:\n        name: vm.swappiness\n", "sysctl: state is present but all of the following are missing: value"),
]


@pytest.mark.parametrize("task, message", REFUSED, ids=[message for _, message in REFUSED])
def test_lint_refuses_with_file_line_and_column(tmp_path, capsys, task, message):
    assert_refused(tmp_path, capsys, task, message)


ACCEPTED = [
    REPO,
    REPO + "        key_src: vendor.asc\n",
    REPO + "        key_url: https://repo.example/key.asc\n",
    "apt_repository:\n        name: cuda\n        state: absent\n",
    "apt:\n        update_cache: true\n",  # Ansible's required_one_of counts autoremove's default
    "apt:\n        name: [nvidia-driver-550]\n        state: present\n",
    "dnf:\n        name: cuda-drivers\n        state: latest\n",
    "service:\n        name: nvidia-persistenced\n        enabled: true\n",
    "service:\n        name: docker\n        state: \"{{ docker_state }}\"\n      vars:\n        docker_state: started\n",
    "service:\n        name: docker\n        daemon_reload: true\n",
    "systemd:\n        daemon_reload: true\n",
    "systemd:\n        name: nouveau-helper\n        masked: true\n",
    "systemd:\n        name: nvidia-fabricmanager\n        state: started\n        enabled: true\n",
    "sysctl:\n        name: vm.swappiness\n        value: 10\n",
    "sysctl:\n        name: vm.swappiness\n        state: absent\n",
    "modprobe:\n        name: nouveau\n        state: absent\n        blacklist: true\n",
]


@pytest.mark.parametrize("task", ACCEPTED)
def test_lint_accepts_the_valid_forms(tmp_path, capsys, task):
    assert_accepted(tmp_path, capsys, task)

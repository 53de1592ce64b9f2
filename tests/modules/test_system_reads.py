"""The system modules' reads are data: read_command() builds shell text without touching the host
(facts gathered or not), so the runner batches them; apt and dnf are opaque and never batched."""
from __future__ import annotations

import pytest

from provision.modules import get_module
from provision.modules.context import TaskContext
from provision.runner.prefetch import NoHost, read_of

KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
CASES = [
    ("service", {"name": "docker", "state": "started"}, {"ansible_service_mgr": "systemd"}),
    ("service", {"name": "docker", "state": "started"}, {}),  # no facts: the read asks which init runs
    ("systemd", {"name": "nvidia-fabricmanager", "masked": False}, {}),
    ("systemd", {"daemon_reload": True}, {}),
    ("sysctl", {"name": "vm.swappiness", "value": "10"}, {}),
    ("modprobe", {"name": "nouveau", "state": "absent", "blacklist": True}, {}),
    ("apt_repository", {"name": "cuda", "repo": "deb https://repo.example/ /", "key_content": KEY}, {}),
    ("apt", {"name": ["nvidia-driver-550"]}, {}),
    ("dnf", {"name": ["cuda-drivers"]}, {}),
]


@pytest.mark.parametrize("module, args, facts", CASES, ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)])
def test_read_command_touches_no_host_and_batches_unless_opaque(module, args, facts):
    module_class = get_module(module)
    context = TaskContext(transport=NoHost(), facts=facts)  # NoHost raises on any command
    command = module_class(module_class.check_args(args), context).read_command()
    assert isinstance(command, str) and command
    batched = read_of(module_class, args, context)
    if module_class.opaque:
        assert module in ("apt", "dnf") and batched is None
    else:
        assert batched == (command, None)


def test_a_read_the_task_would_refuse_is_not_batched():
    context = TaskContext(transport=NoHost(), facts={})
    assert read_of(get_module("service"), {"name": "x; reboot", "state": "started"}, context) is None
    assert read_of(get_module("sysctl"), {"name": "vm.swappiness"}, context) is None  # rule: value needed

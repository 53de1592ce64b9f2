"""sysctl over real SSH: net.* is writable in a sandbox host, kernel-wide keys are read-only there."""
import pytest

from provision.modules.sysctl import edit_file, file_value, normalise
from tests.conftest import run_module, ssh

HOST = "host03"
CONF = "/etc/sysctl.d/90-provision-test.conf"


def test_file_edits_keep_other_lines_and_drop_duplicates():
    text = "# comment\nvm.swappiness = 10\nnet.core.somaxconn=128\nvm.swappiness=30\n"
    assert file_value(text, "vm.swappiness") == "30"
    assert edit_file(text, "vm.swappiness", "1") == "# comment\nvm.swappiness=1\nnet.core.somaxconn=128\n"
    assert edit_file(text, "vm.swappiness", None) == "# comment\nnet.core.somaxconn=128\n"
    assert edit_file(None, "a.b", "2") == "a.b=2\n"
    assert normalise("4096\t87380   6291456\n") == "4096 87380 6291456"


@pytest.fixture
def clean(sandbox):
    ssh(sandbox, HOST, f"rm -f {CONF}; sysctl -qw net.ipv4.ip_forward=0 net.ipv4.tcp_rmem='4096 131072 6291456'")
    yield
    ssh(sandbox, HOST, f"rm -f {CONF}; sysctl -qw net.ipv4.ip_forward=0 net.ipv4.tcp_rmem='4096 131072 6291456'")


def runtime(sandbox, key):
    return normalise(ssh(sandbox, HOST, f"cat /proc/sys/{key.replace('.', '/')}").stdout)


@pytest.mark.sandbox
def test_set_in_file_and_kernel_check_apply_then_ok(sandbox, clean, module_context):
    args = {"name": "net.ipv4.ip_forward", "value": "1", "sysctl_file": CONF}
    checked = run_module("sysctl", args, module_context(HOST, check=True))
    assert checked.status == "changed"
    assert "+net.ipv4.ip_forward=1" in checked.diff
    assert "running kernel: net.ipv4.ip_forward = 0 -> 1" in checked.diff
    assert runtime(sandbox, "net.ipv4.ip_forward") == "0"
    assert ssh(sandbox, HOST, f"test -e {CONF}", check=False).returncode == 1

    applied = run_module("sysctl", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert runtime(sandbox, "net.ipv4.ip_forward") == "1"
    assert ssh(sandbox, HOST, f"cat {CONF}").stdout == "net.ipv4.ip_forward=1\n"
    assert run_module("sysctl", args, module_context(HOST)).status == "ok"

    removed = run_module("sysctl", {**args, "state": "absent"}, module_context(HOST))
    assert removed.status == "changed" and "-net.ipv4.ip_forward=1" in removed.diff
    assert ssh(sandbox, HOST, f"cat {CONF}").stdout == ""
    assert run_module("sysctl", {**args, "state": "absent"}, module_context(HOST)).status == "ok"


@pytest.mark.sandbox
def test_values_compare_as_the_kernel_prints_them(sandbox, clean, module_context):
    args = {"name": "net.ipv4.tcp_rmem", "value": "4096  87380\t6291456", "sysctl_file": CONF}
    assert run_module("sysctl", args, module_context(HOST)).status == "changed"
    assert runtime(sandbox, "net.ipv4.tcp_rmem") == "4096 87380 6291456"
    assert run_module("sysctl", args, module_context(HOST)).status == "ok"


@pytest.mark.sandbox
def test_read_only_kernel_key_file_only_with_reload_false(sandbox, clean, module_context):
    before = runtime(sandbox, "kernel.pid_max")
    args = {"name": "kernel.pid_max", "value": "4194000", "sysctl_file": CONF, "reload": False}
    assert run_module("sysctl", args, module_context(HOST)).status == "changed"
    assert ssh(sandbox, HOST, f"cat {CONF}").stdout == "kernel.pid_max=4194000\n"
    assert run_module("sysctl", args, module_context(HOST)).status == "ok"
    assert runtime(sandbox, "kernel.pid_max") == before

    refused = run_module("sysctl", {**args, "reload": True}, module_context(HOST))
    assert refused.status == "failed"
    assert "the running kernel refused kernel.pid_max=4194000" in refused.msg
    assert runtime(sandbox, "kernel.pid_max") == before


@pytest.mark.sandbox
def test_unknown_key_fails_clearly(sandbox, clean, module_context):
    result = run_module("sysctl", {"name": "net.ipv4.no_such_key", "value": "1", "sysctl_file": CONF},
                        module_context(HOST))
    assert result.status == "failed" and "no key net.ipv4.no_such_key" in result.msg

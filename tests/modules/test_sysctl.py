"""sysctl: its decisions as data on a fake host; over real SSH, a real kernel setting and refusing."""
import pytest

from provision.modules.sysctl import edit_file, file_value, normalise
from provision.transport.base import CommandResult
from tests.conftest import run_module, ssh
from tests.modules.systemhost import ok, run_on

HOST = "host03"
CONF = "/etc/sysctl.d/90-provision-test.conf"


def test_file_edits_keep_other_lines_and_drop_duplicates():
    text = "# comment\nvm.swappiness = 10\nnet.core.somaxconn=128\nvm.swappiness=30\n"
    assert file_value(text, "vm.swappiness") == "30"
    assert edit_file(text, "vm.swappiness", "1") == "# comment\nvm.swappiness=1\nnet.core.somaxconn=128\n"
    assert edit_file(text, "vm.swappiness", None) == "# comment\nnet.core.somaxconn=128\n"
    assert edit_file(None, "a.b", "2") == "a.b=2\n"
    assert normalise("4096\t87380   6291456\n") == "4096 87380 6291456"


# ---- as data: given /proc/sys and the file, expect these writes and commands (fake host) ------

CONF_TEXT = "# tuned\nvm.swappiness = 10\nnet.core.somaxconn=128\n"


def kernel(runtime="0", text=None, folder=True):
    """The read command's output: the running value (None: no such key), the folder, the file."""
    return ("\n@@provision:runtime@@\n" + ("@@missing" if runtime is None else runtime)
            + "\n@@provision:folder@@\n" + ("yes" if folder else "")
            + "\n@@provision:exists@@\n" + ("yes" if text is not None else "")
            + "\n@@provision:file@@\n" + (text or ""))


def sysctl(args, output, check=False, refused=None):
    answers = [("s runtime;", ok(output))] + ([("sysctl -w", refused)] if refused else [])
    return run_on("sysctl", {"sysctl_file": CONF, **args}, answers, check=check)


def test_read_is_one_command_of_the_running_value_and_the_file():
    _, host = sysctl({"name": "net/ipv4/ip_forward", "value": "1"}, kernel(), check=True)
    assert len(host.commands) == 1
    assert "s runtime; cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo @@missing" in host.commands[0]
    assert host.commands[0].endswith(f"s file; [ ! -f {CONF} ] || cat {CONF}\n")


@pytest.mark.parametrize("args, output, file_text, runtime_command", [
    ({"name": "net.ipv4.ip_forward", "value": "1"}, kernel("0"), "net.ipv4.ip_forward=1\n",
     "sysctl -w net.ipv4.ip_forward=1"),
    ({"name": "net.ipv4.ip_forward", "value": "1"}, kernel("1", "net.ipv4.ip_forward=1\n"), None, None),
    ({"name": "net.ipv4.ip_forward", "value": "1"}, kernel("1"), "net.ipv4.ip_forward=1\n", None),
    ({"name": "net.ipv4.ip_forward", "value": "1"}, kernel("0", "net.ipv4.ip_forward=1\n"), None,
     "sysctl -w net.ipv4.ip_forward=1"),
    ({"name": "vm.swappiness", "value": "1"}, kernel("10", CONF_TEXT),
     "# tuned\nvm.swappiness=1\nnet.core.somaxconn=128\n", "sysctl -w vm.swappiness=1"),
    ({"name": "vm.swappiness", "value": "30"}, kernel("30", CONF_TEXT + "vm.swappiness=30\n"),
     "# tuned\nvm.swappiness=30\nnet.core.somaxconn=128\n", None),  # duplicates go
    ({"name": "net.ipv4.tcp_rmem", "value": "4096  87380\t6291456"},
     kernel("4096\t87380\t6291456", "net.ipv4.tcp_rmem = 4096 87380 6291456\n"), None, None),  # as the kernel prints
    ({"name": "kernel.pid_max", "value": "4194000", "reload": False}, kernel("32768"), "kernel.pid_max=4194000\n", None),
    ({"name": "vm.swappiness", "state": "absent"}, kernel("10", CONF_TEXT), "# tuned\nnet.core.somaxconn=128\n", None),
    ({"name": "vm.swappiness", "state": "absent"}, kernel("10"), None, None),  # no file, nothing to remove
    ({"name": "net.ipv4.no_such_key", "value": "1", "ignoreerrors": True}, kernel(None),
     "net.ipv4.no_such_key=1\n", None),
])
def test_writes_and_commands(args, output, file_text, runtime_command):
    result, host = sysctl(args, output)
    changed = file_text is not None or runtime_command is not None
    assert result.status == ("changed" if changed else "ok"), result.msg
    assert host.writes == ({CONF: file_text.encode()} if file_text is not None else {})
    assert [command for command in host.actions() if command.startswith("sysctl")] == \
        ([runtime_command] if runtime_command else [])


def test_check_mode_shows_the_file_and_the_running_kernel():
    result, host = sysctl({"name": "net.ipv4.ip_forward", "value": "1"}, kernel("0"), check=True)
    assert result.status == "changed" and host.actions() == []
    assert "+net.ipv4.ip_forward=1" in result.diff
    assert "running kernel: net.ipv4.ip_forward = 0 -> 1" in result.diff


def test_registered_data():
    converged, _ = sysctl({"name": "vm.swappiness", "value": "10"}, kernel("10", CONF_TEXT))
    assert converged.data == {"name": "vm.swappiness", "value": "10", "sysctl_file": CONF}
    applied, _ = sysctl({"name": "vm.swappiness", "value": "1"}, kernel("10", CONF_TEXT))
    assert applied.data["file_changed"] is True and applied.data["value"] == "1"


@pytest.mark.parametrize("args, output, message", [
    ({"name": "net.ipv4.no_such_key", "value": "1"}, kernel(None), "this kernel has no key net.ipv4.no_such_key"),
    ({"name": "net.ipv4.ip_forward; reboot", "value": "1"}, kernel(), "'net.ipv4.ip_forward; reboot' is not a valid key"),
    ({"name": "net.ipv4.ip_forward"}, kernel(), "state is present but all of the following are missing: value"),
])
def test_failures_are_clear(args, output, message):
    result, host = sysctl(args, output)
    assert result.status == "failed" and message in result.msg and host.writes == {}


def test_a_kernel_that_refuses_the_value_fails_after_writing_the_file():
    refused = CommandResult(255, "", "sysctl: permission denied on key \"kernel.pid_max\"")
    result, host = sysctl({"name": "kernel.pid_max", "value": "4194000"}, kernel("32768"), refused=refused)
    assert result.status == "failed"
    assert f"{CONF} now sets it, but the running kernel refused kernel.pid_max=4194000" in result.msg
    assert list(host.writes) == [CONF] and result.data["rc"] == 255


# ---- over SSH: net.* is writable in a sandbox host, kernel-wide keys are read-only there -------

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

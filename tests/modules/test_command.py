"""command and shell over real SSH: what runs, what is registered, creates/removes, check mode."""
import pytest

from provision.transport.base import Become
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox


def test_command_passes_shell_characters_literally(remote, module_context):
    result = run_module("command", {"_raw_params": "echo $HOME '*' | wc"}, module_context())
    assert result.status == "changed"
    assert result.data["stdout"] == "$HOME * | wc"
    assert result.data["stdout_lines"] == ["$HOME * | wc"]


def test_argv_words_are_never_split(remote, module_context):
    result = run_module("command", {"argv": ["printf", "%s|", "a b", "c"]}, module_context())
    assert result.data["stdout"] == "a b|c|"


def test_shell_runs_pipes_and_variables(remote, module_context):
    result = run_module("shell", {"_raw_params": "echo one two | wc -w; echo err >&2"}, module_context())
    assert (result.data["stdout"], result.data["stderr"], result.data["rc"]) == ("2", "err", 0)


def test_a_non_zero_exit_fails_and_keeps_the_output(remote, module_context):
    result = run_module("shell", {"cmd": "echo out; echo bad >&2; exit 3"}, module_context())
    assert result.status == "failed"
    assert (result.data["rc"], result.data["stdout"], result.data["stderr"]) == (3, "out", "bad")


def test_creates_and_removes_skip_the_command_without_running_it(remote, module_context):
    marker = remote.path("done")
    args = {"_raw_params": f"touch {marker}", "creates": marker}

    first = run_module("command", args, module_context())
    second = run_module("command", args, module_context())
    removes = run_module("command", {"_raw_params": "false", "removes": remote.path("gone")}, module_context())

    assert first.status == "changed" and remote.look(marker).exists
    assert second.status == "ok" and "exists" in second.data["msg"]
    assert removes.status == "ok" and "does not exist" in removes.data["msg"]


def test_check_mode_skips_and_runs_nothing(remote, module_context):
    marker = remote.path("touched")
    result = run_module("shell", {"_raw_params": f"touch {marker}"}, module_context(check=True))
    assert result.status == "skipped"
    assert remote.look(marker).exists is False


def test_chdir_stdin_and_environment(remote, module_context):
    result = run_module("shell", {"cmd": 'pwd; cat; echo "$GREETING"', "chdir": remote.folder, "stdin": "from stdin"},
                        module_context(environment={"GREETING": "hi there"}))
    assert result.data["stdout_lines"] == [remote.folder, "from stdin", "hi there"]


def test_timeout_stops_a_hung_command(remote, module_context):
    result = run_module("command", {"_raw_params": "sleep 30", "timeout": 1}, module_context())
    assert result.status == "failed" and result.data["rc"] == 124


def test_shell_executable(remote, module_context):
    result = run_module("shell", {"cmd": 'echo "${BASH_VERSION:+bash}"', "executable": "/bin/bash"},
                        module_context())
    assert result.data["stdout"] == "bash"


def test_become_with_a_password_runs_as_root_and_reads_stdin(remote, module_context):
    become = Become(user="root", password="sandbox")
    result = run_module("shell", {"cmd": "id -un; cat", "stdin": "payload"},
                        module_context(user="deploy", become=become))
    assert result.data["stdout_lines"] == ["root", "payload"]  # the password never reaches the command
    assert "sandbox" not in result.data["stdout"]


def test_become_with_a_wrong_password_fails_cleanly(remote, module_context):
    password = "wrong-pass-987"
    result = run_module("command", {"_raw_params": "id -un"},
                        module_context(user="deploy", become=Become(user="root", password=password)))
    assert result.status == "failed"
    assert "password" in result.msg and password not in result.msg and password not in repr(result.data)


def test_become_without_a_password_where_sudo_needs_one(remote, module_context):
    result = run_module("command", {"_raw_params": "id -un"}, module_context(user="deploy", become=Become()))
    assert result.status == "failed" and "needs a password" in result.msg


def test_admin_has_passwordless_sudo(remote, module_context):
    result = run_module("command", {"_raw_params": "id -un"}, module_context(user="admin", become=Become()))
    assert result.data["stdout"] == "root"


def test_a_command_is_required(remote, module_context):
    result = run_module("command", {}, module_context())
    assert result.status == "failed" and "needs a command" in result.msg

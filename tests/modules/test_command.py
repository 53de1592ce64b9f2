"""command and shell over real SSH: what only a host shows. The decisions (quoting, creates/removes,
check mode, registered keys, refusals) are data in test_other_modules_data.py."""
import pytest

from provision.transport.base import Become
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox


def test_command_words_reach_the_program_literally_and_shell_interprets(remote, module_context):
    """As Ansible's command: only $NAME, ${NAME} and a leading ~ are expanded (on the host; an
    unset variable stays as written), nothing else of a shell's."""
    literal = run_module("command", {"_raw_params": "echo $HOME '*' | wc ~ ${NOT_SET_HERE} $(id)"}, module_context())
    kept = run_module("command", {"_raw_params": "echo $HOME ~", "expand_argument_vars": False}, module_context())
    argv = run_module("command", {"argv": ["printf", "%s|", "a b", "c"]}, module_context())
    shell = run_module("shell", {"_raw_params": "echo one two | wc -w; echo err >&2"}, module_context())
    bash = run_module("shell", {"cmd": 'echo "${BASH_VERSION:+bash}"', "executable": "/bin/bash"}, module_context())
    assert (literal.status, literal.data["stdout_lines"]) == ("changed", ["/root * | wc /root ${NOT_SET_HERE} $(id)"])
    assert kept.data["stdout"] == "$HOME ~"
    assert argv.data["stdout"] == "a b|c|"
    assert (shell.data["stdout"], shell.data["stderr"], shell.data["rc"]) == ("2", "err", 0)
    assert bash.data["stdout"] == "bash"


def test_creates_skips_once_the_command_made_its_file(remote, module_context):
    marker = remote.path("done")
    args = {"_raw_params": f"touch {marker}", "creates": marker}
    first = run_module("command", args, module_context())
    second = run_module("command", args, module_context())
    assert first.status == "changed" and remote.look(marker).exists
    assert second.status == "ok" and second.data["msg"] == f"Did not run command since '{marker}' exists"


def test_chdir_stdin_and_environment(remote, module_context):
    result = run_module("shell", {"cmd": 'pwd; cat; echo "$GREETING"', "chdir": remote.folder, "stdin": "from stdin"},
                        module_context(environment={"GREETING": "hi there"}))
    assert result.data["stdout_lines"] == [remote.folder, "from stdin", "hi there"]


def test_timeout_stops_a_hung_command(remote, module_context):
    result = run_module("command", {"_raw_params": "sleep 30", "timeout": 1}, module_context())
    assert result.status == "failed" and result.data["rc"] == 124


def test_become_with_a_password_runs_as_root_and_reads_stdin(remote, module_context):
    become = Become(user="root", password="sandbox")
    result = run_module("shell", {"cmd": "id -un; cat", "stdin": "payload"},
                        module_context(user="deploy", become=become))
    assert result.data["stdout_lines"] == ["root", "payload"]  # the password never reaches the command
    assert "sandbox" not in result.data["stdout"]


def test_become_without_a_password_where_sudo_needs_one(remote, module_context):
    result = run_module("command", {"_raw_params": "id -un"}, module_context(user="deploy", become=Become()))
    assert result.status == "failed" and "needs a password" in result.msg

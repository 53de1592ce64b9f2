"""command, shell, wait_for, reboot, ping, setup, debug and the gpu_* reads as data: given what the host
prints, expect this state, these commands and this registered result (no host; tests/support/fakehost.py).

The sandbox tests beside these (test_command.py, test_wait_for.py, ...) keep what only a host shows.
"""
from __future__ import annotations

import datetime
import subprocess

import pytest

from provision.modules.command import PROGRAM_CHECK, Command
from provision.modules.gpu_driver_facts import GpuDriverFacts
from provision.modules.gpu_preflight import GpuPreflight
from provision.modules.reboot import Reboot
from provision.modules.setup import Setup
from provision.modules.wait_for import WaitFor
from provision.transport.base import CommandResult
from tests.conftest import run_module
from tests.support.fakehost import FakeContext, ok
from tests.test_facts import DEBIAN


def read_command(module, args):
    """The module's read command for these arguments (pure: FakeContext would record any run)."""
    context = FakeContext()
    command = module(module.check_args(args), context).read_command()
    assert context.commands == [], "read_command ran something"
    return command


# ---- command and shell ----------------------------------------------------------------------------

ANSIBLE_KEYS = {"cmd", "rc", "stdout", "stderr", "stdout_lines", "stderr_lines", "start", "end", "delta", "msg"}


@pytest.mark.parametrize("args, expected", [
    ({"_raw_params": "echo $HOME '*' | wc"}, "echo \"${HOME-\\$HOME}\" '*' '|' wc"),
    ({"_raw_params": "echo $HOME", "expand_argument_vars": False}, "echo '$HOME'"),
    ({"_raw_params": "ls ~/x ${TMP}/y $(id)"}, "ls ~/x \"${TMP-\\${TMP\\}}\"/y '$(id)'"),
    ({"argv": ["printf", "%s|", "a b", "c"]}, "printf '%s|' 'a b' c"),
    ({"cmd": "touch /tmp/x", "chdir": "/srv/my dir"}, "touch /tmp/x"),
])
def test_command_quotes_every_word(args, expected):
    context = FakeContext()
    result = run_module("command", args, context)
    into = "cd -P '/srv/my dir' && " if "chdir" in args else ""
    assert result.status == "changed" and context.commands[-1:] == [f'{into}set -- {expected}; {PROGRAM_CHECK}; "$@"']
    assert len(context.commands) == (2 if "chdir" in args else 1), "a chdir is tested by the read first"


def test_shell_keeps_the_text_and_uses_the_executable():
    context = FakeContext()
    run_module("shell", {"cmd": "echo one | wc -w"}, context)
    run_module("shell", {"cmd": "echo $0", "executable": "/bin/bash"}, context)
    assert context.commands == ["{\necho one | wc -w\n}", "/bin/bash -c 'echo $0'"]


def test_command_reads_nothing_without_creates_removes_or_chdir():
    assert read_command(Command, {"_raw_params": "true"}) is None


@pytest.mark.parametrize("args, said", [
    ({"creates": "{tmp}/a b"}, "creates"),
    ({"creates": "{tmp}/nothing"}, ""),
    ({"creates": "{tmp}/d/*.txt"}, "creates"),         # a glob pattern, as Ansible's glob.glob
    ({"creates": "x?.txt", "chdir": "{tmp}/d"}, "creates"),  # relative: from chdir, as Ansible's
    ({"creates": "x?.txt"}, ""),                        # from the login folder: not there
    ({"creates": "{tmp}/dangling"}, "creates"),         # a link to nothing exists for glob too
    ({"creates": "{tmp}/*.none"}, ""),
    ({"removes": "{tmp}/d/x[0-9].txt"}, ""),
    ({"removes": "{tmp}/gone*"}, "removes"),
    ({"creates": "{tmp}/nothing", "removes": "{tmp}/gone"}, "removes"),
    ({"chdir": "{tmp}/missing", "creates": "{tmp}/a b"}, "chdir"),  # chdir first: it fails the task
])
def test_command_read_tests_as_ansibles_command_in_a_real_shell(args, said, tmp_path):
    """The read's text run by sh in a folder with real files: what it prints is what parse() reads."""
    (tmp_path / "a b").write_text("")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x1.txt").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    args = {key: value.format(tmp=tmp_path) for key, value in args.items()}
    text = read_command(Command, {"_raw_params": "true", **args})
    printed = subprocess.run(["sh", "-c", text], capture_output=True, text=True, cwd=tmp_path,
                             timeout=10)
    assert (printed.returncode, printed.stdout.split(), printed.stderr) == (0, [said] if said else [], "")


def test_a_missing_chdir_fails_in_ansibles_words_in_check_mode_too():
    context = FakeContext([("cd ", ok("chdir\n"))], check=True)
    result = run_module("command", {"_raw_params": "ls", "chdir": "/nope"}, context)
    assert (result.status, result.msg, len(context.commands)) == ("failed", "Unable to change directory before "
                                                                  "execution.", 1)
    assert result.data["rc"] is None


@pytest.mark.parametrize("args, said, msg, stdout", [
    ({"creates": "/done"}, "creates", "Did not run command since '/done' exists", "skipped, since /done exists"),
    ({"removes": "/gone"}, "removes", "Did not run command since '/gone' does not exist",
     "skipped, since /gone does not exist"),
])
def test_creates_and_removes_skip_with_ansibles_result(args, said, msg, stdout):
    context = FakeContext([("for p in", ok(said + "\n"))])
    result = run_module("command", {"_raw_params": "touch /done", **args}, context)
    assert result.status == "ok" and len(context.commands) == 1, "the command itself never ran"
    assert (result.data["msg"], result.data["stdout"], result.data["rc"]) == (msg, stdout, 0)
    assert set(result.data) == ANSIBLE_KEYS


def test_a_run_registers_ansibles_keys_and_strips_empty_ends():
    context = FakeContext([("printf", CommandResult(0, "one\ntwo\n\n", "warn\n"))])
    data = run_module("command", {"argv": ["printf", "x"]}, context).data
    assert set(data) == ANSIBLE_KEYS
    assert (data["stdout"], data["stdout_lines"], data["stderr_lines"], data["msg"]) == ("one\ntwo", ["one", "two"],
                                                                                         ["warn"], "")
    start, end = (datetime.datetime.fromisoformat(data[key]) for key in ("start", "end"))
    assert start <= end and data["delta"].startswith("0:00:")
    kept = run_module("command", {"argv": ["printf", "x"], "strip_empty_ends": False}, context).data
    assert kept["stdout"] == "one\ntwo\n\n"


def test_a_non_zero_exit_fails_and_keeps_the_output():
    context = FakeContext([("exit 3", CommandResult(3, "out\n", "bad\n"))])
    result = run_module("shell", {"cmd": "echo out; echo bad >&2; exit 3"}, context)
    assert result.status == "failed" and result.msg == "non-zero return code 3: bad"
    assert (result.data["rc"], result.data["stdout"], result.data["stderr"], result.data["msg"]) == \
        (3, "out", "bad", "non-zero return code")


def test_check_mode_predicts_a_run_that_creates_allows_and_skips_one_it_cannot_tell():
    """As Ansible's command: with creates/removes it reports "changed" (and no skipped key); with
    neither it skips; the command itself never runs."""
    context = FakeContext(check=True)
    result = run_module("shell", {"_raw_params": "touch /x", "creates": "/x"}, context)
    assert result.status == "changed" and len(context.commands) == 1 and "echo creates" in context.commands[0]
    assert (result.data["msg"], result.data["rc"]) == ("Command would have run if not in check mode", 0)
    blind = run_module("shell", {"_raw_params": "touch /x"}, context)
    assert blind.status == "skipped" and len(context.commands) == 1


def test_stdin_gets_a_newline_unless_told_not_to():
    sent = []

    class Recording(FakeContext):
        def run(self, command, *, stdin=None, timeout=None):
            sent.append(stdin)
            return super().run(command, stdin=stdin, timeout=timeout)

    run_module("command", {"_raw_params": "cat", "stdin": "data"}, Recording())
    run_module("command", {"_raw_params": "cat", "stdin": "data", "stdin_add_newline": False}, Recording())
    assert sent == ["data\n", "data"]


@pytest.mark.parametrize("module, args, message", [
    ("command", {}, "one of the following is required: _raw_params, cmd, argv"),
    ("command", {"_raw_params": "   "}, "command needs a command"),
    ("command", {"_raw_params": "ls", "argv": ["ls"]}, "parameters are mutually exclusive: _raw_params|cmd|argv"),
    ("shell", {"_raw_params": "ls", "cmd": "ls"}, "parameters are mutually exclusive: _raw_params|cmd"),
    ("shell", {"argv": ["ls"]}, "Unsupported parameters for (shell) module: argv"),
    ("command", {"_raw_params": "echo 'unclosed"}, "cannot split command"),
])
def test_command_refusals(module, args, message):
    context = FakeContext()
    result = run_module(module, args, context)
    assert result.status == "failed" and message in result.msg, result.msg
    assert context.commands == []


# ---- wait_for -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, condition", [
    ({"path": "/x"}, '[ -e "$path" ]'),
    ({"path": "/x", "state": "absent"}, '[ ! -e "$path" ]'),
    ({"path": "/x", "search_regex": "READY"}, '[ -r "$path" ] && grep -Eq -- "$regex" "$path"'),
    ({"port": 22}, "port_open"),
    ({"port": 22, "state": "stopped"}, "! port_open"),
    ({"port": 22, "search_regex": "SSH"}, "port_says"),
])
def test_wait_for_reads_its_condition_once_without_waiting(args, condition):
    script = read_command(WaitFor, args)
    assert f"condition() {{ {condition}; }}" in script
    assert "end=$(( $(date +%s) + 0 ))" in script


def test_wait_for_quotes_what_it_is_given():
    script = read_command(WaitFor, {"path": "/tmp/a'b", "search_regex": "x$(reboot)"})
    assert "path='/tmp/a'\"'\"'b'" in script and "regex='x$(reboot)'" in script


@pytest.mark.parametrize("args", [{"timeout": 3}, {"path": "/x", "delay": 2}])
def test_wait_for_reads_nothing_for_a_plain_wait_or_after_a_delay(args):
    assert read_command(WaitFor, args) is None


@pytest.mark.parametrize("check", [False, True])
def test_a_condition_already_met_is_ok_at_once_even_in_check_mode(check):
    context = FakeContext([("condition()", ok("met\n"))], check=check)
    result = run_module("wait_for", {"path": "/ready", "timeout": 5}, context)
    assert result.status == "ok" and len(context.commands) == 1
    assert result.data["elapsed"] == 0


def test_an_unmet_condition_is_skipped_in_check_mode():
    context = FakeContext([("condition()", ok("timeout\n"))], check=True)
    assert run_module("wait_for", {"path": "/late"}, context).status == "skipped"
    assert len(context.commands) == 1


@pytest.mark.parametrize("args, message", [
    ({"path": "/tmp/log", "search_regex": "never"}, "Timeout when waiting for search string never in /tmp/log"),
    ({"path": "/tmp/log"}, "Timeout when waiting for file /tmp/log"),
    ({"path": "/tmp/log", "state": "absent"}, "Timeout when waiting for /tmp/log to be absent."),
    ({"port": 8089}, "Timeout when waiting for 127.0.0.1:8089"),
    ({"port": 8089, "state": "stopped"}, "Timeout when waiting for 127.0.0.1:8089 to stop."),
    ({"port": 8089, "state": "drained"}, "Timeout when waiting for 127.0.0.1:8089 to drain"),
    ({"port": 8089, "msg": "web never came up"}, "web never came up"),
])
def test_a_wait_that_runs_out_fails_with_ansibles_message(args, message):
    context = FakeContext([("condition()", ok("timeout\n"))])
    result = run_module("wait_for", {**args, "timeout": 1}, context)
    assert (result.status, result.msg) == ("failed", message)
    assert "elapsed" in result.data and len(context.commands) == 2, "one look, then the bounded wait"


def test_a_wait_that_ends_in_time_is_ok_and_says_how_long():
    context = FakeContext([("+ 0 ))", ok("timeout\n")), ("condition()", ok("met\n"))])
    result = run_module("wait_for", {"path": "/late", "timeout": 20}, context)
    assert result.status == "ok" and isinstance(result.data["elapsed"], int)


def test_a_plain_wait_waits_out_its_timeout_and_is_ok():
    context = FakeContext([("condition()", ok("timeout\n"))])
    assert run_module("wait_for", {"timeout": 1}, context).status == "ok"
    assert len(context.commands) == 1 and "condition() { false; }" in context.commands[0]


def test_a_host_that_cannot_test_a_port_fails_plainly():
    context = FakeContext([("condition()", CommandResult(3, "", "wait_for: neither bash nor nc on this host"))])
    result = run_module("wait_for", {"port": 22}, context)
    assert (result.status, result.msg) == ("failed", "wait_for: neither bash nor nc on this host")


@pytest.mark.parametrize("args, message", [
    ({"port": 22, "path": "/x"}, "parameters are mutually exclusive: port|path"),
    ({"path": "/x", "search_regex": "a", "state": "absent"}, "search_regex waits for text to appear"),
])
def test_wait_for_refusals(args, message):
    context = FakeContext()
    result = run_module("wait_for", args, context)
    assert result.status == "failed" and message in result.msg and context.commands == []


# ---- reboot ---------------------------------------------------------------------------------------

def test_reboot_reads_the_boot_id_and_check_mode_only_says_so():
    assert read_command(Reboot, {}) == "cat /proc/sys/kernel/random/boot_id"
    assert read_command(Reboot, {"boot_time_command": "uptime -s"}) == "uptime -s"
    context = FakeContext([("boot_id", ok("aaaa\n"))], check=True)
    result = run_module("reboot", {}, context)
    assert (result.status, result.diff) == ("changed", "reboot the host (boot id aaaa)\n")
    assert result.data == {"rebooted": False, "elapsed": 0, "boot_id": "aaaa"}
    assert context.commands == ["cat /proc/sys/kernel/random/boot_id"]


def test_a_host_without_a_boot_id_fails_before_rebooting():
    context = FakeContext([("boot_id", CommandResult(1, "", "No such file"))])
    result = run_module("reboot", {}, context)
    assert result.status == "failed" and "cannot read the boot id" in result.msg and "No such file" in result.msg
    assert len(context.commands) == 1


def test_reboot_starts_detached_and_waits_for_a_new_boot_id():
    answers = iter(["before\n", "before\n", "after\n"])

    class Booting(FakeContext):
        def run(self, command, *, stdin=None, timeout=None):
            self.commands.append(command)
            return ok(next(answers)) if "boot_id" in command else ok("root\n")

    context = Booting()
    result = run_module("reboot", {"poll_interval": 0}, context)
    assert result.status == "changed", result.msg
    assert (result.data["rebooted"], result.data["boot_id_before"], result.data["boot_id"]) == (True, "before", "after")
    assert isinstance(result.data["elapsed"], float)
    assert context.commands[1] == "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 </dev/null &"
    assert context.commands[-1] == "whoami", "the test command proves the new boot answers"


def test_a_host_that_keeps_its_boot_id_fails_within_the_bound():
    context = FakeContext([("boot_id", ok("same\n"))])
    result = run_module("reboot", {"reboot_timeout": 1, "poll_interval": 0.2, "reboot_command": "true"}, context)
    assert result.status == "failed"
    assert "did not come back as a new boot within 1s (the boot id never changed: did it reboot?)" in result.msg
    assert result.data == {"rebooted": False, "boot_id": "same"}


# ---- ping and setup -------------------------------------------------------------------------------

def test_ping_reads_true_and_pongs_or_fails_with_the_hosts_words():
    context = FakeContext(check=True)
    assert run_module("ping", {"data": "x"}, context).data == {"ping": "x"}
    assert context.commands == ["true"]
    refused = FakeContext([("true", CommandResult(1, "", "sudo: a password is required"))])
    result = run_module("ping", {}, refused)
    assert (result.status, result.msg) == ("failed", "the host cannot run commands: sudo: a password is required")


def test_setup_reads_the_facts_script_and_filters():
    context = FakeContext([("@@provision:", ok(DEBIAN))], check=True)
    result = run_module("setup", {"filter": ["ansible_distribution*", "ansible_hostname"]}, context)
    facts = result.data["ansible_facts"]
    assert result.status == "ok" and len(context.commands) == 1
    assert facts["ansible_hostname"] == "gpu01" and facts["ansible_distribution_release"] == "bookworm"
    assert all(name.startswith("ansible_distribution") or name == "ansible_hostname" for name in facts)


def test_setup_asks_again_once_when_the_reply_is_cut_short_then_fails():
    replies = iter([ok(""), ok(DEBIAN)])

    class Starting(FakeContext):
        def run(self, command, *, stdin=None, timeout=None):
            self.commands.append(command)
            return next(replies)

    context = Starting()
    assert run_module("setup", {}, context).data["ansible_facts"]["ansible_hostname"] == "gpu01"
    assert len(context.commands) == 2
    cut = FakeContext([("@@provision:", CommandResult(0, "", "early"))])
    result = run_module("setup", {}, cut)
    assert result.status == "failed" and "gathering facts failed" in result.msg and len(cut.commands) == 2


# ---- debug ----------------------------------------------------------------------------------------

def test_debug_refuses_msg_and_var_together_by_its_rule():
    result = run_module("debug", {"msg": "x", "var": "y"}, FakeContext())
    # the result in Ansible's words; validation (lint) names the module before them
    assert (result.status, result.msg) == ("failed", "parameters are mutually exclusive: msg|var")


# ---- the gpu_* reads ------------------------------------------------------------------------------

def test_gpu_driver_facts_is_one_read_that_batching_can_take():
    command = read_command(GpuDriverFacts, {"packages": ["nvidia-open"]})
    assert "dpkg-query" in command and "nvidia-open" in command
    output = ("\n@@provision:loaded@@\n580.95.05\n@@provision:packages@@\n"
              "ii |nvidia-dkms-580-open|580.95.05-0ubuntu1\n@@provision:held@@\n@@provision:end@@\n")
    context = FakeContext([("dpkg-query", ok(output))], check=True)
    result = run_module("gpu_driver_facts", {}, context)
    assert (result.status, result.data["installed"], result.data["installed_flavour"]) == ("ok", "580.95.05", "open")
    assert context.commands == [read_command(GpuDriverFacts, {})]


def test_gpu_preflight_reads_in_one_command_with_its_arguments_quoted():
    command = read_command(GpuPreflight, {"lspci_command": "lspci -d 10de:; reboot", "docker_root": "/d r"})
    assert "sh -c 'lspci -d 10de:; reboot'" in command and "dir='/d r'" in command
    assert command.rstrip().endswith("s end")
    context = FakeContext([("lspci", CommandResult(1, "\n@@provision:lspci@@\n", "cut"))])
    result = run_module("gpu_preflight", {}, context)
    assert result.status == "failed" and result.msg == "could not read the host (rc=1): cut"



@pytest.mark.parametrize("argv, rc, msg", [
    (["commandthatdoesnotexist", "--would-be-awkward"], 2,
     "[Errno 2] No such file or directory: b'commandthatdoesnotexist'"),
    (["/nonexistent/tool"], 2, "[Errno 2] No such file or directory: b'/nonexistent/tool'"),
    (["{tmp}/plain.txt"], 13, "[Errno 13] Permission denied: b'{tmp}/plain.txt'"),
    (["{tmp}"], 13, "[Errno 13] Permission denied: b'{tmp}'"),
])
def test_a_program_that_is_not_there_fails_as_ansibles_exec_does(argv, rc, msg, tmp_path):
    """The text run by a real sh: no shell's "not found" on stderr, rc the errno (ansible-core's
    command_shell target: `failed_when: res.stdout != '' or res.stderr != ''`)."""
    (tmp_path / "plain.txt").write_text("not a program\n")
    argv, msg = [word.format(tmp=tmp_path) for word in argv], msg.format(tmp=tmp_path)
    text = Command(Command.check_args({"argv": argv}), FakeContext()).command_text()
    ran = subprocess.run(["sh", "-c", text], capture_output=True, text=True, timeout=10)
    context = FakeContext([("set --", CommandResult(ran.returncode, ran.stdout, ran.stderr))])
    result = run_module("command", {"argv": argv}, context)
    assert (result.status, result.msg) == ("failed", msg)
    assert (result.data["rc"], result.data["stdout"], result.data["stderr"]) == (rc, "", "")


def test_a_program_exiting_127_itself_keeps_its_own_result():
    text = Command(Command.check_args({"argv": ["sh", "-c", "echo gone >&2; exit 127"]}), FakeContext()).command_text()
    ran = subprocess.run(["sh", "-c", text], capture_output=True, text=True, timeout=10)
    assert (ran.returncode, ran.stderr) == (127, "gone\n")

"""modprobe: its decisions as data on a fake host; over real SSH, a real kernel's built-in module and
a sandbox host that cannot load modules (no CAP_SYS_MODULE) while its files still work."""
import pytest

from provision.modules.modprobe import parse_files
from provision.transport.base import CommandResult
from tests.conftest import run_module, ssh
from tests.modules.systemhost import ok, run_on

HOST = "host04"


# ---- as data: given /proc/modules and the files, expect these writes and commands (fake host) -

LOAD, OPTIONS = "/etc/modules-load.d/{}.conf", "/etc/modprobe.d/{}.conf"
BLACKLIST = "/etc/modprobe.d/blacklist-{}.conf"


def kernel(name, words="can_load", files=None):
    """The read command's output: what the kernel says of the module, then the three files."""
    files = files or {}
    output = "\n@@provision:module@@\n" + "\n".join(words.split()) + "\n@@provision:end@@\n"
    for path in (LOAD.format(name), OPTIONS.format(name), BLACKLIST.format(name)):
        output += f"\n@@provision-file:{path}@@\n" + files.get(path, "@@absent\n")
    return output


def modprobe(args, output, check=False, refused=None):
    answers = [("s module;", ok(output))] + ([("modprobe --", refused)] if refused else [])
    return run_on("modprobe", args, answers, check=check)


def test_read_is_one_command_with_the_kernels_name_and_the_files():
    _, host = modprobe({"name": "nvidia-peermem"}, kernel("nvidia-peermem", "can_load loaded"))
    read = host.commands[0]
    assert read.startswith("n=nvidia_peermem\n")  # the kernel lists modules with underscores
    assert "if [ -f /etc/modprobe.d/blacklist-nvidia-peermem.conf ]; then cat" in read
    assert len(host.commands) == 1


@pytest.mark.parametrize("args, words, files, writes, command", [
    ({"name": "dummy"}, "can_load", {}, {}, "modprobe -- dummy"),
    ({"name": "dummy"}, "can_load loaded", {}, {}, None),
    ({"name": "bridge"}, "builtin", {}, {}, None),
    ({"name": "nouveau", "state": "absent"}, "can_load loaded", {}, {}, "modprobe -r -- nouveau"),
    ({"name": "nouveau", "state": "absent"}, "can_load", {}, {}, None),
    ({"name": "nvidia-peermem", "persistent": "present", "params": "peerdirect_support=0"}, "can_load", {},
     {LOAD.format("nvidia-peermem"): "nvidia-peermem\n",
      OPTIONS.format("nvidia-peermem"): "options nvidia-peermem peerdirect_support=0\n"},
     "modprobe -- nvidia-peermem peerdirect_support=0"),
    ({"name": "dummy", "persistent": "present"}, "can_load loaded", {LOAD.format("dummy"): "dummy\n"}, {}, None),
    ({"name": "nouveau", "state": "absent", "blacklist": True}, "can_load", {},
     {BLACKLIST.format("nouveau"): "blacklist nouveau\n"}, None),
    ({"name": "nouveau", "state": "absent", "blacklist": True, "blacklist_file": "/etc/modprobe.d/nv.conf"},
     "can_load", {}, {"/etc/modprobe.d/nv.conf": "blacklist nouveau\n"}, None),
    ({"name": "nouveau", "state": "absent", "blacklist": True}, "can_load",
     {BLACKLIST.format("nouveau"): "blacklist nouveau\n"}, {}, None),
])
def test_writes_and_commands(args, words, files, writes, command):
    result, host = modprobe(args, kernel(args["name"], words, files))
    assert result.status == ("changed" if writes or command else "ok"), result.msg
    assert host.writes == {path: text.encode() for path, text in writes.items()}
    assert [sent for sent in host.actions() if sent.startswith("modprobe")] == ([command] if command else [])


@pytest.mark.parametrize("args, files, removed", [
    ({"name": "dummy", "persistent": "absent"}, {LOAD.format("dummy"): "dummy\n", OPTIONS.format("dummy"): "options dummy x=1\n"},
     [LOAD.format("dummy"), OPTIONS.format("dummy")]),
    ({"name": "dummy", "persistent": "present"}, {LOAD.format("dummy"): "dummy\n", OPTIONS.format("dummy"): "options dummy x=1\n"},
     [OPTIONS.format("dummy")]),  # no params any more: their file goes
    ({"name": "nouveau", "state": "absent", "blacklist": False}, {BLACKLIST.format("nouveau"): "blacklist nouveau\n"},
     [BLACKLIST.format("nouveau")]),
])
def test_files_no_longer_wanted_are_removed(args, files, removed):
    result, host = modprobe(args, kernel(args["name"], "can_load loaded" if args.get("state") != "absent" else "can_load",
                                         files))
    assert result.status == "changed", result.msg
    assert [sent for sent in host.actions() if sent.startswith("rm ")] == [f"rm -f -- {path}" for path in removed]


def test_check_mode_shows_the_files_and_the_load():
    result, host = modprobe({"name": "dummy", "persistent": "present"}, kernel("dummy"), check=True)
    assert result.status == "changed" and host.actions() == []
    assert "+dummy" in result.diff and result.diff.endswith("load dummy\n")


def test_registered_data():
    result, _ = modprobe({"name": "bridge"}, kernel("bridge", "builtin"))
    assert result.data == {"name": "bridge", "loaded": True, "builtin": True}
    applied, _ = modprobe({"name": "dummy", "persistent": "present"}, kernel("dummy"))
    assert applied.data["files"] == [LOAD.format("dummy")] and applied.data["actions"][-1] == "load dummy"


@pytest.mark.parametrize("args, words, message", [
    ({"name": "bridge", "state": "absent"}, "builtin", "bridge is built into the kernel; it cannot be unloaded"),
    ({"name": "nouveau", "blacklist": True}, "can_load", "a blacklisted module cannot be wanted present"),
    ({"name": "x; reboot"}, "can_load", "'x; reboot' is not a valid module name"),
])
def test_failures_are_clear(args, words, message):
    result, host = modprobe(args, kernel(args["name"], words))
    assert result.status == "failed" and message in result.msg and host.actions() == []


@pytest.mark.parametrize("words, error, why", [
    ("", "modprobe: FATAL: Module dummy not found", "this kernel has no loadable module support (no /proc/modules)"),
    ("can_load", "modprobe: ERROR: could not insert 'dummy': Operation not permitted",
     "not permitted (no CAP_SYS_MODULE: a container or sandbox host?)"),
    ("can_load", "modprobe: FATAL: Module dummy not found", "modprobe failed"),
])
def test_a_load_that_fails_says_why(words, error, why):
    result, host = modprobe({"name": "dummy", "persistent": "present"}, kernel("dummy", words),
                            refused=CommandResult(1, "", error))
    assert result.status == "failed"
    assert result.msg == f"modprobe: the files were written, but could not load dummy: {why}: {error}"
    assert list(host.writes) == [LOAD.format("dummy")]


def test_parse_files_keeps_content_verbatim():
    output = "x\n@@provision-file:/a@@\n@@absent\n\n@@provision-file:/b@@\nblacklist x\n\n"
    assert parse_files(output) == {"/a": None, "/b": "blacklist x\n\n"}


# ---- over SSH: sandbox hosts cannot load modules (no CAP_SYS_MODULE), files still work ---------

@pytest.fixture
def clean(sandbox):
    wipe = "rm -rf /etc/modules-load.d /etc/modprobe.d/blacklist-nouveau.conf /etc/modprobe.d/bridge.conf"
    ssh(sandbox, HOST, wipe)
    yield
    ssh(sandbox, HOST, wipe)


@pytest.mark.sandbox
def test_blacklist_check_apply_then_ok(sandbox, clean, module_context):
    args = {"name": "nouveau", "state": "absent", "blacklist": True}
    checked = run_module("modprobe", args, module_context(HOST, check=True))
    assert checked.status == "changed"
    assert "+blacklist nouveau" in checked.diff
    assert ssh(sandbox, HOST, "test -e /etc/modprobe.d/blacklist-nouveau.conf", check=False).returncode == 1

    applied = run_module("modprobe", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert ssh(sandbox, HOST, "cat /etc/modprobe.d/blacklist-nouveau.conf").stdout == "blacklist nouveau\n"
    assert ssh(sandbox, HOST, "stat -c %a /etc/modprobe.d/blacklist-nouveau.conf").stdout.strip() == "644"
    assert run_module("modprobe", args, module_context(HOST)).status == "ok"

    lifted = run_module("modprobe", {"name": "nouveau", "state": "absent", "blacklist": False}, module_context(HOST))
    assert lifted.status == "changed"
    assert ssh(sandbox, HOST, "test -e /etc/modprobe.d/blacklist-nouveau.conf", check=False).returncode == 1


@pytest.mark.sandbox
def test_builtin_module_is_present_and_persistence_is_written(sandbox, clean, module_context):
    args = {"name": "bridge", "persistent": "present"}
    applied = run_module("modprobe", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert ssh(sandbox, HOST, "cat /etc/modules-load.d/bridge.conf").stdout == "bridge\n"
    again = run_module("modprobe", args, module_context(HOST))
    assert again.status == "ok" and again.data["builtin"] is True


@pytest.mark.sandbox
def test_loading_fails_clearly_without_module_support(sandbox, clean, module_context):
    result = run_module("modprobe", {"name": "dummy", "persistent": "present"}, module_context(HOST))
    assert result.status == "failed"
    assert "could not load dummy" in result.msg
    assert "the files were written" in result.msg
    assert ssh(sandbox, HOST, "cat /etc/modules-load.d/dummy.conf").stdout == "dummy\n"

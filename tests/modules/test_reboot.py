"""reboot over real SSH: sandbox hosts reboot for real (a new boot id, /run emptied, disk kept).
Over a local connection it refuses, since the host would be the machine running provision.
Check mode and a host that never reboots are data in test_other_modules_data.py."""
import os
import shlex
import subprocess

import pytest

from provision.modules.context import TaskContext
from provision.runner.prefetch import PrefetchCache, PrefetchTransport
from provision.transport.base import CommandResult
from provision.transport.local import LocalTransport
from tests.conftest import run_module, ssh
from tests.engine.scenario import PROVISION, read_report, write

HOST = "host04"


def boot_id(sandbox):
    return ssh(sandbox, HOST, "cat /proc/sys/kernel/random/boot_id").stdout.strip()


@pytest.mark.sandbox
def test_reboots_and_waits_for_a_new_boot(sandbox, module_context):
    before = boot_id(sandbox)
    ssh(sandbox, HOST, "touch /run/gone-after-reboot /root/kept-after-reboot")
    context = module_context(HOST)
    result = run_module("reboot", {"reboot_timeout": 60}, context)
    assert result.status == "changed", result.msg
    assert result.data["rebooted"] is True
    assert result.data["boot_id_before"] == before != result.data["boot_id"]
    assert boot_id(sandbox) == result.data["boot_id"]
    assert ssh(sandbox, HOST, "test -e /run/gone-after-reboot", check=False).returncode == 1
    assert ssh(sandbox, HOST, "test -e /root/kept-after-reboot", check=False).returncode == 0
    # the task's connection was reopened and works for the next task
    assert run_module("command", {"_raw_params": "hostname"}, context).data["stdout"] == HOST


# ---- a local connection: the host is the machine running provision ---------------------------

REFUSAL = "Running reboot with local connection would reboot the control node."
# Every command name a reboot could go through on this machine: each is stubbed first on PATH for
# the CLI run below, so even a broken guard would only write to a log.
REBOOT_PROGRAMS = ("reboot", "shutdown", "systemctl", "halt", "poweroff", "init", "telinit")


class RecordingLocalTransport(LocalTransport):
    """A local transport that runs nothing: it records each command and answers a failure."""

    def __init__(self):
        super().__init__("localhost")
        self.commands: list[str] = []

    def run(self, command, *, stdin=None, become=None, timeout=None) -> CommandResult:
        self.commands.append(command)
        return CommandResult(1, "", "recording transport: nothing runs here")


def assert_refused_before_any_command(check: bool) -> None:
    transport = RecordingLocalTransport()
    result = run_module("reboot", {}, TaskContext(transport=transport, check=check))
    assert result.status == "failed"
    assert REFUSAL in result.msg
    assert ("check mode" in result.msg) is check
    assert result.data["rebooted"] is False
    assert transport.commands == [], "the guard must come before the first command"


@pytest.mark.parametrize("check", [False, True])
def test_a_local_connection_is_refused_before_any_command(check):
    assert_refused_before_any_command(check)


def test_the_guard_sees_through_the_runners_prefetch_wrapper():
    transport = RecordingLocalTransport()
    wrapped = PrefetchTransport(transport, PrefetchCache())
    result = run_module("reboot", {}, TaskContext(transport=wrapped))
    assert result.status == "failed" and REFUSAL in result.msg
    assert transport.commands == []


def _stub_reboot_programs(folder) -> str:
    """A folder of stand-ins for every reboot program; each call is appended to folder/calls."""
    folder.mkdir()
    calls = folder / "calls"
    for name in REBOOT_PROGRAMS:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> {shlex.quote(str(calls))}\nexit 0\n')
        stub.chmod(0o755)
    return str(calls)


@pytest.mark.parametrize("check", [False, True])
def test_apply_on_a_local_host_refuses_to_reboot_this_machine(tmp_path, check):
    # First the guard itself, with a transport that cannot run anything: if it were broken, the
    # test stops here, before a real local run.
    assert_refused_before_any_command(check)
    calls = _stub_reboot_programs(tmp_path / "stubs")
    after = tmp_path / "after-reboot"
    write(tmp_path, {
        "local.yaml": "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
        "reboot.yaml": f"""
            - hosts: all
              gather_facts: false
              tasks:
                - name: reboot the host
                  reboot:
                    reboot_timeout: 5
                - name: after the reboot
                  file:
                    path: {after}
                    state: touch
        """,
    })
    report_path = tmp_path / "report.json"
    command = [PROVISION, "apply", str(tmp_path / "local.yaml"), str(tmp_path / "reboot.yaml"),
               "--report-json", str(report_path), "--state-db", str(tmp_path / "history.sqlite")]
    env = {**os.environ, "COLUMNS": "200", "PATH": f"{tmp_path / 'stubs'}:{os.environ['PATH']}"}
    run = subprocess.run(command + (["--check"] if check else []), capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr  # a task failed on some host
    assert REFUSAL in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert not os.path.exists(calls), "a reboot program was called: " + open(calls).read()
    assert not after.exists(), "the host failed: no task runs after the refusal"
    report = read_report(report_path)
    assert report["hosts"]["localhost"]["failed"] == 1
    failed = [row for row in report["results"] if row["status"] == "failed"]
    assert [row["task"] for row in failed] == ["reboot the host"]

"""wait_for over real SSH: paths, file content and ports changing on a sandbox host while it waits,
all bounded. What it decides from the host's answer (met already, check mode, timeouts and their
messages) is data in test_other_modules_data.py."""
import shlex

import pytest

from tests.conftest import run_module, ssh

HOST = "host02"


def later(sandbox, command, seconds=2):
    """Run shell text on the host after a delay, in the background."""
    ssh(sandbox, HOST, f"nohup sh -c {shlex.quote(f'sleep {seconds}; {command}')} >/dev/null 2>&1 &")


@pytest.fixture
def clean(sandbox):
    ssh(sandbox, HOST, "rm -f /tmp/wf-*")
    yield
    ssh(sandbox, HOST, "[ -f /tmp/wf-httpd.pid ] && kill $(cat /tmp/wf-httpd.pid); rm -f /tmp/wf-*; true")


@pytest.mark.sandbox
def test_waits_for_a_path_to_appear_and_to_go(sandbox, clean, module_context):
    later(sandbox, "touch /tmp/wf-late")
    appeared = run_module("wait_for", {"path": "/tmp/wf-late", "timeout": 20, "sleep": 0.2}, module_context(HOST))
    assert appeared.status == "ok", appeared.msg
    assert appeared.data["elapsed"] >= 1
    later(sandbox, "rm /tmp/wf-late")
    gone = run_module("wait_for", {"path": "/tmp/wf-late", "state": "absent", "timeout": 20, "sleep": 0.2},
                      module_context(HOST))
    assert gone.status == "ok", gone.msg


@pytest.mark.sandbox
def test_search_regex_in_a_file(sandbox, clean, module_context):
    ssh(sandbox, HOST, "echo starting > /tmp/wf-log")
    later(sandbox, "echo 'server READY on 8080' >> /tmp/wf-log")
    result = run_module("wait_for", {"path": "/tmp/wf-log", "search_regex": "READY on [0-9]+", "timeout": 20,
                                     "sleep": 0.2}, module_context(HOST))
    assert result.status == "ok", result.msg


@pytest.mark.sandbox
def test_ports_open_close_and_greet(sandbox, clean, module_context):
    assert run_module("wait_for", {"port": 22, "timeout": 5}, module_context(HOST)).status == "ok"
    greeting = run_module("wait_for", {"port": 22, "search_regex": "OpenSSH", "timeout": 5}, module_context(HOST))
    assert greeting.status == "ok", greeting.msg

    later(sandbox, "busybox httpd -f -p 127.0.0.1:8089 & echo $! > /tmp/wf-httpd.pid")
    opened = run_module("wait_for", {"port": 8089, "timeout": 20, "sleep": 0.2}, module_context(HOST))
    assert opened.status == "ok", opened.msg
    later(sandbox, "kill $(cat /tmp/wf-httpd.pid)", seconds=1)
    closed = run_module("wait_for", {"port": 8089, "state": "stopped", "timeout": 20, "sleep": 0.2},
                        module_context(HOST))
    assert closed.status == "ok", closed.msg

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


@pytest.mark.sandbox
def test_a_port_drains_when_its_last_connection_closes(sandbox, clean, module_context):
    """state=drained reads the host's /proc/net/tcp as Ansible's module does: a connection to the
    port (here sshd's, from the host itself) keeps it busy until it closes; one from an excluded
    address does not count."""
    ssh(sandbox, HOST, "nohup bash -c 'exec 3<>/dev/tcp/127.0.0.1/22; sleep 5' >/dev/null 2>&1 & "
                       "for _ in $(seq 100); do grep -q '0100007F:0016 0100007F:[0-9A-F]* 01' /proc/net/tcp && break; "
                       "sleep 0.1; done")
    busy = run_module("wait_for", {"port": 22, "state": "drained", "timeout": 1, "sleep": 0.2}, module_context(HOST))
    assert (busy.status, busy.msg) == ("failed", "Timeout when waiting for 127.0.0.1:22 to drain")
    excluded = run_module("wait_for", {"port": 22, "state": "drained", "exclude_hosts": ["127.0.0.1"], "timeout": 1},
                          module_context(HOST))
    assert excluded.status == "ok", excluded.msg
    drained = run_module("wait_for", {"port": 22, "state": "drained", "timeout": 20, "sleep": 0.2},
                         module_context(HOST))
    assert drained.status == "ok", (drained.msg, drained.data)

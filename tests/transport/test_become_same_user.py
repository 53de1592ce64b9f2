"""become when the connection already runs as the become user: no sudo, so a host without sudo works.

Root becoming root used to go through `sudo -n`, and a minimal host without sudo failed every task.
Every other case (another user, with or without a password) still goes through sudo.
"""
from __future__ import annotations

import os
import shlex

import pytest

from provision.transport.base import Become
from provision.transport.local import LocalTransport, current_user
from tests.conftest import run_module, ssh
from tests.engine.scenario import dump_inventory, provision, read_report, sandbox_inventory, write


def _stub_sudo(folder) -> str:
    """A `sudo` first on PATH that records its call and refuses: proof of whether sudo ran."""
    folder.mkdir()
    calls = folder / "calls"
    stub = folder / "sudo"
    stub.write_text(f'#!/bin/sh\necho "sudo $*" >> {shlex.quote(str(calls))}\necho "sudo: stub" >&2\nexit 1\n')
    stub.chmod(0o755)
    return str(calls)


def test_local_become_as_the_current_user_runs_without_sudo(tmp_path, monkeypatch):
    calls = _stub_sudo(tmp_path / "stubs")
    monkeypatch.setenv("PATH", f"{tmp_path / 'stubs'}:{os.environ['PATH']}")
    me = current_user()
    assert me == "root", "the suite runs as root; this test checks root becoming root"
    transport = LocalTransport()

    result = transport.run("id -un; cat", stdin="payload", become=Become(user=me))
    with_password = transport.run("id -un", become=Become(user=me, password="not-needed"))

    assert (result.rc, result.stdout) == (0, f"{me}\npayload")
    assert (with_password.rc, with_password.stdout.strip()) == (0, me)
    assert not os.path.exists(calls), "sudo ran although no user changes"
    # another user still goes through sudo (here the stub, which refuses)
    other = transport.run("id -un", become=Become(user="nobody"))
    assert other.rc != 0
    assert "-u nobody" in open(calls).read()


@pytest.mark.sandbox
def test_root_become_works_on_a_host_without_sudo_and_admin_still_uses_sudo(fresh_host, sandbox, module_context):
    ssh(sandbox, "host01", "mv /usr/bin/sudo /usr/bin/sudo.away")
    try:
        as_root = run_module("command", {"_raw_params": "id -un"}, module_context(become=Become()))
        assert as_root.status == "changed", as_root.msg
        assert as_root.data["stdout"] == "root"

        as_admin = run_module("command", {"_raw_params": "id -un"}, module_context(user="admin", become=Become()))
        assert as_admin.status == "failed"
        assert "become needs sudo, which is not installed" in as_admin.msg
    finally:
        ssh(sandbox, "host01", "mv /usr/bin/sudo.away /usr/bin/sudo")
    as_admin = run_module("command", {"_raw_params": "id -un"}, module_context(user="admin", become=Become()))
    assert as_admin.data["stdout"] == "root", "with sudo back, admin becomes root through it"


@pytest.mark.sandbox
def test_apply_with_become_as_root_on_a_host_without_sudo(fresh_host, sandbox, tmp_path):
    ssh(sandbox, "host01", "mv /usr/bin/sudo /usr/bin/sudo.away")
    try:
        write(tmp_path, {"site.yaml": """
            - hosts: lab
              become: true
              tasks:
                - name: who
                  command: id -un
                  register: who
                  changed_when: false
                - name: a root-owned file
                  copy:
                    content: "{{ who.stdout }} on {{ ansible_distribution }}\\n"
                    dest: /root/become-without-sudo
                    mode: "0600"
        """})
        inventory = dump_inventory(tmp_path, sandbox_inventory(sandbox, ["host01"]))
        report_path = tmp_path / "report.json"
        run = provision("apply", inventory, str(tmp_path / "site.yaml"), "--report-json", str(report_path),
                        "--state-db", str(tmp_path / "history.sqlite"))
        assert run.returncode == 0, run.stdout + run.stderr
        assert read_report(report_path)["hosts"]["host01"]["failed"] == 0
        assert ssh(sandbox, "host01", "cat /root/become-without-sudo").stdout == "root on Debian\n"
        assert ssh(sandbox, "host01", "test -e /usr/bin/sudo", check=False).returncode == 1, "sudo stayed away"
    finally:
        ssh(sandbox, "host01", "mv /usr/bin/sudo.away /usr/bin/sudo")

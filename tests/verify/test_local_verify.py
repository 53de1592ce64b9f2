"""`provision verify` on `ansible_connection: local` hosts: testinfra's local backend, not ssh://.

A tiny role of our own (in a temporary project folder, so `roles/` is found in the current folder)
has checks that read the host's own variables, so a check passing proves it ran on the right machine
with that host's variables, and a failing one is reported under the inventory's name.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from provision.inventory import load_inventory
from provision.verify.hosts import hostspec, target_of
from tests.conftest import ssh
from tests.engine.scenario import PROVISION, sandbox_inventory, write

TINY_ROLE = {
    "roles/tiny/tasks/main.yml": "- debug: {msg: tiny}\n",
    "site.yaml": "- hosts: all\n  roles: [tiny]\n",
    "roles/tiny/tests/test_tiny.py": """
        def test_the_marker_names_this_host(host, provision_vars):
            marker = host.file(provision_vars["tiny_marker"])
            assert marker.exists, f"{provision_vars['tiny_marker']} is missing"
            assert marker.content_string.strip() == provision_vars["inventory_hostname"]


        def test_runs_as_root(host):
            assert host.run("id -un").stdout.strip() == "root"


        def test_records_its_connection(host):
            # SSH_CONNECTION names the client's source port: the same on every line when the
            # commands share one multiplexed connection, a new one per handshake otherwise
            for _ in range(3):
                host.run('[ -z "$SSH_CONNECTION" ] || echo "$SSH_CONNECTION" >> {CONNECTIONS}')
    """.replace("{CONNECTIONS}", "/tmp/provision-verify-connections"),
}
REMOTE_MARKER = "/tmp/provision-local-verify-marker"
CONNECTIONS = "/tmp/provision-verify-connections"


def run_verify(folder, inventory: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """`provision verify inventory.yaml site.yaml` as a user runs it, from the project folder."""
    with open(folder / "inventory.yaml", "w") as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    report = folder / "verify.json"
    run = subprocess.run([PROVISION, "verify", "inventory.yaml", "site.yaml", "--report-json", str(report),
                          "--state-db", str(folder / "history.sqlite")],
                         capture_output=True, text=True, timeout=300, cwd=folder, env={**os.environ, "COLUMNS": "200"})
    assert "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
    with open(report) as handle:
        return run, json.load(handle)


def counts(report: dict, name: str) -> tuple:
    """(passed, failed, skipped, state) of a host in the run report's schema."""
    recap = report["hosts"][name]
    return recap["checks_passed"], recap["checks_failed"], recap["checks_skipped"], report["states"][name]


def local_inventory(marker, become: bool = False) -> dict:
    host = {"ansible_connection": "local", "tiny_marker": str(marker)}
    if become:
        host["ansible_become"] = True
    return {"all": {"hosts": {"localhost": host}}}


@pytest.mark.parametrize("become", [False, True])
def test_verify_a_local_host_runs_the_checks_on_this_machine(tmp_path, become):
    write(tmp_path, TINY_ROLE)
    (tmp_path / "marker").write_text("localhost\n")

    run, report = run_verify(tmp_path, local_inventory(tmp_path / "marker", become))

    assert run.returncode == 0, run.stdout + run.stderr
    assert "ssh" not in run.stdout + run.stderr
    assert list(report["hosts"]) == ["localhost"] and counts(report, "localhost") == (3, 0, 0, "ok")
    assert {row["host"] for row in report["results"] if row["module"] == "testinfra"} == {"localhost"}


def test_a_failing_local_check_is_reported_under_the_inventory_name(tmp_path):
    write(tmp_path, TINY_ROLE)
    (tmp_path / "marker").write_text("someone else\n")

    run, report = run_verify(tmp_path, local_inventory(tmp_path / "marker"))

    assert run.returncode == 2, run.stdout + run.stderr
    assert "FAILED localhost: test_the_marker_names_this_host" in run.stdout
    assert counts(report, "localhost") == (2, 1, 0, "failed")


@pytest.mark.sandbox
def test_local_and_ssh_hosts_in_one_run(sandbox, tmp_path):
    """ssh hosts keep testinfra's ssh backend, with sudo only where the user changes (admin)."""
    write(tmp_path, TINY_ROLE)
    (tmp_path / "marker").write_text("localhost\n")
    inventory = sandbox_inventory(sandbox, ["host02"], extra_hosts={
        "localhost": {"ansible_connection": "local", "tiny_marker": str(tmp_path / "marker")},
        "host02-admin": {"ansible_host": sandbox.host("host02").address, "ansible_user": "admin",
                         "ansible_become": True, "tiny_marker": REMOTE_MARKER + "-admin"},
    })
    inventory["all"]["children"]["lab"]["hosts"]["host02"].update(ansible_become=True, tiny_marker=REMOTE_MARKER)
    ssh(sandbox, "host02", f"echo host02 > {REMOTE_MARKER}; echo host02-admin > {REMOTE_MARKER}-admin; rm -f {CONNECTIONS}")
    try:
        run, report = run_verify(tmp_path, inventory)
        connections = ssh(sandbox, "host02", f"cat {CONNECTIONS}").stdout.splitlines()
    finally:
        ssh(sandbox, "host02", f"rm -f {REMOTE_MARKER} {REMOTE_MARKER}-admin {CONNECTIONS}")
    # host02's three commands (as root: sudo would drop SSH_CONNECTION) came over one connection
    assert len(connections) == 3 and len(set(connections)) == 1, connections

    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("host02", "host02-admin", "localhost"):
        assert counts(report, name) == (3, 0, 0, "ok"), name


def test_two_local_hosts_are_one_machine_and_refused(tmp_path):
    write(tmp_path, TINY_ROLE)
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local"},
                                   "127.0.0.1": {"ansible_connection": "local"}}}}
    with open(tmp_path / "inventory.yaml", "w") as handle:
        yaml.safe_dump(inventory, handle)
    run = subprocess.run([PROVISION, "verify", "inventory.yaml", "site.yaml",
                          "--state-db", str(tmp_path / "history.sqlite")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "one machine" in run.stdout + run.stderr and "Traceback" not in run.stdout + run.stderr


HOSTS = """
all:
  hosts:
    local-root: {ansible_connection: local, ansible_become: true}
    local-other: {ansible_connection: local, ansible_become: true, ansible_become_user: nobody}
    ssh-root: {ansible_host: 10.0.0.1, ansible_user: root, ansible_become: true}
    ssh-admin: {ansible_host: 10.0.0.2, ansible_user: admin, ansible_become: true}
    ssh-plain: {ansible_host: 10.0.0.3, ansible_user: admin}
"""


@pytest.mark.parametrize("name, spec", [
    ("local-root", "local://"),
    ("local-other", "local://?sudo=true&sudo_user=nobody"),
    ("ssh-root", "provision://ssh-root"),  # user, key, sudo: provision.verify.backend's connection file
    ("ssh-admin", "provision://ssh-admin"),
    ("ssh-plain", "provision://ssh-plain"),
])
def test_host_specs(tmp_path, name, spec):
    """As root (the suite's user): local hosts through local://, sudo only where the user changes;
    ssh hosts through provision's own connection."""
    path = tmp_path / "hosts.yaml"
    path.write_text(HOSTS)
    assert hostspec(target_of(load_inventory(str(path)).hosts[name])) == spec


@pytest.mark.sandbox
def test_the_plays_become_is_verifys_sudo(sandbox, tmp_path):
    """The inventory logs in as admin and says nothing of sudo; the play says `become: true`, as the
    site playbook does. apply runs the role as root, so its checks run as root too."""
    write(tmp_path, TINY_ROLE)
    (tmp_path / "site.yaml").write_text("- hosts: all\n  become: true\n  roles: [tiny]\n")
    inventory = sandbox_inventory(sandbox, ["host02"])
    inventory["all"]["children"]["lab"]["hosts"]["host02"].update(ansible_user="admin", tiny_marker=REMOTE_MARKER)
    ssh(sandbox, "host02", f"echo host02 > {REMOTE_MARKER}")
    try:
        run, report = run_verify(tmp_path, inventory)
    finally:
        ssh(sandbox, "host02", f"rm -f {REMOTE_MARKER} {CONNECTIONS}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert counts(report, "host02") == (3, 0, 0, "ok"), "test_runs_as_root passed: sudo came from the play"
    (tmp_path / "site.yaml").write_text("- hosts: all\n  roles: [tiny]\n")
    ssh(sandbox, "host02", f"echo host02 > {REMOTE_MARKER}")
    try:
        run, report = run_verify(tmp_path, inventory)
    finally:
        ssh(sandbox, "host02", f"rm -f {REMOTE_MARKER} {CONNECTIONS}")
    assert run.returncode == 2 and counts(report, "host02") == (2, 1, 0, "failed"), "without become: admin"


@pytest.mark.sandbox
def test_sudo_that_fails_means_the_checks_could_not_run(sandbox, tmp_path):
    """deploy's sudo asks a password nobody gave: not a failed assertion (drift), but checks that
    could not run, which `check` reports as exit 2."""
    write(tmp_path, TINY_ROLE)
    inventory = sandbox_inventory(sandbox, ["host02"])
    inventory["all"]["children"]["lab"]["hosts"]["host02"].update(ansible_user="deploy", ansible_become=True,
                                                                   tiny_marker=REMOTE_MARKER)
    run, report = run_verify(tmp_path, inventory)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "host02" in report["verify"]["broken"] and "sudo" in report["verify"]["broken"], report["verify"]
    assert "the checks could not run" in run.stdout
    assert counts(report, "host02")[1] == 0, "no check counted as failed"

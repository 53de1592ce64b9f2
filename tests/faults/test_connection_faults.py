"""Faults between this machine and one host: sshd stopped, packets dropped, a key the host does not
take, an unknown or changed host key, the host killed mid-run, its SSH session killed mid-write.
Each time that host alone is reported unreachable with the cause named; the others converge."""
from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from tests.faults.conftest import FAULTY, HOSTS, OTHERS, answers_ssh, block, unblock, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.fault]

MARKER = "/root/fault-marker"
MARKER_PLAY = f"""
- hosts: lab
  gather_facts: false
  tasks:
    - name: marker
      copy:
        content: "{{{{ marker }}}}\\n"
        dest: {MARKER}
"""


def marker_value(request) -> str:
    """A value no earlier scenario wrote: a host has converged when its marker holds it."""
    return f"{request.node.name}-{time.time_ns()}"


def assert_markers(faults, hosts, value: str) -> None:
    for host in hosts:
        assert faults.ssh(host, f"cat {MARKER}") == value + "\n", f"{host} did not converge"


def test_sshd_stopped_before_the_run(faults, request):
    playbook, value = faults.playbook(MARKER_PLAY), marker_value(request)
    faults.ssh(FAULTY, "kill $(cat /run/sshd.pid)")  # the listener; this session ends on its own
    wait_until(lambda: not answers_ssh(faults.fleet.host(FAULTY).address, timeout=1), "sshd to stop listening")
    run = faults.apply(playbook, "-e", f"marker={value}", "-T", "5")
    assert run.code == 4, run.output
    run.error(FAULTY, "unreachable", "connection refused")
    run.assert_converged(*OTHERS)
    assert_markers(faults, OTHERS, value)

    faults.fleet.restart(FAULTY)
    again = faults.apply(playbook, "-e", f"marker={value}", "-T", "5")
    assert again.code == 0, again.output
    assert_markers(faults, HOSTS, value)


def test_connect_timeout_names_the_time_waited(faults, request):
    playbook, value = faults.playbook(MARKER_PLAY), marker_value(request)
    block(faults.fleet, FAULTY)  # the host's answers are dropped: no refusal, no reply at all
    try:
        run = faults.apply(playbook, "-e", f"marker={value}", "-T", "2")
    finally:
        unblock(faults.fleet, FAULTY)
    assert run.code == 4, run.output
    message = run.error(FAULTY, "unreachable")
    assert re.search(r"(timed out after|no answer within) 2 ?s", message), message
    run.assert_converged(*OTHERS)
    assert_markers(faults, OTHERS, value)
    again = faults.apply(playbook, "-e", f"marker={value}", "-T", "5")
    assert again.code == 0, again.output


def test_a_key_the_host_refuses_names_user_and_key(faults, request):
    playbook, value = faults.playbook(MARKER_PLAY), marker_value(request)
    wrong_key = os.path.join(faults.folder, "not-authorized")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", wrong_key], check=True)
    inventory = faults.inventory({FAULTY: {"ansible_ssh_private_key_file": wrong_key}})
    run = faults.apply(playbook, "-e", f"marker={value}", "-T", "5", inventory=inventory)
    assert run.code == 4, run.output
    run.error(FAULTY, "unreachable", "root", wrong_key)
    run.assert_converged(*OTHERS)
    assert_markers(faults, OTHERS, value)
    again = faults.apply(playbook, "-e", f"marker={value}", "-T", "5")
    assert again.code == 0, again.output


@pytest.mark.parametrize("known", ["unknown", "changed"])
def test_an_unknown_or_changed_host_key_is_refused(faults, request, known):
    playbook, value = faults.playbook(MARKER_PLAY), marker_value(request)
    known_hosts = os.path.join(faults.folder, "known_hosts")
    if known == "changed":  # the host's address with another machine's key: what an attacker would show
        other_key = os.path.join(faults.folder, "other-host-key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key], check=True)
        key_type, key = open(other_key + ".pub").read().split()[:2]
        lines = f"{faults.fleet.host(FAULTY).address} {key_type} {key}\n"
    else:
        lines = ""
    with open(known_hosts, "w") as handle:
        handle.write(lines)
    inventory = faults.inventory({FAULTY: {"provision_known_hosts_file": known_hosts}})
    expected = "CHANGED" if known == "changed" else "not in known_hosts"
    run = faults.apply(playbook, "-e", f"marker={value}", "-T", "5", inventory=inventory)
    assert run.code == 4, run.output
    run.error(FAULTY, "unreachable", expected)
    run.assert_converged(*OTHERS)
    assert_markers(faults, OTHERS, value)
    if known == "changed":  # accept-new records first-seen keys only: a changed key stays refused
        accepted = faults.apply(playbook, "-e", f"marker={value}", "-T", "5", "--accept-new-host-keys",
                                inventory=inventory)
        assert accepted.code == 4, accepted.output
        accepted.error(FAULTY, "unreachable", expected)
        assert open(known_hosts).read() == lines, "a refused key was recorded"
    else:
        assert open(known_hosts).read() == "", "a refused key was recorded"
    assert faults.ssh(FAULTY, f"cat {MARKER} 2>/dev/null || true") != value + "\n"
    again = faults.apply(playbook, "-e", f"marker={value}", "-T", "5")
    assert again.code == 0, again.output


def test_host_killed_mid_run(faults, request):
    value = marker_value(request)
    playbook = faults.playbook(f"""
        - hosts: lab
          gather_facts: false
          tasks:
            - name: a long task on {FAULTY}
              command: sleep {{{{ nap }}}}
              when: inventory_hostname == '{FAULTY}'
            - name: marker
              copy:
                content: "{{{{ marker }}}}\\n"
                dest: {MARKER}
    """)
    started = faults.start(playbook, "-e", f"marker={value}", "-e", "nap=30", "-T", "5")
    wait_until(lambda: faults.host_pids(FAULTY, r"^sleep 30$"), f"the long task to run on {FAULTY}",
               while_running=started)
    faults.fleet.host(FAULTY).stop()  # every process of the host, sshd and the task included
    run = started.finish()
    assert run.code == 4, run.output
    run.error(FAULTY, "unreachable", "connection lost")
    run.assert_converged(*OTHERS)
    assert_markers(faults, OTHERS, value)

    faults.fleet.restart(FAULTY)
    again = faults.apply(playbook, "-e", f"marker={value}", "-e", "nap=0", "-T", "5")
    assert again.code == 0, again.output
    assert_markers(faults, HOSTS, value)


def test_ssh_session_killed_mid_write(faults, big_copy):
    """The per-connection sshd on one host dies while a large file is being written there."""
    started = faults.start(big_copy.playbook, "-T", "5")
    wait_until(lambda: faults.temp_files(FAULTY, big_copy.folder), f"the write to start on {FAULTY}",
               while_running=started)
    faults.kill(faults.host_pids(FAULTY, r"^sshd: root"))
    run = started.finish()
    assert run.code == 4, run.output
    message = run.error(FAULTY, "unreachable", "connection lost")
    assert re.search(r"connection lost\W+\w", message), f"no cause after 'connection lost': {message!r}"
    run.assert_converged(*OTHERS)
    for host in OTHERS:
        big_copy.assert_new(host)
    wait_until(lambda: not faults.temp_files(FAULTY, big_copy.folder), f"{FAULTY}'s temp file to be removed",
               timeout=30)
    assert faults.sha1(FAULTY, big_copy.dest) == big_copy.old_sha1, "the destination was half-written"

    again = faults.apply(big_copy.playbook, "-T", "5")
    assert again.code == 0, again.output
    for host in HOSTS:
        big_copy.assert_new(host)

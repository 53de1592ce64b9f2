"""Faults on one host while the others run normally: the dpkg lock held by another process, a full
disk, an apt repository nobody answers for, a reboot that never comes back, a slow host, a wrong
sudo password. That host alone fails, with the cause named; the others converge; a re-run with the
fault removed converges."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest

from provision.sandbox.image import SANDBOX_PASSWORD
from tests.faults.conftest import FAULTY, HOSTS, OTHERS, wait_until
from tests.support.aptrepo import AptRepo

pytestmark = [pytest.mark.sandbox, pytest.mark.fault]


# ---- apt: a local repository of fake packages ----------------------------------------------------

HOLDER_STARTED = "/tmp/fault-lock-holder-started"
HOLDER_RELEASE = "/tmp/fault-lock-holder-release"


@pytest.fixture(scope="module")
def repo(fleet):
    with AptRepo(fleet.gateway) as repository:
        repository.add("fault-hello", "1.0")
        repository.add("fault-other", "1.0")
        # dpkg holds its lock while a preinst runs: this one runs until the test releases it (60 s at most)
        repository.add("fault-lock-holder", "1.0", preinst=(
            f"touch {HOLDER_STARTED}; i=0\n"
            f"while [ ! -e {HOLDER_RELEASE} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"))
        repository.publish()
        yield repository


def use_repository(source_line: str, update: bool = True) -> str:
    """Shell text: the host's apt reads only `source_line` (the hosts have no way out), its index
    refreshed when `update`."""
    command = f"rm -f /etc/apt/sources.list.d/* && echo '{source_line}' > /etc/apt/sources.list"
    return command + (" && apt-get -q update >/dev/null 2>&1" if update else "")


def installed(faults, host: str, package: str) -> bool:
    status = faults.ssh(host, f"dpkg-query -W -f='${{Status}}' {package} 2>/dev/null || true")
    return status == "install ok installed"


APT_PLAY = """
- hosts: lab
  gather_facts: false
  vars:
    refresh: false
    lock_timeout: 120
  tasks:
    - name: the package
      apt:
        name: "{{ package }}"
        update_cache: "{{ refresh }}"
        lock_timeout: "{{ lock_timeout }}"
"""


def test_dpkg_lock_held_by_another_process(faults, repo):
    faults.ssh_each({host: f"dpkg --purge fault-hello fault-lock-holder >/dev/null 2>&1; rm -f {HOLDER_STARTED} "
                           f"{HOLDER_RELEASE}; " + use_repository(repo.source_line()) for host in HOSTS})
    playbook = faults.playbook(APT_PLAY)
    holder = subprocess.Popen(["ssh", "-F", faults.fleet.ssh_config_path, FAULTY,
                               "DEBIAN_FRONTEND=noninteractive apt-get install -y -q fault-lock-holder"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(faults.upper(FAULTY, HOLDER_STARTED)), "another apt to hold the dpkg lock")
        # a short lock_timeout: that host fails, naming the lock; the others install
        impatient = faults.apply(playbook, "-e", "package=fault-hello", "-e", "lock_timeout=1")
        assert impatient.code == 2, impatient.output
        impatient.error(FAULTY, "failed", "held the dpkg lock for more than 1s")
        impatient.assert_converged(*OTHERS)
        assert all(installed(faults, host, "fault-hello") for host in OTHERS)
        assert not installed(faults, FAULTY, "fault-hello")

        # the default lock_timeout: apt waits for the other process, then installs
        patient = faults.start(playbook, "-e", "package=fault-hello")
        wait_until(lambda: faults.host_pids(FAULTY, r"apt-get .*install fault-hello"),
                   f"provision's apt-get to wait for the lock on {FAULTY}", while_running=patient)
        assert patient.running() and holder.poll() is None
        faults.ssh(FAULTY, f"touch {HOLDER_RELEASE}")
        run = patient.finish()
    finally:
        faults.ssh(FAULTY, f"touch {HOLDER_RELEASE}")
        holder.wait(timeout=60)
    assert run.code == 0, run.output
    assert [row["status"] for row in run.results(FAULTY)] == ["changed"]
    assert installed(faults, FAULTY, "fault-hello") and installed(faults, FAULTY, "fault-lock-holder")


def test_repository_unreachable(faults, repo):
    dead = "http://127.0.0.1:9/"  # the host's own loopback, where nothing listens
    no_retries = "/etc/apt/apt.conf.d/99fault-no-retries"  # apt would retry the dead address 3 times
    faults.ssh_each({
        **{host: use_repository(repo.source_line(), update=False) for host in OTHERS},
        FAULTY: f"dpkg --purge fault-other >/dev/null 2>&1; echo 'Acquire::Retries \"0\";' > {no_retries}; "
                + use_repository(f"deb [trusted=yes] {dead} stable main", update=False)})
    playbook = faults.playbook(APT_PLAY)
    run = faults.apply(playbook, "-e", "package=fault-other", "-e", "refresh=true")
    assert run.code == 2, run.output
    message = run.error(FAULTY, "failed", "fault-other", dead.rstrip("/"))
    assert "connection refused" in message.lower(), "the fetch error is named"
    run.assert_converged(*OTHERS)
    assert all(installed(faults, host, "fault-other") for host in OTHERS)

    faults.ssh(FAULTY, f"rm {no_retries}; " + use_repository(repo.source_line(), update=False))
    again = faults.apply(playbook, "-e", "package=fault-other", "-e", "refresh=true")
    assert again.code == 0, again.output
    assert installed(faults, FAULTY, "fault-other")


# ---- files ----------------------------------------------------------------------------------------

FULL = "/srv/fault-full"


def test_disk_full(faults):
    new = os.urandom(256 * 1024)
    source = faults.file("new.bin", new)
    old = "the old content\n"
    faults.ssh_each({
        **{host: f"mkdir -p {FULL} && printf '{old}' > {FULL}/data" for host in OTHERS},
        # a small filesystem over the folder on one host, filled to the last block
        FAULTY: f"rm -rf {FULL} && mkdir -p {FULL} && mount -t tmpfs -o size=1m tmpfs {FULL} && "
                f"printf '{old}' > {FULL}/data && (dd if=/dev/zero of={FULL}/filler bs=4k 2>/dev/null; true)"})
    old_sha1 = faults.sha1(OTHERS[0], f"{FULL}/data")
    playbook = faults.playbook(f"""
        - hosts: lab
          gather_facts: false
          tasks:
            - name: a file larger than the free space
              copy:
                src: {source}
                dest: {FULL}/data
    """)
    try:
        run = faults.apply(playbook)
        assert run.code == 2, run.output
        run.error(FAULTY, "failed", "No space left on device")
        assert faults.sha1(FAULTY, f"{FULL}/data") == old_sha1, "the old file was damaged"
        assert faults.listing(FAULTY, FULL) == ["data", "filler"], "a temp file was left on the full disk"
        run.assert_converged(*OTHERS)
        new_sha1 = faults.sha1(OTHERS[0], f"{FULL}/data")
        assert new_sha1 != old_sha1 and faults.sha1(OTHERS[1], f"{FULL}/data") == new_sha1

        faults.ssh(FAULTY, f"rm {FULL}/filler")
        again = faults.apply(playbook)
        assert again.code == 0, again.output
        assert faults.sha1(FAULTY, f"{FULL}/data") == new_sha1
        assert faults.listing(FAULTY, FULL) == ["data"]
    finally:
        faults.ssh(FAULTY, f"umount {FULL}", check=False)


# ---- a reboot that never comes back ---------------------------------------------------------------

REBOOT_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - name: reboot
      reboot:
        reboot_command: "{{ fault_reboot_command }}"
        reboot_timeout: "{{ fault_reboot_timeout }}"
    - name: after the reboot
      copy:
        content: "{{ marker }}\\n"
        dest: /root/fault-after-reboot
"""


def test_reboot_that_never_returns(faults, request):
    marker = f"{request.node.name}-{os.getpid()}-{id(faults)}"
    playbook = faults.playbook(REBOOT_PLAY)
    # busybox's poweroff ends the host for good (its supervisor restarts it only after a reboot)
    usual = {"fault_reboot_command": "reboot", "fault_reboot_timeout": 60}
    inventory = faults.inventory({FAULTY: {"fault_reboot_command": "busybox poweroff -f", "fault_reboot_timeout": 3}},
                                 **usual)
    run = faults.apply(playbook, "-e", f"marker={marker}", "-T", "5", inventory=inventory)
    assert run.code == 2, run.output
    run.error(FAULTY, "failed", "did not come back as a new boot within 3s")
    assert not faults.fleet.host(FAULTY).alive()
    run.assert_converged(*OTHERS)
    for host in OTHERS:
        assert faults.ssh(host, "cat /root/fault-after-reboot") == marker + "\n"

    faults.fleet.restart(FAULTY)  # someone powered it on again
    again = faults.apply(playbook, "-e", f"marker={marker}", "-T", "5", "--limit", FAULTY,
                         inventory=faults.inventory(name="fixed.yaml", **usual))
    assert again.code == 0, again.output
    assert faults.ssh(FAULTY, "cat /root/fault-after-reboot") == marker + "\n"


# ---- a slow host ------------------------------------------------------------------------------------

def test_a_slow_host_does_not_hold_back_the_others(faults, request):
    """The slow host's task ends only once the test has seen the others finish every task, so the
    order is proven by the run itself, not by timings."""
    release = "/tmp/fault-slow-release"
    marker = f"{request.node.name}-{os.getpid()}-{id(faults)}"
    faults.ssh_each({host: f"rm -f {release} /root/fault-slow-*" for host in HOSTS})
    playbook = faults.playbook(f"""
        - hosts: lab
          gather_facts: false
          tasks:
            - name: slow on {FAULTY}
              shell: "i=0; while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e {release} ]"
              when: inventory_hostname == '{FAULTY}'
            - copy: {{content: "{{{{ marker }}}}\\n", dest: /root/fault-slow-1}}
            - copy: {{content: "{{{{ marker }}}}\\n", dest: /root/fault-slow-2}}
    """)
    started = faults.start(playbook, "-e", f"marker={marker}")
    try:
        wait_until(lambda: all(os.path.exists(faults.upper(host, "/root/fault-slow-2")) for host in OTHERS),
                   "the other hosts to finish", while_running=started)
        assert started.running(), "the run ended before the slow host was let go"
    finally:
        faults.ssh(FAULTY, f"touch {release}")
    run = started.finish()
    assert run.code == 0, run.output
    order = [(row["host"], row["task"]) for row in run.report["results"]]
    slow = order.index((FAULTY, f"slow on {FAULTY}"))
    for host in OTHERS:
        last = max(index for index, (name, _) in enumerate(order) if name == host)
        assert last < slow, f"{host} finished after the slow host's task: {order}"
    for host in HOSTS:
        assert faults.ssh(host, "cat /root/fault-slow-2") == marker + "\n"


# ---- a wrong sudo password ------------------------------------------------------------------------

def test_wrong_sudo_password(faults, request):
    wrong = "wr0ng-Passw0rd-for-fault-test"
    marker = f"{request.node.name}-{os.getpid()}-{id(faults)}"
    playbook = faults.playbook("""
        - hosts: lab
          gather_facts: false
          become: true
          tasks:
            - name: root's file
              copy:
                content: "{{ marker }}\\n"
                dest: /root/fault-sudo
                mode: "0600"
    """)
    right = {"ansible_become_password": SANDBOX_PASSWORD}
    inventory = faults.inventory({FAULTY: {"ansible_become_password": wrong}, **{host: right for host in OTHERS}},
                                 ansible_user="deploy")
    run = faults.apply(playbook, "-e", f"marker={marker}", inventory=inventory)
    assert run.code == 2, run.output
    run.error(FAULTY, "failed", "sudo rejected the become password")
    run.assert_converged(*OTHERS)
    for host in OTHERS:
        assert faults.ssh(host, "cat /root/fault-sudo") == marker + "\n"
    assert wrong not in run.output, "the password was printed"
    assert wrong not in open(run.report_path).read(), "the password is in the JSON report"
    stored = b"".join(open(path, "rb").read() for path in (faults.history, faults.history + "-wal")
                      if os.path.exists(path))
    connection = sqlite3.connect(faults.history)
    dumped = "\n".join(connection.iterdump())
    connection.close()
    assert wrong.encode() not in stored and wrong not in dumped, "the password is in the history"
    assert json.dumps(wrong) not in json.dumps(run.report)

    fixed = faults.inventory({host: right for host in HOSTS}, ansible_user="deploy", name="fixed.yaml")
    again = faults.apply(playbook, "-e", f"marker={marker}", inventory=fixed)
    assert again.code == 0, again.output
    assert faults.ssh(FAULTY, "cat /root/fault-sudo") == marker + "\n"

"""Faults of the machine running provision: SIGKILL during a large write, Ctrl-C once and twice,
a report written under a strict umask, and the noise a rebooting host may cause. Files on the
hosts are never half-written, the report and history say what happened, a re-run converges."""
from __future__ import annotations

import os
import signal
import stat
import subprocess

import pytest

from tests.engine.scenario import PROVISION
from tests.faults.conftest import FAULTY, HOSTS, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.fault]


def test_controller_killed_during_a_large_write(faults, big_copy):
    started = faults.start(big_copy.playbook, "-T", "5")
    wait_until(lambda: faults.temp_files(FAULTY, big_copy.folder), f"the write to start on {FAULTY}",
               while_running=started)
    started.send(signal.SIGKILL)
    run = started.finish()
    assert run.code == -signal.SIGKILL and run.report is None
    for host in HOSTS:
        # the remote side may take a moment to see the connection gone and clean up
        wait_until(lambda: not faults.temp_files(host, big_copy.folder), f"{host}'s temp file to be removed",
                   timeout=30)
        big_copy.assert_intact(host)  # old, or new if all of it had arrived: never a part
    # caught right after its write began: all of the old content stays
    assert big_copy.assert_intact(FAULTY) == "old", f"{FAULTY}: the old content was not kept"

    assert [row["status"] for row in faults.history_runs()] == ["running"]  # as the killed process left it
    shown = subprocess.run([PROVISION, "history", "--state-db", faults.history], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert [row["status"] for row in faults.history_runs()] == ["incomplete"], "the next command closes the dead run"

    again = faults.apply(big_copy.playbook, "-T", "5")
    assert again.code == 0, again.output
    for host in HOSTS:
        big_copy.assert_new(host)


@pytest.mark.parametrize("presses", [1, 2])
def test_interrupted_during_a_large_write(faults, big_copy, presses):
    started = faults.start(big_copy.playbook, "-T", "5")
    wait_until(lambda: faults.temp_files(FAULTY, big_copy.folder), f"the write to start on {FAULTY}",
               while_running=started)
    started.send(signal.SIGINT)
    # A temp file still there after the press means the write was in flight when Ctrl-C came. On an
    # idle machine a write seen starting can end before the press arrives; then the host may rightly
    # have gone on to the next task, and the property below is not what this run shows.
    in_flight = bool(faults.temp_files(FAULTY, big_copy.folder))
    for _ in range(presses - 1):
        started.send(signal.SIGINT)  # a second Ctrl-C in quick succession
    run = started.finish()
    assert run.code == 130, run.output
    assert run.report is not None, f"no JSON report after Ctrl-C:\n{run.output[-3000:]}"
    assert run.report["exit_code"] == 130 and run.report["interrupted"] is True
    assert "Traceback" not in run.output, run.output
    history = faults.history_runs()
    assert [(row["status"], row["exit_code"]) for row in history] == [("interrupted", 130)]
    for host in HOSTS:
        wait_until(lambda: not faults.temp_files(host, big_copy.folder), f"{host}'s temp file to be removed",
                   timeout=30)
        big_copy.assert_intact(host)
    if not in_flight:
        pytest.skip(f"the write on {FAULTY} ended before Ctrl-C arrived: nothing was in flight to check")
    if presses == 1:  # tasks in flight finish
        assert big_copy.assert_intact(FAULTY) == "new", f"{FAULTY}: the write in flight did not finish"
    # no new task starts after Ctrl-C: the host whose write was in flight never reached the next one
    assert faults.ssh(FAULTY, f"test -e {big_copy.after} && echo yes || echo no").strip() == "no"

    again = faults.apply(big_copy.playbook, "-T", "5")
    assert again.code == 0, again.output
    for host in HOSTS:
        big_copy.assert_new(host)


PING_PLAY = """
- hosts: lab
  gather_facts: false
  tasks:
    - ping:
"""


@pytest.mark.parametrize("umask, mode", [(0o077, 0o600), (0o022, 0o644)])
def test_the_json_report_honours_the_umask(faults, umask, mode):
    run = faults.apply(faults.playbook(PING_PLAY), umask=umask)
    assert run.code == 0, run.output
    assert stat.S_IMODE(os.stat(run.report_path).st_mode) == mode


def test_a_rebooting_fleet_prints_no_library_noise(faults):
    playbook = faults.playbook("""
        - hosts: lab
          gather_facts: false
          tasks:
            - reboot:
                reboot_timeout: 60
            - ping:
    """)
    run = faults.apply(playbook, "-T", "5", process=True)
    assert run.code == 0, run.output
    assert all(row["output"].get("rebooted") for row in run.report["results"] if row["module"] == "reboot")
    for noise in ("Traceback", "paramiko", "Error reading SSH protocol banner"):
        assert noise not in run.output, f"{noise!r} printed:\n{run.output}"

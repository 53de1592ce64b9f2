"""`down` on a loaded machine: up/down cycles while CPU burners and fork loops keep both cores busy
must leave no cgroup, no process and no network namespace of the sandbox behind.

What made `down` leak on a loaded CI runner: a killed multi-threaded daemon (dockerd, containerd)
whose leader thread has exited while its other threads are still exiting shows as a zombie in
/proc, yet it still holds its cgroups. Each host here gets a stand-in for one that stays in that
state (its leader gone, one thread sleeping), so a `down` that takes "zombie" for "gone" fails
every time, not only when the race is lost. One host also gets a process, in a cgroup below its
own as a container's is, that takes a second and a half to go once killed (the v1 freezer holds
it): a `down` that does not wait for the host's cgroups to empty leaves them behind.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from provision.errors import SandboxError
from provision.sandbox import Sandbox
from provision.sandbox import system
from tests.conftest import ssh

pytestmark = pytest.mark.sandbox

# A daemon caught while dying: the leader thread has exited (so /proc shows a zombie), one more
# thread still runs. ctypes releases the GIL around the call, so the other thread carries on.
DYING_DAEMON = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(600,)).start()
ctypes.CDLL(None).pthread_exit(None)
"""
LOAD = [[sys.executable, "-c", "while True: pass"]] * 2 + [["/bin/sh", "-c", "while :; do /bin/true; done"]] * 2


@contextmanager
def _busy_machine():
    """Both cores busy computing and forking, for as long as the block runs."""
    processes = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for argv in LOAD]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def _entering(cgroups: list[str]):
    """A preexec_fn that puts the new process into these cgroups."""
    def enter() -> None:
        for directory in cgroups:
            with open(os.path.join(directory, "cgroup.procs"), "w") as handle:
                handle.write(str(os.getpid()))
    return enter


def _start_dying_daemon(sandbox: Sandbox, host: str) -> subprocess.Popen:
    """The stand-in, placed in the host's cgroups (as a process the host started would be)."""
    cgroups = system.cgroup_dirs(sandbox.name, host)
    process = subprocess.Popen([sys.executable, "-c", DYING_DAEMON], preexec_fn=_entering(cgroups))
    deadline = time.monotonic() + 10
    while _stat(process.pid)[:2] != ("Z", "2"):
        assert time.monotonic() < deadline, f"the stand-in did not reach its state: {_stat(process.pid)}"
        time.sleep(0.02)
    return process


def _start_slow_to_die(sandbox: Sandbox, host: str, seconds: float = 1.5) -> tuple[subprocess.Popen, threading.Timer]:
    """A process in a cgroup below the host's, frozen: killed, it goes only once the returned
    timer (to start as `down` begins) thaws it."""
    cgroups = [os.path.join(directory, "slow") for directory in system.cgroup_dirs(sandbox.name, host)]
    system.create_cgroups(cgroups)
    freezer = next(directory for directory in cgroups if directory.startswith("/sys/fs/cgroup/freezer/"))

    def thaw() -> None:
        with open(os.path.join(freezer, "freezer.state"), "w") as handle:
            handle.write("THAWED")

    process = subprocess.Popen(["sleep", "600"], preexec_fn=_entering(cgroups))
    with open(os.path.join(freezer, "freezer.state"), "w") as handle:
        handle.write("FROZEN")
    return process, threading.Timer(seconds, thaw)


def _stat(pid: int) -> tuple[str, str, str]:
    """(state, threads, start time) of a process; () when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return ()
    return fields[0], fields[17], fields[19]


def _processes(sandbox: Sandbox) -> dict[int, str]:
    """Every process of the sandbox now, with its start time (PIDs are reused on a busy machine)."""
    pids = system.cgroup_pids(system.sandbox_cgroup_dirs(sandbox.name))
    pids |= {host.supervisor_pid for host in sandbox.hosts} | {sandbox.registry_pid, sandbox.standin_pid}
    return {pid: _stat(pid)[2] for pid in pids - {0} if _stat(pid)}


def _leftovers(sandbox: Sandbox, processes: dict[int, str]) -> list[str]:
    found = [f"cgroup {root}/provision/{sandbox.name}" for root in system.CGROUP_ROOTS
             if os.path.exists(os.path.join(root, "provision", sandbox.name))]
    for pid, started in processes.items():
        stat = _stat(pid)
        # a zombie whose every thread has exited holds nothing: only its parent's reaping is due
        if stat and stat[2] == started and stat[:2] != ("Z", "1"):
            found.append(f"process {system.describe(pid)}")
    if not os.path.exists(f"/sys/class/net/{sandbox.bridge}"):  # else another run took the index
        found += [f"netns {host.netns}" for host in sandbox.hosts if os.path.exists(f"/run/netns/{host.netns}")]
    return found


def test_up_down_cycles_on_a_loaded_machine_leave_nothing_behind():
    cycles = [("plain", 2), ("docker", 1), ("docker", 1)]
    with _busy_machine():
        for number, (kind, hosts) in enumerate(cycles):
            assert _cycle(f"pt{os.getpid()}xld{number}", kind, hosts, slow=number == 0) == [], \
                f"cycle {number + 1} ({kind})"


def _cycle(name: str, kind: str, hosts: int, slow: bool) -> list[str]:
    """One up and down, with the stand-ins in its hosts; what `down` left behind."""
    fleet = Sandbox.up(name, hosts=hosts, kind=kind, pytorch_image=False, log=lambda text: None)
    stand_ins, thaw = [], None
    try:
        try:
            for host in fleet.hosts:
                stand_ins.append(_start_dying_daemon(fleet, host.name))
            if slow and os.path.isdir("/sys/fs/cgroup/freezer"):
                process, thaw = _start_slow_to_die(fleet, "host01")
                stand_ins.append(process)
            if kind == "docker":
                # dockerd and containerd: the multi-threaded daemons the CI run leaked
                assert ssh(fleet, "host01", "docker info -f '{{.Driver}}'").stdout.strip() == "overlay2"
            processes = _processes(fleet)
        finally:
            if thaw:
                thaw.start()
            fleet.down()
        for process in stand_ins:
            process.poll()  # reaps it once `down` killed it (it is this process's child)
        return _leftovers(fleet, processes)
    finally:
        if thaw:
            thaw.join()
        for process in stand_ins:  # whatever `down` did, none outlives the test
            process.kill()
            process.wait()


def test_down_names_the_cgroup_and_the_processes_that_will_not_go():
    """A process that cannot die (here: frozen by the v1 freezer) is named with its cgroups."""
    if not os.path.isdir("/sys/fs/cgroup/freezer"):
        pytest.skip("this machine has no cgroup v1 freezer to hold a process")
    cgroups = system.cgroup_dirs(f"pt{os.getpid()}xfz", "stuck")
    system.create_cgroups(cgroups)
    freezer = next(directory for directory in cgroups if directory.startswith("/sys/fs/cgroup/freezer/"))
    process = subprocess.Popen(["sleep", "600"], preexec_fn=_entering(cgroups))
    try:
        with open(os.path.join(freezer, "freezer.state"), "w") as handle:
            handle.write("FROZEN")
        with pytest.raises(SandboxError) as raised:
            system.remove_cgroups(cgroups, timeout=0.3)
        stuck = str(raised.value).splitlines()[1].strip()  # one line, every hierarchy it is in
        assert stuck.startswith("/sys/fs/cgroup/{") and ",freezer," in stuck
        assert stuck.endswith(f"}}/provision/pt{os.getpid()}xfz/stuck: {process.pid} sleep (state D)")
    finally:
        with open(os.path.join(freezer, "freezer.state"), "w") as handle:
            handle.write("THAWED")
        system.remove_sandbox_cgroups(f"pt{os.getpid()}xfz")
        process.wait()
    assert not any(os.path.exists(directory) for directory in cgroups)


def test_up_clears_what_a_crashed_run_of_the_same_name_left_in_its_cgroups():
    name = f"pt{os.getpid()}xcr"
    cgroups = system.cgroup_dirs(name, "host01")
    system.create_cgroups(cgroups)
    orphan = subprocess.Popen(["sleep", "600"], preexec_fn=_entering(cgroups))  # no state file names it
    try:
        fleet = Sandbox.up(name, hosts=1, log=lambda text: None)
        try:
            assert orphan.wait(timeout=5) == -9, "the new host01 must not share its cgroups with it"
        finally:
            fleet.down()
    finally:
        orphan.kill()
        orphan.wait()
    assert not any(os.path.exists(directory) for directory in system.sandbox_cgroup_dirs(name))

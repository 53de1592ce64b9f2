"""What the sandbox needs from this machine, and the few system calls it makes through commands.

Checked up front so a user gets one message naming everything missing, not a stack of failures.
"""
from __future__ import annotations

from contextlib import contextmanager

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time

from provision.errors import SandboxError

# Every host gets its own cgroup in each hierarchy this machine mounts, and a cgroup namespace
# rooted there: whatever a host makes below it (dockerd's containers, systemd's units) stays under
# the host's own folder, where `down` finds and kills it.
CGROUP_ROOTS = tuple(f"/sys/fs/cgroup/{name}" for name in (
    "pids", "memory", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "systemd", "unified"))
# Capabilities no sandbox host keeps: with them a host could load kernel modules, set the clock,
# read raw I/O ports or the kernel log of this machine, or create device nodes for its disks.
DROPPED_CAPS = ("sys_module", "sys_time", "sys_rawio", "syslog", "mac_admin", "mac_override",
                "wake_alarm", "block_suspend", "sys_pacct", "mknod", "audit_control", "bpf", "perfmon")


def check_requirements() -> None:
    missing = []
    if not sys.platform.startswith("linux"):
        raise SandboxError("the sandbox needs Linux (namespaces and overlayfs); this is " + sys.platform)
    if os.geteuid() != 0:
        missing.append("root: run as root (sudo provision sandbox ...)")
    else:
        with open("/proc/self/status") as handle:
            effective = next(int(line.split()[1], 16) for line in handle if line.startswith("CapEff:"))
        if not effective & (1 << 21):
            missing.append("CAP_SYS_ADMIN: this process lacks it (in a container, run it privileged)")
    with open("/proc/filesystems") as handle:
        if "overlay" not in handle.read():
            missing.append("overlayfs: the kernel lacks it (modprobe overlay)")
    for tool, package in (("debootstrap", "debootstrap"), ("unshare", "util-linux"),
                          ("nsenter", "util-linux"), ("ip", "iproute2"), ("ssh-keygen", "openssh-client")):
        if shutil.which(tool) is None:
            missing.append(f"{tool}: apt-get install {package}")
    if missing:
        raise SandboxError("the sandbox cannot start; missing:\n  - " + "\n  - ".join(missing))


def check_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise SandboxError(f"the sandbox cannot start; missing:\n  - {tool}: apt-get install {package}")


INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"
# The root network namespace keeps one ARP entry per host it talks to, all sandboxes together; past
# gc_thresh3 (1,024 by default) a new one is refused ("neighbour table overflow") and SSH to that
# host fails. Below gc_thresh1 no entry is ever collected.
NEIGHBOUR_THRESHOLDS = tuple(f"/proc/sys/net/ipv4/neigh/default/gc_thresh{level}" for level in (1, 2, 3))


def raise_inotify_instances(needed: int, state_root: str) -> None:
    """systemd hosts each hold several inotify instances, all counted against root: raise the
    limit for them, remembering this machine's own value once so the last `down` restores it."""
    original = remember_setting(INOTIFY_LIMIT, state_root)
    if read_setting(INOTIFY_LIMIT) < original + needed:
        _write(INOTIFY_LIMIT, str(original + needed))


def restore_inotify_instances(state_root: str, still_needed: bool) -> None:
    if not still_needed:
        restore_setting(INOTIFY_LIMIT, state_root)


def raise_neighbour_thresholds(neighbours: int, state_root: str) -> None:
    """Make room for `neighbours` more ARP entries than this machine's own thresholds allow, so
    every host of every sandbox stays reachable; remembered once, restored by
    restore_neighbour_thresholds."""
    for path in NEIGHBOUR_THRESHOLDS:
        wanted = remember_setting(path, state_root) + neighbours
        if read_setting(path) < wanted:
            _write(path, str(wanted))


def restore_neighbour_thresholds(state_root: str) -> None:
    for path in NEIGHBOUR_THRESHOLDS:
        restore_setting(path, state_root)


def read_setting(path: str) -> int:
    with open(path) as handle:
        return int(handle.read())


def remember_setting(path: str, state_root: str) -> int:
    """This machine's own value of a kernel setting: saved the first time a sandbox raises it,
    read back from there while it stays raised (the live value is ours by then)."""
    saved = _saved_setting(path, state_root)
    if not os.path.exists(saved):
        os.makedirs(state_root, exist_ok=True)
        with open(saved, "w") as handle:
            handle.write(str(read_setting(path)))
    with open(saved) as handle:
        return int(handle.read())


def restore_setting(path: str, state_root: str) -> None:
    """Put back the value remember_setting saved, if a sandbox raised it."""
    saved = _saved_setting(path, state_root)
    if not os.path.exists(saved):
        return
    with open(saved) as handle:
        _write(path, handle.read().strip())
    os.remove(saved)


def _saved_setting(path: str, state_root: str) -> str:
    """`.inotify-max-user-instances`, `.default-gc-thresh1`: named by the last two parts of its path."""
    return os.path.join(state_root, "." + "-".join(path.split("/")[-2:]).replace("_", "-"))


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def ip_batch(lines: list[str], netns: str = "", check: bool = True) -> subprocess.CompletedProcess:
    """Run `ip` commands, one a line, in one `ip -batch` process (in network namespace `netns` if
    given): a sandbox of 1,000 hosts needs thousands of them, and a process each costs seconds.
    Every line is tried (`-force`); with `check`, any that failed raises, naming them."""
    argv = ["ip", *(["-n", netns] if netns else []), "-force", "-batch", "-"]
    result = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def cgroup_dirs(sandbox: str, host: str) -> list[str]:
    return [os.path.join(root, "provision", sandbox, host) for root in CGROUP_ROOTS if os.path.isdir(root)]


def create_cgroups(directories: list[str], device_allow: tuple[str, ...] | None = None) -> None:
    """Make the host's cgroups; with `device_allow`, its devices cgroup opens only those devices."""
    for directory in directories:
        _make_cgroup(directory)
        if device_allow is not None and os.path.exists(os.path.join(directory, "devices.deny")):
            _write(os.path.join(directory, "devices.deny"), "a")
            for rule in device_allow:
                _write(os.path.join(directory, "devices.allow"), rule)


def _make_cgroup(directory: str) -> None:
    """mkdir -p, but a new cpuset cgroup starts with no CPUs: copy its parent's, level by level.

    Hosts are made by several threads at once, so a folder another thread has just made (or a
    parent it made and has not filled yet) must be filled here too: each level's cpuset is checked
    and filled whoever made it; writing the same value twice is harmless. (Missed, a host's
    supervisor cannot enter an empty cpuset, and its start fails.)

    Another sandbox's `down` removes `provision/` the moment it is empty, maybe between our
    making it and making our folder in it: then make it again."""
    parent = os.path.dirname(directory)
    for _ in range(10):
        if not os.path.isdir(parent):
            _make_cgroup(parent)
        try:
            os.mkdir(directory)
            break
        except FileExistsError:
            break
        except FileNotFoundError:
            continue
    else:
        raise SandboxError(f"cannot make cgroup {directory}: {parent} keeps disappearing")
    _fill_cpuset(directory)


def _fill_cpuset(directory: str) -> None:
    """An empty cpuset.cpus/cpuset.mems takes its parent's (the parent filled first)."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            return
        with open(path) as handle:
            if handle.read().strip():
                continue
        parent = os.path.dirname(directory)
        with open(os.path.join(parent, name)) as handle:
            value = handle.read().strip()
        if not value:
            _fill_cpuset(parent)
            with open(os.path.join(parent, name)) as handle:
                value = handle.read().strip()
        _write(path, value)


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as error:
        raise SandboxError(f"cannot write {value!r} to {path}: {error.strerror}") from None


def sandbox_cgroup_dirs(sandbox: str) -> list[str]:
    """The sandbox's own cgroup in each hierarchy: its hosts', registry's and proxy's are below."""
    return [os.path.join(root, "provision", sandbox) for root in CGROUP_ROOTS if os.path.isdir(root)]


def cgroup_pids(directories: list[str]) -> set[int]:
    """PIDs in these cgroups and in every cgroup below them (a host's containers, its units).

    A thread-group leader that has exited while its other threads still run is listed (and keeps
    the cgroup busy) although /proc shows it as a zombie: take the list as it is."""
    pids: set[int] = set()
    for directory in directories:
        for folder, _, files in os.walk(directory):
            if "cgroup.procs" not in files:
                continue
            try:
                with open(os.path.join(folder, "cgroup.procs")) as handle:
                    pids.update(int(line) for line in handle if line.strip())
            except FileNotFoundError:
                pass
    return pids


def patience(seconds: float) -> float:
    """`seconds` on an idle machine, up to six times that on a loaded one: a killed process needs
    CPU time to exit (a Go daemon's threads each run their own exit), and a busy CI runner has little."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * min(max(load, 1.0), 6.0)


def remove_cgroups(directories: list[str], timeout: float = 10.0) -> None:
    """Kill every process in these cgroups and below, wait until they are empty, remove them.

    Processes keep being killed while we wait: one may fork late (containerd starting a shim) and
    its child lands in the cgroup after the first round. rmdir is retried until the kernel lets
    go (EBUSY while a dying process is still linked). Raises naming each cgroup that stays and
    the processes still in it, rather than leaving them silently."""
    directories = [directory for directory in directories if os.path.isdir(directory)]
    waited = patience(timeout)
    deadline = time.monotonic() + waited
    while True:
        _kill_cgroups(directories)
        failures = {}
        for directory in directories:
            for folder, _, _ in os.walk(directory, topdown=False):
                try:
                    os.rmdir(folder)  # cgroup folders go with rmdir alone, deepest first
                except FileNotFoundError:
                    pass
                except OSError as error:
                    failures[folder] = error.strerror
        if not failures:
            return
        if time.monotonic() > deadline:
            raise SandboxError(f"cgroups still in use after {waited:.0f}s:\n    " + _stuck_report(failures))
        time.sleep(0.05)


def remove_sandbox_cgroups(sandbox: str, timeout: float = 10.0) -> None:
    """Remove the sandbox's cgroup in every hierarchy with whatever is still below it (what a
    crashed run left), then `provision/` above it once no other sandbox has one there."""
    directories = sandbox_cgroup_dirs(sandbox)
    remove_cgroups(directories, timeout)
    for directory in directories:
        try:
            os.rmdir(os.path.dirname(directory))
        except OSError:
            pass  # other sandboxes still have theirs there


def _kill_cgroups(directories: list[str]) -> None:
    """SIGKILL everything in these cgroups: cgroup.kill where the kernel has it (cgroup v2, Linux
    5.14+; it kills a whole subtree, forks in flight included), then each listed PID by signal,
    for the v1 hierarchies and for a process that sits in some hierarchies only."""
    for directory in directories:
        try:
            with open(os.path.join(directory, "cgroup.kill"), "w") as handle:
                handle.write("1")
        except OSError:
            pass  # no cgroup.kill (v1, older kernel) or the cgroup is gone already
    for pid in cgroup_pids(directories):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stuck_report(failures: dict[str, str]) -> str:
    """One line per cgroup that stays, its hierarchies merged, with what is still in it:
    `/sys/fs/cgroup/{pids,memory}/provision/x/host01: 12 sshd (state D)`."""
    deepest = [folder for folder in failures if not any(other.startswith(folder + "/") for other in failures)]
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for folder in deepest:
        root = next((root for root in CGROUP_ROOTS if folder.startswith(root + "/")), os.path.dirname(folder))
        pids = sorted(cgroup_pids([folder]))
        inside = ", ".join(describe(pid) for pid in pids) or f"no process in it, yet rmdir says {failures[folder]!r}"
        key = (os.path.dirname(root), os.path.relpath(folder, root), inside)
        grouped.setdefault(key, []).append(os.path.basename(root))
    lines = []
    for (parent, path, inside), names in grouped.items():
        hierarchies = names[0] if len(names) == 1 else "{" + ",".join(names) + "}"
        lines.append(f"{parent}/{hierarchies}/{path}: {inside}")
    return "\n    ".join(lines)


def describe(pid: int) -> str:
    """`PID NAME (state S)` for an error message; the thread count too where there are several."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            head, tail = handle.read().rsplit(")", 1)
        fields = tail.split()
    except (OSError, IndexError):
        return f"{pid} (gone)"
    threads = f", {fields[17]} threads" if fields[17] != "1" else ""
    return f"{pid} {head.split('(', 1)[1]} (state {fields[0]}{threads})"


def command_of(pid: int) -> str:
    """The process's command line ('' when it is gone), to make sure a saved PID is still ours."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def kill_all(pids: set[int], what: str, timeout: float = 10.0) -> None:
    """SIGKILL these PIDs and wait until they are gone (reaping our own children)."""
    deadline = time.monotonic() + patience(timeout)
    while pids:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        pids = {pid for pid in pids if alive(pid)}
        if pids and time.monotonic() > deadline:
            raise SandboxError(f"{what}: processes did not stop: {', '.join(describe(pid) for pid in sorted(pids))}")


def alive(pid: int) -> bool:
    """True while the process or any of its threads runs (reaping it when it is our exited child).

    The easy thing to get wrong: when a multi-threaded process (dockerd, containerd, the registry)
    is killed, its leader thread often exits first and /proc shows the process as a zombie while
    its other threads are still exiting; it stays in its cgroups until the last one is gone."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[0] != "Z" or int(fields[17]) > 1
    except (OSError, IndexError, ValueError):
        return False


@contextmanager
def file_lock(path: str):
    """Hold an exclusive flock on `path` (created if missing): one process at a time past here."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

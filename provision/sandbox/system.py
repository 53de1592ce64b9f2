"""What the sandbox needs from this machine, and the few system calls it makes through commands.

Checked up front so a user gets one message naming everything missing, not a stack of failures.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from provision.errors import SandboxError

CGROUP_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory")
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


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def cgroup_dirs(sandbox: str, host: str) -> list[str]:
    return [os.path.join(root, "provision", sandbox, host) for root in CGROUP_ROOTS if os.path.isdir(root)]


def cgroup_pids(directories: list[str]) -> set[int]:
    pids: set[int] = set()
    for directory in directories:
        try:
            with open(os.path.join(directory, "cgroup.procs")) as handle:
                pids.update(int(line) for line in handle if line.strip())
        except FileNotFoundError:
            pass
    return pids


def remove_cgroups(directories: list[str]) -> None:
    for directory in directories:
        for path in (directory, os.path.dirname(directory), os.path.dirname(os.path.dirname(directory))):
            try:
                os.rmdir(path)  # parents go only once empty: other sandboxes may still use them
            except OSError:
                break

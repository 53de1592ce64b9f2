"""One sandbox host: a network namespace on the sandbox bridge, an overlay root, sshd under tini.

The host runs under a small supervisor loop this module starts; every process of the host lives in
the host's own cgroups, and stopping means killing exactly those PIDs, never anything by name.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import asdict, dataclass
from importlib import resources

from provision.errors import SandboxError
from provision.sandbox import system
from provision.sandbox.kinds import KINDS

# The supervisor restarts the host when it exits by SIGHUP: that is how the kernel reports a
# reboot(2) made inside a PID namespace. Any other exit ends the host. The cgroup namespace is
# rooted at the host's own cgroups (entered before), so a host sees and fills only those.
SUPERVISOR = """
netns=$1; shift
while :; do
  nsenter --net="$netns" unshare --mount --uts --ipc --pid --cgroup --fork --kill-child -- /bin/sh "$@"
  rc=$?
  [ "$rc" -eq 129 ] || exit "$rc"
  echo "host rebooted" >&2
done
"""

# Prepended to either supervisor: its arguments start with a count and that many cgroup folders,
# which it enters (taking them off its arguments) before it starts the host.
ENTER_CGROUPS = """
count=$1; shift
# a write can fail for a moment (EIO seen under load): tried again before the host is given up
while [ "$count" -gt 0 ]; do
  tries=0
  until echo $$ 2>/dev/null > "$1/cgroup.procs"; do
    tries=$((tries + 1))
    [ "$tries" -lt 20 ] || { echo "cannot enter cgroup $1" >&2; exit 125; }
    sleep 0.1
  done
  shift; count=$((count - 1))
done
"""

# A systemd host: systemd-nspawn exits 133 when systemd inside asks for a reboot.
SYSTEMD_SUPERVISOR = """
while :; do
  unshare --mount --fork --kill-child -- /bin/sh "$@"
  rc=$?
  [ "$rc" -eq 133 ] || exit "$rc"
  echo "host rebooted" >&2
done
"""


@dataclass
class SandboxHost:
    name: str
    sandbox: str
    address: str
    netns: str
    veth: str
    directory: str  # holds upper/, work/, root/, docker/, host keys, log
    supervisor_pid: int = 0
    kind: str = "plain"

    @property
    def upper(self) -> str:
        return os.path.join(self.directory, "upper")

    def to_dict(self) -> dict:
        return asdict(self)

    # ---- network ---------------------------------------------------------------------------
    # Made in two steps so a big sandbox costs few processes: what lives in this machine's network
    # namespace (the host's namespace, its veth pair, the bridge port) for all hosts in one `ip
    # -batch` (Sandbox.up joins every host's network_commands), then the host's own side, one `ip -n` per host (configure_network).
    def network_commands(self, bridge: str) -> list[str]:
        """`ip -batch` lines: the host's network namespace and its veth, one end on `bridge`."""
        stale = [f"netns del {self.netns}"] if os.path.exists(f"/run/netns/{self.netns}") else []
        return stale + [f"netns add {self.netns}",
                        f"link add {self.veth} type veth peer name eth0 netns {self.netns}",
                        f"link set {self.veth} master {bridge} up"]

    def configure_network(self, prefix_length: int) -> None:
        """The host's side: its address on eth0, eth0 and lo up, and deliberately no default route
        (this machine forwards, and a host must not reach out).

        No IPv6 link-local address either (nothing here routes IPv6): with one, each host's
        duplicate-address check, router solicitations and multicast reports go to every port of
        the bridge, N x N packets, 7 million for 1,000 hosts."""
        system.ip_batch([f"addr add {self.address}/{prefix_length} dev eth0", "link set eth0 addrgenmode none",
                         "link set eth0 up", "link set lo up"], netns=self.netns)

    def removal_commands(self) -> list[str]:
        """`ip -batch` lines that remove the host's veth and network namespace."""
        return [f"link del {self.veth}", f"netns del {self.netns}"]

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, image_lower: str) -> None:
        """Start the host on `image_lower` (an overlay lower string: the kind's layer, then the base)."""
        kind = KINDS[self.kind]
        for sub in ("upper", "work", "root") + (("docker",) if kind.docker else ()):
            os.makedirs(os.path.join(self.directory, sub), exist_ok=True)
        cgroups = system.cgroup_dirs(self.sandbox, self.name)
        system.create_cgroups(cgroups, kind.device_allow)
        dropped = [cap for cap in system.DROPPED_CAPS if cap not in kind.keeps_caps]
        layout = [image_lower, self.upper, os.path.join(self.directory, "work"), os.path.join(self.directory, "root"),
                  self.name]
        if kind.systemd:
            boot = str(resources.files("provision.sandbox") / "hostboot-systemd.sh")
            drop = ",".join("CAP_" + cap.upper() for cap in dropped)
            supervisor, arguments = SYSTEMD_SUPERVISOR, [boot, *layout, self.netns, drop]
        else:
            hostinit = str(resources.files("provision.sandbox") / "hostinit.sh")
            drop = ",".join("-" + cap for cap in dropped)
            docker_data = os.path.join(self.directory, "docker") if kind.docker else ""
            dev = _device_folder(os.path.join(self.directory, "dev"))
            supervisor, arguments = SUPERVISOR, [f"/run/netns/{self.netns}", hostinit, *layout, drop, dev, docker_data]
        # the supervisor enters the host's cgroups itself (ENTER_CGROUPS) before it starts anything:
        # a preexec_fn would do it in the forked child, unsafe while `up` starts hosts from several
        # threads (and a full fork of this process where a vfork does)
        command = ["/bin/sh", "-c", ENTER_CGROUPS + supervisor, "supervisor", str(len(cgroups)), *cgroups, *arguments]
        with open(os.path.join(self.directory, "host.log"), "ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        self.supervisor_pid = process.pid

    def stop(self, timeout: float = 10.0) -> None:
        """Kill every process of the host, wait until its cgroups are empty, and remove them.

        Raises SandboxError naming the cgroups and processes that would not go."""
        if self.supervisor_pid and self.directory in system.command_of(self.supervisor_pid):  # never a reused PID
            _kill(self.supervisor_pid)  # first, so it cannot restart the host
        try:
            system.remove_cgroups(system.cgroup_dirs(self.sandbox, self.name), timeout)
        except SandboxError as error:
            raise SandboxError(f"host {self.name} of sandbox {self.sandbox} did not stop: {error}") from None
        _reap(self.supervisor_pid)
        self.supervisor_pid = 0

    def alive(self) -> bool:
        return bool(self.supervisor_pid) and system.alive(self.supervisor_pid)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until sshd answers with its banner on port 22 (`timeout` on an idle machine, longer
        on a loaded one). Asked again at growing intervals: `up` waits for dozens of hosts at once,
        and a try every 50 ms each came to ~27 connections per host while they booted."""
        deadline = time.monotonic() + system.patience(timeout)
        pause = 0.02
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, 22), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if not self.alive():
                break
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)
        log = os.path.join(self.directory, "host.log")
        tail = open(log).read()[-1500:] if os.path.exists(log) else ""
        raise SandboxError(f"host {self.name} ({self.address}) did not answer SSH:\n{tail}")

    def wipe(self) -> None:
        """Throw away everything written on the host (its overlay upper folder)."""
        for sub in ("upper", "work", "docker"):
            shutil.rmtree(os.path.join(self.directory, sub), ignore_errors=True)


# What a host's /dev (a tmpfs) starts with, copied in by hostinit.sh in one `cp -a`: the character
# devices a program expects (all of them harmless), the mount points of pts and shm, and the links.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
DEVICE_LINKS = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
                "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}


def _device_folder(folder: str) -> str:
    """Make `folder` hold DEVICES, DEVICE_LINKS and the empty pts/ and shm/ (once; kept across starts)."""
    if os.path.islink(os.path.join(folder, "stderr")):  # made last
        return folder
    for sub in ("pts", "shm"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    os.chmod(folder, 0o755)
    for name, (major, minor) in DEVICES.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)  # mknod's mode passes through the umask
    for name, target in DEVICE_LINKS.items():
        if not os.path.islink(os.path.join(folder, name)):
            os.symlink(target, os.path.join(folder, name))
    return folder


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect the supervisor's exit status when this process started it (no zombie left)."""
    if pid:
        system.alive(pid)  # dead by now (it was in the host's cgroups): this only reaps it

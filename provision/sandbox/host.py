"""One sandbox host: a network namespace on the sandbox bridge, an overlay root, sshd under tini.

The host runs under a small supervisor loop this module starts; every process of the host lives in
the host's own cgroups, and stopping means killing exactly those PIDs, never anything by name.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
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
    def create_network(self, bridge: str, prefix_length: int) -> None:
        netns_path = f"/run/netns/{self.netns}"
        if os.path.exists(netns_path):
            self.remove_network()
        system.run("ip", "netns", "add", self.netns)
        system.run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        system.run("ip", "link", "set", self.veth, "master", bridge, "up")
        system.run("ip", "-n", self.netns, "addr", "add", f"{self.address}/{prefix_length}", "dev", "eth0")
        system.run("ip", "-n", self.netns, "link", "set", "eth0", "up")
        system.run("ip", "-n", self.netns, "link", "set", "lo", "up")
        # deliberately no default route: this machine forwards, and a host must not reach out

    def remove_network(self) -> None:
        system.run("ip", "link", "del", self.veth, check=False)
        system.run("ip", "netns", "del", self.netns, check=False)

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
            command = ["/bin/sh", "-c", SYSTEMD_SUPERVISOR, "supervisor", boot, *layout, self.netns, drop]
        else:
            hostinit = str(resources.files("provision.sandbox") / "hostinit.sh")
            drop = ",".join("-" + cap for cap in dropped)
            docker_data = os.path.join(self.directory, "docker") if kind.docker else ""
            command = ["/bin/sh", "-c", SUPERVISOR, "supervisor", f"/run/netns/{self.netns}", hostinit, *layout,
                       drop, docker_data]
        log = open(os.path.join(self.directory, "host.log"), "ab")

        def enter_cgroups() -> None:
            for directory in cgroups:
                with open(os.path.join(directory, "cgroup.procs"), "w") as handle:
                    handle.write(str(os.getpid()))

        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            preexec_fn=enter_cgroups)
        log.close()
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
        """Wait until sshd answers with its banner on port 22."""
        deadline = time.monotonic() + timeout
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
            time.sleep(0.05)
        log = os.path.join(self.directory, "host.log")
        tail = open(log).read()[-1500:] if os.path.exists(log) else ""
        raise SandboxError(f"host {self.name} ({self.address}) did not answer SSH:\n{tail}")

    def wipe(self) -> None:
        """Throw away everything written on the host (its overlay upper folder)."""
        for sub in ("upper", "work", "docker"):
            shutil.rmtree(os.path.join(self.directory, sub), ignore_errors=True)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect the supervisor's exit status when this process started it (no zombie left)."""
    if pid:
        system.alive(pid)  # dead by now (it was in the host's cgroups): this only reaps it

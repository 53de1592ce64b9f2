"""What makes a sandbox kind: the packages layered over the base image, and how its hosts boot.

`plain` is the base image alone under tini with sshd. `docker` adds Docker Engine from Debian's
own packages in a shared layer, with pigz beside it (Docker decompresses layers with `unpigz` when
it is there, moby#35697, and Docker's own docker:dind image installs it: a 1 GB pull took 24 s
instead of 30 s here); its hosts keep CAP_MKNOD (runc gives every container the default
Docker capabilities, and cannot raise one its parent lacks) but a devices cgroup lets them open
only harmless character devices. `systemd` adds systemd and boots under `systemd-nspawn --boot`.
`python` adds Debian's python3 (and python3-apt) for tools that run Python on their targets, as
Ansible does; the benchmark (bench/drift20.py) runs provision, pyinfra and Ansible on it alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from provision.sandbox.image import LayerRecipe

# Debian's /etc/init.d/docker raises `ulimit -n/-u`, which needs CAP_SYS_RESOURCE, which no
# host has (this machine lacks it too): keep the limits it got. It would also mount every cgroup
# controller the kernel knows, creating hierarchies on this machine: the host mounts its own.
DOCKER_SETUP = r"""
set -eu
sed -i -e '/^\t\tcgroupfs_mount$/d' -e 's/^\(\s*ulimit .*\)$/\1 2>\/dev\/null || true/' /etc/init.d/docker
grep -q 'ulimit -n 1048576 2>/dev/null || true' /etc/init.d/docker
cat > /usr/local/sbin/sandbox-boot <<'SH'
#!/bin/sh
# PID 1's only child in a docker host: start dockerd the Debian way, then sshd (by its init
# script, so `service ssh restart` works) once dockerd listens, so a host that answers SSH also
# answers `docker` (what `up` waits for); then it idles, keeping the host up.
service docker start >/dev/null || echo "sandbox-boot: docker did not start" >&2
for _ in $(seq 300); do [ -S /var/run/docker.sock ] && break; sleep 0.1; done
/etc/init.d/ssh start >/dev/null || /usr/sbin/sshd -e
exec sleep infinity
SH
chmod 755 /usr/local/sbin/sandbox-boot
"""

# Units that make no sense in a throwaway host sharing this machine's kernel, clock and disks.
SYSTEMD_SETUP = r"""
set -eu
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
            dpkg-db-backup.timer systemd-timesyncd.service getty@tty1.service console-getty.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
systemctl enable ssh.service
# the base image's `reboot` calls reboot(2) for want of an init system; here systemd is one
rm -f /usr/local/sbin/reboot
"""

# sshd logs at VERBOSE into a file of the host, so a benchmark counts the sessions each tool opens
# ("Starting session: command ..." per exec channel) on the host side, whatever the tool. The base
# image's sshd logs to syslog, which no host runs; `-E` (through the init script's SSHD_OPTS, so
# `service ssh restart` keeps it) appends to a file instead.
PYTHON_SETUP = r"""
set -eu
printf 'LogLevel VERBOSE\n' > /etc/ssh/sshd_config.d/sandbox-log.conf
printf 'SSHD_OPTS="-E /var/log/sshd.log"\n' > /etc/default/ssh
python3 -c 'import apt, json'
"""

# Devices a docker host may open (it may create any node, as Docker's own containers may).
DOCKER_DEVICE_ALLOW = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                       "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")


@dataclass(frozen=True)
class Kind:
    name: str
    layer: LayerRecipe | None = None
    keeps_caps: tuple[str, ...] = ()          # taken off the dropped list for this kind
    device_allow: tuple[str, ...] | None = None  # None: no devices cgroup policy
    docker: bool = False
    systemd: bool = False


KINDS: dict[str, Kind] = {
    "plain": Kind("plain"),
    "docker": Kind("docker", LayerRecipe("docker", ("docker.io", "pigz"), DOCKER_SETUP), keeps_caps=("mknod",),
                   device_allow=DOCKER_DEVICE_ALLOW, docker=True),
    "systemd": Kind("systemd", LayerRecipe("systemd", ("systemd", "systemd-sysv", "dbus"), SYSTEMD_SETUP),
                    systemd=True),
    "python": Kind("python", LayerRecipe("python", ("python3", "python3-apt"), PYTHON_SETUP)),
}

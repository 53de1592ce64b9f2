#!/bin/sh
# PID 1 of a sandbox host, before it becomes tini. Runs in the host's own mount, UTS, IPC, PID and
# network namespaces, so every mount made here vanishes with the host: a crash leaves none behind.
# Usage: hostinit.sh LOWER UPPER WORK ROOT HOSTNAME DROP_CAPS DEV [DOCKER_DATA]
# LOWER is an overlay lower string (`layer:base`); DEV a folder holding what /dev starts with (its
# device nodes and links, made by host.py); DOCKER_DATA, for docker hosts, is the folder mounted on
# /var/lib/docker (overlay2 cannot keep its layers on an overlay) and asks for cgroups.
# Every external command here runs once per host start, 1,000 times for a big sandbox: what a shell
# builtin can do is done by one.
set -eu
lower=$1 upper=$2 work=$3 root=$4 name=$5 drop=$6 dev=$7 docker_data=${8:-}

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"

mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
# Kernel-wide sysctls stay read-only: a `sysctl -w kernel.x` in a host must not reach this machine.
# net.* is per network namespace, so it stays writable (the sysctl module is tested on it).
mount --bind "$root/proc/sys" "$root/proc/sys"
mount --bind "$root/proc/sys/net" "$root/proc/sys/net"
mount -o remount,bind,ro "$root/proc/sys"
# A fresh boot id per start, so a reboot inside the host is visible as one (the kernel's is shared).
read -r boot_id < /proc/sys/kernel/random/uuid
echo "$boot_id" > "$upper/../boot_id"
mount --bind "$upper/../boot_id" "$root/proc/sys/kernel/random/boot_id"
[ -e "$root/proc/sysrq-trigger" ] && mount --bind /dev/null "$root/proc/sysrq-trigger"

mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys" || true
mount -t tmpfs -o mode=755,size=8m,nosuid dev "$root/dev"
# null, zero, full, random, urandom, tty, the pts/ and shm/ folders, ptmx, fd, stdin, stdout, stderr
cp -a "$dev/." "$root/dev/"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$root/dev/pts"
# half the memory, as on a real server: `docker run --ipc=host` (how GPU containers run) sees this
# one, and the verification wants >= 1 GiB. tmpfs takes memory only as it is written.
mount -t tmpfs -o mode=1777,size=50% shm "$root/dev/shm"
mount -t tmpfs -o mode=755,size=32m,nosuid,nodev run "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock"

# STAND-IN GPU kernel state. The host cannot load kernel modules, so the boot plays the kernel's
# part: when the host's stand-in NVIDIA packages installed a kernel module, the boot "loads" it
# (provision/sandbox/standin/files/nvidia-standin-module decides which) and shows it where the kernel does,
# at /proc/driver/nvidia/version and /sys/module/nvidia/version, so the roles read the real paths.
# The machine's own /sys/module entries stay visible (each bound back in below a small tmpfs).
module_tool="$root/usr/sbin/nvidia-standin-module"
if [ -x "$module_tool" ] && NVIDIA_STANDIN_ROOT="$root" "$module_tool" boot \
    && [ -f "$root/run/nvidia-standin/proc/driver/nvidia/version" ]; then
  state="$root/run/nvidia-standin"
  mount --bind "$state/proc/driver" "$root/proc/driver"
  staging="$upper/../sysmodule"
  mkdir -p "$staging"
  mount --bind "$root/sys/module" "$staging"
  mount -t tmpfs -o mode=755,size=1m,nosuid,nodev,noexec sysmodule "$root/sys/module"
  for entry in "$staging"/*; do
    mkdir "$root/sys/module/${entry##*/}"
    mount --bind "$entry" "$root/sys/module/${entry##*/}"
  done
  mkdir "$root/sys/module/nvidia"
  cp "$state/sys/module/nvidia/version" "$root/sys/module/nvidia/version"
  mount -o remount,ro "$root/sys/module"
  umount "$staging"
fi

if [ -n "$docker_data" ]; then
  mkdir -p "$root/var/lib/docker"
  mount --bind "$docker_data" "$root/var/lib/docker"
  # The cgroup hierarchies this machine mounts, seen from the host's cgroup namespace: their root
  # is the host's own cgroup, so dockerd's containers land below it. One mount per hierarchy.
  mount -t tmpfs -o mode=755,size=1m,nosuid,nodev,noexec cgroup "$root/sys/fs/cgroup"
  for controllers in $(awk 'NR > 1 && $2 != 0 && $4 == 1 { h[$2] = h[$2] ? h[$2] "," $1 : $1 } END { for (i in h) print h[i] }' /proc/cgroups); do
    mkdir -p "$root/sys/fs/cgroup/$controllers"
    mount -t cgroup -o "nosuid,nodev,noexec,$controllers" cgroup "$root/sys/fs/cgroup/$controllers"
  done
fi

echo "$name" > /proc/sys/kernel/hostname  # this process's own UTS namespace: `hostname NAME`
# The new root on top of the old at the same place, then the old one detached from under it
# (runc's way): no folder to make in the host's root and remove again.
cd "$root"
pivot_root . .
umount -l .
cd /

# Drop the capabilities that would reach this machine (modules, clock, raw I/O, device nodes).
# A kind whose layer brings /usr/local/sbin/sandbox-boot starts its services there, then sshd.
# sshd is started by its init script, as on a real machine, and PID 1's child only idles: so
# `service ssh restart` restarts sshd, and the host stays up while sshd is down.
boot='/etc/init.d/ssh start >/dev/null || /usr/sbin/sshd -e; exec sleep infinity'
[ -x /usr/local/sbin/sandbox-boot ] && boot='exec /usr/local/sbin/sandbox-boot'
exec setpriv --bounding-set "$drop" -- /usr/bin/tini -s -g -- /bin/sh -c "$boot"

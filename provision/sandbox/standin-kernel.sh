#!/bin/sh
# STAND-IN for tests: not NVIDIA software. Shows the stand-in driver "loaded" in this boot where the
# kernel shows a loaded module, /proc/driver/nvidia/version and /sys/module/nvidia/version (a
# systemd sandbox host's share of provision/sandbox/hostinit.sh). /sys/module becomes a read-only
# overlay of the stand-in's entry over the machine's own, which stay visible.
set -eu
state=/run/nvidia-standin
[ -f "$state/proc/driver/nvidia/version" ] || exit 0
[ -f /proc/driver/nvidia/version ] || mount --bind "$state/proc/driver" /proc/driver
[ -f /sys/module/nvidia/version ] || mount -t overlay -o "lowerdir=$state/sys/module:/sys/module" sysmodule /sys/module

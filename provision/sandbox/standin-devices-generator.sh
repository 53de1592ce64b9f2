#!/bin/sh
# STAND-IN for tests: not NVIDIA software. A systemd generator of provision's sandbox (systemd hosts).
#
# A sandbox host has no kernel or udev of its own, so at each boot this plays their part for the
# stand-in GPU, as the sandbox's init does on hosts without systemd (provision/sandbox/hostinit.sh):
# once nvidia-standin-module decides that a driver is "loaded" in this boot, it adds a unit that
# shows it at the kernel's paths (/proc/driver/nvidia/version, /sys/module/nvidia/version), and it
# does what udev does when the nvidia driver binds: every unit a udev rule names in
# ENV{SYSTEMD_WANTS} for DEVPATH=="/bus/pci/drivers/nvidia" is wanted by that unit, as by the
# device (how Ubuntu's nvidia-kernel-common starts nvidia-persistenced, whose unit has no [Install]
# section and stops when nothing wants it), without making it "enabled".
# Generators run again on `systemctl daemon-reload`; everything here is idempotent.
set -eu
out=${1:-/run/systemd/generator}
tool=/usr/sbin/nvidia-standin-module
[ -x "$tool" ] || exit 0
"$tool" boot >/dev/null 2>&1 || exit 0
[ -f /run/nvidia-standin/proc/driver/nvidia/version ] || exit 0
wanted=$(for rules in /lib/udev/rules.d/*.rules /etc/udev/rules.d/*.rules; do
    [ -f "$rules" ] || continue
    sed -n '/ACTION=="add"/{/DEVPATH=="\/bus\/pci\/drivers\/nvidia"/{s/.*ENV{SYSTEMD_WANTS}+\{0,1\}="\([^"]*\)".*/\1/p}}' "$rules"
done | tr ' ' '\n' | sort -u | tr '\n' ' ')
mkdir -p "$out/sysinit.target.wants"
cat > "$out/sandbox-standin-kernel.service" <<UNIT
# STAND-IN for tests: not NVIDIA software. Written by the sandbox's generator: the loaded stand-in
# driver at the kernel's paths.
[Unit]
Description=Stand-in NVIDIA kernel module state (STAND-IN for tests: not NVIDIA software)
DefaultDependencies=no
Before=sysinit.target
${wanted:+Wants=$wanted}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/sandbox-standin-kernel
UNIT
ln -sf "$out/sandbox-standin-kernel.service" "$out/sysinit.target.wants/sandbox-standin-kernel.service"

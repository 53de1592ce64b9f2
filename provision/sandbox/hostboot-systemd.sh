#!/bin/sh
# Boots a systemd sandbox host: the overlay root, then systemd-nspawn --boot on it, in the host's
# network namespace. Runs in a mount namespace of its own, so the overlay vanishes with it.
# Usage: hostboot-systemd.sh LOWER UPPER WORK ROOT HOSTNAME NETNS DROP_CAPS
# --register=no and --keep-unit: there is no systemd (nor machined) on this machine to ask for a
# scope; nspawn stays in the cgroup it was started in, the host's own, pre-created one.
set -eu
lower=$1 upper=$2 work=$3 root=$4 name=$5 netns=$6 drop=$7

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"
exec systemd-nspawn --quiet --boot --register=no --keep-unit --console=read-only \
  --directory="$root" --machine="$name" --hostname="$name" \
  --network-namespace-path="/run/netns/$netns" --drop-capability="$drop" \
  --resolv-conf=off --timezone=off --link-journal=no

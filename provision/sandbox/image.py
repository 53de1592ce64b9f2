"""The base image every sandbox host shares read-only: a Debian bookworm root built by debootstrap.

Built once and cached under a folder named by the hash of its recipe, so changing the recipe
builds a new image and an unchanged one is reused across runs, sandboxes and test sessions.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

from provision.errors import SandboxError

DEFAULT_CACHE = os.environ.get("PROVISION_IMAGE_CACHE", "/var/cache/provision/images")
SANDBOX_PASSWORD = "sandbox"  # the `deploy` user's sudo password; a sandbox is throwaway and local

# Run inside the new root once, after debootstrap. Users: root (key only), `admin` with
# NOPASSWD sudo and `deploy` whose sudo asks for a password, so `become` is tested both ways.
SETUP_SCRIPT = f"""
set -eu
useradd -m -s /bin/bash -G sudo admin
useradd -m -s /bin/bash -G sudo deploy
echo 'deploy:{SANDBOX_PASSWORD}' | chpasswd
echo 'admin ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/admin
chmod 0440 /etc/sudoers.d/admin
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/sandbox.conf <<'CONF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
MaxStartups 200:30:400
CONF
cat > /usr/local/sbin/reboot <<'SH'
#!/bin/sh
# Sandbox host: there is no init system to ask, so restart through the reboot syscall, which
# in a PID namespace ends only this host; its supervisor starts it again on the same disk.
sync
exec busybox reboot -f
SH
chmod 755 /usr/local/sbin/reboot
apt-get clean
rm -rf /var/lib/apt/lists/*
"""


@dataclass(frozen=True)
class ImageRecipe:
    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = (
        "openssh-server", "sudo", "iproute2", "tini", "procps", "kmod", "curl",
        "ca-certificates", "busybox", "gnupg", "psmisc",
    )
    setup: str = SETUP_SCRIPT
    extra: dict[str, str] = field(default_factory=dict)

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def debian_mirror(apt_dir: str = "/etc/apt") -> str:
    """The Debian mirror this machine's own apt uses: the image must come from where apt goes."""
    candidates: list[str] = []
    for path in sorted(glob.glob(f"{apt_dir}/sources.list.d/*.sources")):
        with open(path) as handle:
            for line in handle:
                if line.startswith("URIs:"):
                    candidates += line.split()[1:]
    for path in [f"{apt_dir}/sources.list", *sorted(glob.glob(f"{apt_dir}/sources.list.d/*.list"))]:
        if os.path.exists(path):
            with open(path) as handle:
                for line in handle:
                    match = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)", line)
                    if match:
                        candidates.append(match.group(1))
    for uri in candidates:
        if "security" not in uri and uri.rstrip("/").endswith("/debian"):
            return uri
    raise SandboxError(f"no Debian mirror found in {apt_dir}/sources.list*: the base image is built from it")


def ensure_image(recipe: ImageRecipe = ImageRecipe(), cache_dir: str = DEFAULT_CACHE, log=print) -> str:
    """Return the path of the image's root folder, building it first if the cache lacks it."""
    root = os.path.join(cache_dir, recipe.digest(), "rootfs")
    if os.path.exists(os.path.join(root, ".provision-image-complete")):
        return root
    partial = os.path.join(cache_dir, recipe.digest() + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    log(f"building the sandbox base image (debootstrap {recipe.suite}, once) into {root}")
    command = ["debootstrap", f"--variant={recipe.variant}", "--include=" + ",".join(recipe.packages),
               recipe.suite, os.path.join(partial, "rootfs"), debian_mirror()]
    _run(command, "debootstrap")
    _run(["chroot", os.path.join(partial, "rootfs"), "/bin/sh", "-c", recipe.setup], "image setup")
    open(os.path.join(partial, "rootfs", ".provision-image-complete"), "w").close()
    shutil.rmtree(os.path.dirname(root), ignore_errors=True)
    os.rename(partial, os.path.dirname(root))
    return root


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SandboxError(f"{what} failed (exit {result.returncode}):\n{tail}")

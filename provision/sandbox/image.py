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
from provision.sandbox import system

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
        # what a Debian server has and ansible-core's own tests use: setfacl (acl), file(1) for stat's mimetype
        "acl", "file",
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
    with _cache_lock(cache_dir):
        if not os.path.exists(os.path.join(root, ".provision-image-complete")):  # built while we waited?
            _build_image(recipe, root, cache_dir, log)
    return root


def _cache_lock(cache_dir: str):
    """One build at a time: two sandboxes starting together must not both write one partial folder."""
    return system.file_lock(os.path.join(cache_dir, ".build.lock"))


def _build_image(recipe: ImageRecipe, root: str, cache_dir: str, log) -> None:
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


@dataclass(frozen=True)
class LayerRecipe:
    """Packages installed on top of the base image, kept as an overlay layer of their own.

    The layer is the upper folder of an overlay on the base image after `apt-get install`, so it
    holds only what the packages added or changed; hosts of that kind stack it over the base
    (`lowerdir=layer:base`) and the base stays shared by every kind.
    """
    name: str
    packages: tuple[str, ...]
    setup: str = ""

    def digest(self, base: ImageRecipe) -> str:
        blob = json.dumps({"base": base.digest(), **asdict(self)}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# Runs in a private mount namespace: the overlay and the chroot's /proc vanish with it. Services
# must not start during the install (policy-rc.d says no), the layer's own setup runs last.
LAYER_BUILD_SCRIPT = """
set -eu
base=$1 layer=$2 work=$3 merged=$4 packages=$5 setup=$6
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$base,upperdir=$layer,workdir=$work" "$merged"
mount -t proc proc "$merged/proc"
mount --rbind /dev "$merged/dev"
printf '#!/bin/sh\nexit 101\n' > "$merged/usr/sbin/policy-rc.d"
chmod 755 "$merged/usr/sbin/policy-rc.d"
chroot "$merged" apt-get update -q
chroot "$merged" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages
chroot "$merged" /bin/sh -c "$setup"
rm -f "$merged/usr/sbin/policy-rc.d"
chroot "$merged" apt-get clean
rm -rf "$merged"/var/lib/apt/lists/* "$merged"/var/cache/debconf/*-old "$merged"/var/log/apt "$merged"/var/log/dpkg.log
"""


def ensure_layer(layer: LayerRecipe, base: ImageRecipe = ImageRecipe(), cache_dir: str = DEFAULT_CACHE,
                 log=print) -> str:
    """Return the overlay lower string (`layer:base`) for hosts of a kind, building the layer once."""
    base_root = ensure_image(base, cache_dir, log)
    digest = layer.digest(base)
    folder = os.path.join(cache_dir, digest, "layer")
    if not os.path.exists(os.path.join(cache_dir, digest, "complete")):
        with _cache_lock(cache_dir):
            if not os.path.exists(os.path.join(cache_dir, digest, "complete")):
                _build_layer(layer, base_root, folder, log)
    return f"{folder}:{base_root}"


def _build_layer(layer: LayerRecipe, base_root: str, folder: str, log) -> None:
    partial = os.path.dirname(folder) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    for sub in ("layer", "work", "merged"):
        os.makedirs(os.path.join(partial, sub))
    log(f"building the sandbox {layer.name} layer (apt-get install {' '.join(layer.packages)}, once) into {folder}")
    _run(["unshare", "--mount", "--fork", "--", "/bin/sh", "-c", LAYER_BUILD_SCRIPT, "build", base_root,
          os.path.join(partial, "layer"), os.path.join(partial, "work"), os.path.join(partial, "merged"),
          " ".join(layer.packages), layer.setup or "true"], f"{layer.name} layer build")
    shutil.rmtree(os.path.join(partial, "work"), ignore_errors=True)
    os.rmdir(os.path.join(partial, "merged"))
    open(os.path.join(partial, "complete"), "w").close()
    shutil.rmtree(os.path.dirname(folder), ignore_errors=True)
    os.rename(partial, os.path.dirname(folder))


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SandboxError(f"{what} failed (exit {result.returncode}):\n{tail}")

"""What a host's empty upper folder gets before it first starts: its own host key, the sandbox's
client key for root, admin and deploy, hostname and hosts files, and for docker hosts dockerd's
configuration. The thing easy to get wrong: home folders and keys must belong to the user as the
image numbers them (read from the image's top-most /etc/passwd), or sshd refuses the key.
"""
from __future__ import annotations

import json
import os
import shutil

from provision.sandbox import system
from provision.sandbox.host import SandboxHost
from provision.sandbox.kinds import KINDS
from provision.sandbox.registry import Registry


def seed(host: SandboxHost, client_key_path: str, image_lower: str, registry: Registry,
         files: dict[str, bytes] | None = None, diverted: tuple[str, ...] = ()) -> None:
    """Put the host's own host key, the sandbox's client key and `files` ({absolute path: content},
    e.g. the stand-in GPU description; content starting with `#!` becomes an executable) into its
    (empty) upper folder. Each `diverted` path (a stand-in tool where a package puts the real one)
    gets a local dpkg diversion, so installing that package does not overwrite the stand-in."""
    os.makedirs(host.directory, exist_ok=True)
    key = os.path.join(host.directory, "ssh_host_ed25519_key")
    if not os.path.exists(key):
        system.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", key)
    etc_ssh = os.path.join(host.upper, "etc", "ssh")
    os.makedirs(etc_ssh, exist_ok=True)
    for suffix, mode in (("", 0o600), (".pub", 0o644)):
        target = os.path.join(etc_ssh, "ssh_host_ed25519_key" + suffix)
        shutil.copyfile(key + suffix, target)
        os.chmod(target, mode)
    with open(client_key_path + ".pub") as handle:
        public_key = handle.read()
    passwd = _image_users(image_lower)
    for user in ("root", "admin", "deploy"):
        uid, gid, home = passwd[user]
        ssh_dir = os.path.join(host.upper, home.lstrip("/"), ".ssh")
        os.makedirs(ssh_dir, exist_ok=True)
        authorized = os.path.join(ssh_dir, "authorized_keys")
        with open(authorized, "w") as handle:
            handle.write(public_key)
        os.chmod(ssh_dir, 0o700)
        os.chmod(authorized, 0o600)
        for path in (ssh_dir, authorized):
            os.chown(path, uid, gid)
        home_dir = os.path.join(host.upper, home.lstrip("/"))
        os.chown(home_dir, uid, gid)
        os.chmod(home_dir, 0o700 if user == "root" else 0o755)
    hostname_file = os.path.join(host.upper, "etc", "hostname")
    with open(hostname_file, "w") as handle:
        handle.write(host.name + "\n")
    with open(os.path.join(host.upper, "etc", "hosts"), "w") as handle:
        handle.write(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    for path, content in (files or {}).items():
        target = os.path.join(host.upper, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(content)
        # a script (the stand-in lspci) must run as a command; anything else is a plain file
        os.chmod(target, 0o755 if content.startswith(b"#!") else 0o644)
    if diverted:
        _divert(host, image_lower, diverted)
    if KINDS[host.kind].docker:
        _seed_docker(host, registry)


def _divert(host: SandboxHost, image_lower: str, paths: tuple[str, ...]) -> None:
    """Local diversions, as `dpkg-divert --local --rename --add PATH` records them (three lines
    each in /var/lib/dpkg/diversions: the path, where the package's file goes, ":" for local)."""
    relative = os.path.join("var", "lib", "dpkg", "diversions")
    try:
        with open(os.path.join(image_lower, relative)) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        lines = []
    listed = set(lines[0::3])
    for path in paths:
        if path not in listed:
            lines += [path, f"{path}.distrib", ":"]
    target = os.path.join(host.upper, relative)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.chmod(target, 0o644)


def _seed_docker(host: SandboxHost, registry: Registry) -> None:
    """dockerd pulls through the sandbox registry (plain HTTP) and must not fall back to vfs."""
    os.makedirs(os.path.join(host.upper, "etc", "docker"), exist_ok=True)
    with open(os.path.join(host.upper, "etc", "docker", "daemon.json"), "w") as handle:
        json.dump({"registry-mirrors": [registry.url], "insecure-registries": [registry.host_port],
                   "storage-driver": "overlay2"}, handle, indent=1)


def _image_users(image_lower: str) -> dict[str, tuple[int, int, str]]:
    """Users of the image as a host sees it: the top-most layer's /etc/passwd wins."""
    users = {}
    passwd = next(path for path in (os.path.join(layer, "etc", "passwd") for layer in image_lower.split(":"))
                  if os.path.exists(path))
    with open(passwd) as handle:
        for line in handle:
            parts = line.strip().split(":")
            if len(parts) >= 6:
                users[parts[0]] = (int(parts[2]), int(parts[3]), parts[5])
    return users

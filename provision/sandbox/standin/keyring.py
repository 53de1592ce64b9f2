"""cuda-keyring_<version>_all.deb: how NVIDIA's install guide, NVIDIA's Ansible role and DeepOps'
roles add the CUDA repository to a Debian/Ubuntu host (`apt: deb: <repo>/cuda-keyring_1.1-1_all.deb`).

The real package holds three files (data/catalog.yaml `keyring`, with the source): the repository's
signing keyring, an apt source naming the repository with `signed-by` that keyring, and NVIDIA's pin
file. The stand-in's holds the same three at the same paths, with the stand-in's keyring, and its
source line names the stand-in repository that served it. That URL is known only once the server
listens, so the package is built by the server on the first request for it (serve.py), not in the
cached repository build; it is therefore not in the folder's Packages index, where the real one is.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from provision.sandbox.standin.catalog import load
from provision.sandbox.standin.packages import MAINTAINER, STAND_IN
from provision.sandbox.standin.repository import KEYRING_NAME, StandinBuildError, cuda_path

FILENAME = re.compile(r"^cuda-keyring_(?P<version>[0-9][0-9A-Za-z.+~-]*)_all\.deb$")


def pin_text() -> str:
    """NVIDIA's cuda-<distro>.pin, which cuda-keyring installs as cuda-repository-pin-600."""
    return load()["pin"]["text"]


def keyring_request(path: str, architecture: str) -> tuple[str, str] | None:
    """(distro, version) when `path` asks for a cuda-keyring this stand-in serves, else None."""
    folder, _, name = path.lstrip("/").rpartition("/")
    match = FILENAME.match(name)
    if not match or match.group("version") not in load()["keyring"]["versions"]:
        return None
    for distro in load()["distros"]:
        if cuda_path(distro, architecture).rstrip("/") == folder:
            return distro, match.group("version")
    return None


def build_keyring(root: str, distro: str, version: str, base_url: str, architecture: str) -> bytes:
    """The cuda-keyring .deb for `distro`'s folder of the repository at `base_url` (ends with '/')."""
    facts = load()["keyring"]
    folder = cuda_path(distro, architecture)
    arch = folder.rstrip("/").rsplit("/", 1)[1]
    list_path = facts["list_path"].format(distro=distro, arch=arch)
    with open(os.path.join(root, KEYRING_NAME), "rb") as handle:
        keyring = handle.read()
    files = {
        facts["keyring_path"]: keyring,
        list_path: f"deb [signed-by={facts['keyring_path']}] {base_url}{folder} /\n".encode(),
        facts["pin_path"]: pin_text().encode(),
        "/usr/share/doc/cuda-keyring/README.STAND-IN":
            f"{STAND_IN}: cuda-keyring {version}, the stand-in repository's key and source.\n".encode(),
    }
    control = (f"Package: cuda-keyring\nVersion: {version}\nArchitecture: all\nMaintainer: {MAINTAINER}\n"
               "Section: non-free/admin\nPriority: optional\n"
               f"Description: {STAND_IN} (GPG keyring and apt source of the CUDA repository)\n"
               " Part of provision's stand-in vendor repository: the same files at the same paths as\n"
               " NVIDIA's cuda-keyring, naming the stand-in repository and its throwaway key.\n")
    work = tempfile.mkdtemp(prefix="standin-keyring-")
    tree = os.path.join(work, "tree")  # the package's files; the .deb is written beside it, not in it
    try:
        for path, data in files.items():
            target = os.path.join(tree, path.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
            os.chmod(target, 0o644)
        os.makedirs(os.path.join(tree, "DEBIAN"))
        with open(os.path.join(tree, "DEBIAN", "control"), "w") as handle:
            handle.write(control)
        with open(os.path.join(tree, "DEBIAN", "conffiles"), "w") as handle:
            handle.write(f"{facts['pin_path']}\n{list_path}\n")
        for folder_path, _subfolders, _files in os.walk(tree):
            os.chmod(folder_path, 0o755)
        deb = os.path.join(work, "cuda-keyring.deb")
        result = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, deb],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise StandinBuildError(f"dpkg-deb failed building cuda-keyring {version}: {result.stderr.strip()}")
        with open(deb, "rb") as handle:
            return handle.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""Builds the stand-in vendor repository: .deb files, flat apt indexes, a throwaway signing key.

The layout copies NVIDIA's real URLs below one base, so a role points at the stand-in by changing
only the base URL (and the keyring it trusts):

  <base>/compute/cuda/repos/<distro>/x86_64/      deb [signed-by=K] <that URL> /  (debian12, ubuntu2204,
                                                  ubuntu2404: each its own names, as NVIDIA's differ),
                                                  with cuda-<distro>.pin and cuda-keyring_<v>_all.deb
                                                  (built by the server for its own URL: keyring.py)
  <base>/libnvidia-container/stable/deb/amd64/     deb [signed-by=K] <that URL> /
  <base>/nvidia-standin-keyring.gpg               the binary keyring for signed-by (also in each repo)
  <base>/libnvidia-container/gpgkey               the same key armored, where NVIDIA serves theirs
  <base>/nvidia-docker/gpgkey                     the same again (NVIDIA signs both with one key)
  <base>/nvidia-docker/<ID><VERSION_ID>/nvidia-docker.list
                                                  the legacy list, naming the three frozen folders
                                                  below; written by the server for its own URL
                                                  (legacy.py), the site's 404 page for other distros
  <base>/libnvidia-container/stable/ubuntu18.04/amd64/, <base>/nvidia-container-runtime/stable/
  ubuntu18.04/amd64/, <base>/nvidia-docker/ubuntu18.04/amd64/   those frozen flat repositories
  <base>/NVIDIA/nvidia-docker/master/nvidia-docker  the archived wrapper script (a stand-in's), at
                                                  its raw.githubusercontent.com path
  <base>/ubuntu/dists/<suite>/restricted/binary-<arch>/   Ubuntu's archive, restricted component:
                                                  Canonical's -server driver packages for jammy-updates
                                                  and noble-updates (catalog/canonical.py), a dists/
                                                  archive with its pool/ (`deb URL/ubuntu <suite> restricted`)

A build is cached under <cache>/<hash of the inputs>/, so an unchanged stand-in is built once per
machine; a lock keeps two processes from building the same one at the same time.
"""
from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from email.utils import formatdate

from provision.errors import ProvisionError
from provision.sandbox.standin import catalog
from provision.sandbox.standin.catalog import canonical
from provision.sandbox.standin.packages import (
    LEGACY_DOCKER_REPOSITORY,
    LEGACY_RUNTIME_REPOSITORY,
    LEGACY_TOOLKIT_REPOSITORY,
    STAND_IN,
    TOOLKIT_REPOSITORY,
    PackageSpec,
)

DEFAULT_CACHE = os.environ.get("PROVISION_STANDIN_CACHE", "/var/cache/provision/standin")
FILES_DIR = os.path.join(os.path.dirname(__file__), "files")
KEYRING_NAME = "nvidia-standin-keyring.gpg"
CUDA_DISTROS = catalog.distros()  # each folder serves its distro's names (catalog/)
LAYOUT_VERSION = "5"  # bump when the layout changes without a change to the hashed files


class StandinError(ProvisionError):
    """The stand-in repository cannot be built or served; the message says what failed."""


class StandinBuildError(StandinError):
    """dpkg-deb or gpg failed while building the stand-in repository."""


def dpkg_architecture() -> str:
    return _run(["dpkg", "--print-architecture"]).strip()


def nvidia_architecture(dpkg_arch: str) -> str:
    """The folder name NVIDIA's CUDA repository uses for a Debian architecture."""
    return {"amd64": "x86_64", "arm64": "sbsa"}.get(dpkg_arch, dpkg_arch)


def cuda_path(distro: str = "debian12", architecture: str | None = None) -> str:
    return f"compute/cuda/repos/{distro}/{nvidia_architecture(architecture or dpkg_architecture())}/"


def toolkit_path(architecture: str | None = None) -> str:
    return f"libnvidia-container/stable/deb/{architecture or dpkg_architecture()}/"


LEGACY_FOLDERS = {  # the folders nvidia-docker.list names, before its `$(ARCH)`
    LEGACY_TOOLKIT_REPOSITORY: "libnvidia-container/stable/ubuntu18.04/",
    LEGACY_RUNTIME_REPOSITORY: "nvidia-container-runtime/stable/ubuntu18.04/",
    LEGACY_DOCKER_REPOSITORY: "nvidia-docker/ubuntu18.04/",
}
EMPTY_ON_PURPOSE = (LEGACY_RUNTIME_REPOSITORY, LEGACY_DOCKER_REPOSITORY)
ARCHIVE_PATH = "ubuntu/"  # below the base, as archive.ubuntu.com serves /ubuntu/
ARCHIVE_COMPONENT = "restricted"
WRAPPER_PATH = "NVIDIA/nvidia-docker/master/nvidia-docker"  # raw.githubusercontent.com's path of it


def input_hash(architecture: str) -> str:
    """Hash of everything a build reads: payload files, the catalog's data and code, this builder."""
    digest = hashlib.sha256(f"{LAYOUT_VERSION}\n{architecture}\n".encode())
    here = os.path.dirname(os.path.abspath(__file__))
    sources = [os.path.join(FILES_DIR, name) for name in sorted(os.listdir(FILES_DIR))]
    sources.append(os.path.abspath(catalog.DATA_PATH))
    catalog_dir = os.path.join(here, "catalog")
    sources += [os.path.join(catalog_dir, name) for name in sorted(os.listdir(catalog_dir)) if name.endswith(".py")]
    sources += [os.path.join(here, "packages.py"), os.path.abspath(__file__)]
    for path in sources:
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(handle.read() + b"\0")
    return digest.hexdigest()[:16]


def build_repository(destination: str = DEFAULT_CACHE) -> str:
    """The path of a complete stand-in repository under `destination`, built now if not cached."""
    architecture = dpkg_architecture()
    final = os.path.join(destination, input_hash(architecture))
    if os.path.exists(os.path.join(final, ".complete")):
        return final
    os.makedirs(destination, exist_ok=True)
    with open(os.path.join(destination, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(final, ".complete")):
            return final  # another process built it while this one waited
        work = tempfile.mkdtemp(prefix=".build-", dir=destination)
        try:
            _build(work, architecture)
            os.chmod(work, 0o755)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return final


# ---- building -----------------------------------------------------------------------------------
def _run(command: list[str], **options) -> str:
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        raise StandinBuildError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def _run_binary(command: list[str]) -> bytes:
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        raise StandinBuildError(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _build(root: str, architecture: str) -> None:
    pool = os.path.join(root, "pool")
    built: dict[str, list[str]] = {}
    for number, spec in enumerate(catalog.all_packages()):
        # one folder per spec: the same name and version may be two packages (Debian's, Ubuntu's)
        deb = build_deb(spec, architecture, os.path.join(pool, str(number)))
        for repository in spec.repositories:
            built.setdefault(repository, []).append(deb)
    folders = {distro: os.path.join(root, cuda_path(distro, architecture)) for distro in CUDA_DISTROS}
    folders[TOOLKIT_REPOSITORY] = os.path.join(root, toolkit_path(architecture))
    for repository, folder in LEGACY_FOLDERS.items():
        folders[repository] = os.path.join(root, folder, architecture)
    archives = {canonical.archive_repository(codename): release for codename, release in canonical.releases().items()}
    with _throwaway_gnupg() as gnupg:
        _run(_gpg(gnupg, "--quick-generate-key", "provision stand-in repository (STAND-IN for tests: not NVIDIA) "
                  "<standin@provision.invalid>", "ed25519", "sign", "never"))
        keyring = _run_binary(_gpg(gnupg, "--export"))
        armored = _run(_gpg(gnupg, "--armor", "--export"))
        for repository, folder in folders.items():
            os.makedirs(folder)
            # served empty on purpose: the frozen folders whose packages apt never picks (catalog.yaml)
            debs = built.get(repository, []) if repository in EMPTY_ON_PURPOSE else built[repository]
            for deb in debs:  # the same file in several folders is a hard link, not a copy
                os.link(deb, os.path.join(folder, os.path.basename(deb)))
            _write(os.path.join(folder, KEYRING_NAME), keyring)
            label = STAND_IN
            if repository in CUDA_DISTROS:
                # NVIDIA's pin file (here, and in cuda-keyring: keyring.py) matches the CUDA
                # repositories by their Release's label, so the stand-in's carries NVIDIA's
                label = catalog.load()["pin"]["release_label"]
                _write(os.path.join(folder, f"cuda-{repository}.pin"), catalog.load()["pin"]["text"].encode())
            _publish_flat(folder, architecture, gnupg, label)
        for repository, release in archives.items():
            _publish_archive(os.path.join(root, ARCHIVE_PATH), release, built[repository], architecture, gnupg)
    shutil.rmtree(pool)
    _write(os.path.join(root, KEYRING_NAME), keyring)
    _write(os.path.join(root, "nvidia-standin-keyring.asc"), armored.encode())
    _write(os.path.join(root, "libnvidia-container", "gpgkey"), armored.encode())
    _write(os.path.join(root, "nvidia-docker", "gpgkey"), armored.encode())
    with open(os.path.join(FILES_DIR, "nvidia-docker")) as handle:
        _write(os.path.join(root, WRAPPER_PATH), handle.read().encode(), 0o755)
    cuda = "".join(f"CUDA repository ({distro}): /{cuda_path(distro, architecture)}\n" for distro in CUDA_DISTROS)
    _write(os.path.join(root, "README.txt"), (
        f"{STAND_IN}.\nprovision's stand-in vendor repository, built from provision's own files for\n"
        "tests on hosts without a GPU. The packages carry NVIDIA's names and versions and simulate\n"
        f"their behaviour.\n\n{cuda}Container toolkit: /{toolkit_path(architecture)}\n"
        "Legacy nvidia-docker lists: /nvidia-docker/<ID><VERSION_ID>/nvidia-docker.list\n"
        f"Ubuntu's archive, {ARCHIVE_COMPONENT} (Canonical's -server drivers): /{ARCHIVE_PATH} "
        f"{' '.join(release['suite'] for release in archives.values())} {ARCHIVE_COMPONENT}\n"
        f"Keyring (signed-by): /{KEYRING_NAME}\n").encode())
    _write(os.path.join(root, ".complete"), b"")


def build_deb(spec: PackageSpec, architecture: str, destination: str) -> str:
    """One .deb from a package spec; returns its path."""
    work = tempfile.mkdtemp(prefix="standin-deb-")
    try:
        control_dir = os.path.join(work, "DEBIAN")
        os.makedirs(control_dir, mode=0o755)
        size = 0
        for file in spec.files:
            data = render_file(file.source, spec)
            _write(os.path.join(work, file.destination.lstrip("/")), data, file.mode)
            size += len(data)
        doc = f"/usr/share/doc/{spec.name}/README.STAND-IN"
        _write(os.path.join(work, doc.lstrip("/")),
               f"{STAND_IN}: {spec.name} {spec.version} ({spec.summary}).\n".encode())
        _write(os.path.join(control_dir, "control"), spec.control(architecture, max(1, size // 1024)).encode())
        conffiles = [file.destination for file in spec.files if file.conffile]
        if conffiles:
            _write(os.path.join(control_dir, "conffiles"), ("\n".join(conffiles) + "\n").encode())
        for script, source in spec.scripts.items():
            _write(os.path.join(control_dir, script), render_file(source, spec), 0o755)
        for folder, _subfolders, _files in os.walk(work):
            os.chmod(folder, 0o755)
        os.makedirs(destination, exist_ok=True)
        deb = os.path.join(destination, f"{spec.name}_{spec.version}_{spec.architecture or architecture}.deb")
        _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", work, deb])
        return deb
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render_file(source: str, spec: PackageSpec) -> bytes:
    """A payload file with the package's @NAME@ placeholders filled in; none may be left."""
    with open(os.path.join(FILES_DIR, source)) as handle:
        text = handle.read()
    for name, value in spec.substitutions.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z][A-Z_]*@", text)
    if left:
        raise StandinBuildError(f"{spec.name}: {source} has unfilled placeholders {sorted(set(left))}")
    return text.encode()


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


# ---- indexes and signatures ---------------------------------------------------------------------
def _publish_flat(folder: str, architecture: str, gnupg: str, label: str) -> None:
    """Packages, Release, InRelease and Release.gpg of a flat repository (`deb URL /`)."""
    debs = [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".deb")]
    index = "\n".join(_stanza(deb, f"./{os.path.basename(deb)}") for deb in debs).encode()
    files = {"Packages": index, "Packages.gz": gzip.compress(index, mtime=0)}
    for name, data in files.items():
        _write(os.path.join(folder, name), data)
    fields = ["Origin: provision-standin", f"Label: {label}", f"Date: {formatdate(usegmt=True)}",
              f"Architectures: {architecture}"]
    _sign_release(folder, fields, files, gnupg)


def _publish_archive(archive: str, release: dict, debs: list[str], architecture: str, gnupg: str) -> None:
    """One suite of a dists/ archive (`deb URL <suite> restricted`): the .debs in pool/, the
    component's Packages, and a signed Release naming the suite and codename as Ubuntu's do."""
    suite = release["suite"]
    binary = f"{ARCHIVE_COMPONENT}/binary-{architecture}"
    stanzas = []
    for deb in sorted(debs, key=os.path.basename):
        name = os.path.basename(deb)
        relative = f"pool/{ARCHIVE_COMPONENT}/{name[0]}/{name.split('_', 1)[0]}/{name}"
        if not os.path.exists(os.path.join(archive, relative)):
            os.makedirs(os.path.dirname(os.path.join(archive, relative)), exist_ok=True)
            os.link(deb, os.path.join(archive, relative))
        stanzas.append(_stanza(deb, relative))
    index = "\n".join(stanzas).encode()
    files = {f"{binary}/Packages": index, f"{binary}/Packages.gz": gzip.compress(index, mtime=0)}
    dists = os.path.join(archive, "dists", suite)
    for name, data in files.items():
        _write(os.path.join(dists, name), data)
    fields = ["Origin: Ubuntu", "Label: Ubuntu", f"Suite: {suite}", f"Version: {release['version']}",
              f"Codename: {suite.split('-')[0]}", f"Date: {formatdate(usegmt=True)}",
              f"Architectures: {architecture}", f"Components: {ARCHIVE_COMPONENT}",
              f"Description: {STAND_IN}: Ubuntu's archive, {ARCHIVE_COMPONENT} (Canonical's NVIDIA -server drivers)"]
    _sign_release(dists, fields, files, gnupg)


def _stanza(deb: str, filename: str) -> str:
    control = _run(["dpkg-deb", "-f", deb])
    with open(deb, "rb") as handle:
        data = handle.read()
    return (control.rstrip("\n") + f"\nFilename: {filename}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n")


def _sign_release(folder: str, fields: list[str], files: dict[str, bytes], gnupg: str) -> None:
    """Release (the fields, then each index's hashes), its clearsigned InRelease and Release.gpg."""
    release = [*fields, "MD5Sum:"]
    release += [f" {hashlib.md5(data).hexdigest()} {len(data)} {name}" for name, data in files.items()]
    release.append("SHA256:")
    release += [f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}" for name, data in files.items()]
    release_path = os.path.join(folder, "Release")
    _write(release_path, ("\n".join(release) + "\n").encode())
    _run(_gpg(gnupg, "--clearsign", "--output", os.path.join(folder, "InRelease"), release_path))
    _run(_gpg(gnupg, "--detach-sign", "--output", os.path.join(folder, "Release.gpg"), release_path))


def _gpg(gnupg: str, *args: str) -> list[str]:
    return ["gpg", "--homedir", gnupg, "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback",
            "--passphrase", "", *args]


class _throwaway_gnupg:
    """A GNUPGHOME that exists for one build; its agent is stopped and the key thrown away."""

    def __enter__(self) -> str:
        # A short path: gpg-agent's socket path must fit in a sockaddr_un.
        self.home = tempfile.mkdtemp(prefix="standin-gpg-", dir="/tmp")
        os.chmod(self.home, 0o700)
        return self.home

    def __exit__(self, *exc) -> None:
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)

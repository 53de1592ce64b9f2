"""A tiny apt repository built on this machine and served over HTTP to sandbox hosts.

Sandbox hosts have no route to the internet, so apt tests (and later a stand-in vendor repo) use
fake packages: `dpkg-deb --build` makes each .deb, the indexes (Packages, Release and, when signed,
InRelease) are written here in Python, and a thread serves the folder on the sandbox's gateway.
Only dpkg-deb (always there with dpkg) and, for a signed repository, gpg are needed.

    with AptRepo(sandbox.gateway) as repo:
        repo.add("hello", "1.0")
        repo.publish()
        repo.source_line()  # 'deb [trusted=yes] http://10.244.1.1:PORT/ stable main'
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from email.utils import formatdate
from functools import partial


@dataclass
class FakePackage:
    name: str
    version: str
    depends: str = ""
    preinst: str = ""  # shell run before unpacking (a slow one holds the dpkg lock)
    architecture: str = "all"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


class AptRepo:
    """A repository with one suite and one component; `publish()` after adding packages."""

    def __init__(self, address: str, suite: str = "stable", component: str = "main", signed: bool = False):
        self.address = address
        self.suite = suite
        self.component = component
        self.signed = signed
        self.root = tempfile.mkdtemp(prefix="aptrepo-")
        self.architecture = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                                           text=True, check=True).stdout.strip()
        self.packages: list[FakePackage] = []
        self.public_key = ""  # armored public key, set when signed
        self._gnupg_home = ""
        self._server: http.server.ThreadingHTTPServer | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> AptRepo:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        handler = partial(_QuietHandler, directory=self.root)
        self._server = http.server.ThreadingHTTPServer((self.address, 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        if self.signed:
            self._make_key()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        shutil.rmtree(self.root, ignore_errors=True)
        if self._gnupg_home:
            shutil.rmtree(self._gnupg_home, ignore_errors=True)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the repository first"
        return f"http://{self.address}:{self._server.server_address[1]}/"

    def source_line(self) -> str:
        options = "" if self.signed else "[trusted=yes] "
        return f"deb {options}{self.url} {self.suite} {self.component}"

    # ---- content -----------------------------------------------------------------------------
    def add(self, name: str, version: str, **fields) -> FakePackage:
        package = FakePackage(name, version, **fields)
        self._build(package)
        self.packages.append(package)
        return package

    def add_file(self, relative: str, data: bytes) -> str:
        """Any file served by the repository (a key, a download); returns its URL."""
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        return self.url + relative

    def _build(self, package: FakePackage) -> None:
        work = tempfile.mkdtemp(prefix="fakedeb-")
        try:
            os.makedirs(os.path.join(work, "DEBIAN"))
            doc = os.path.join(work, "usr", "share", "doc", package.name)
            os.makedirs(doc)
            with open(os.path.join(doc, "VERSION"), "w") as handle:
                handle.write(package.version + "\n")
            control = [f"Package: {package.name}", f"Version: {package.version}",
                       f"Architecture: {package.architecture}", "Maintainer: provision tests <t@example.invalid>",
                       "Section: misc", "Priority: optional"]
            if package.depends:
                control.append(f"Depends: {package.depends}")
            control.append(f"Description: fake package {package.name} for provision tests")
            with open(os.path.join(work, "DEBIAN", "control"), "w") as handle:
                handle.write("\n".join(control) + "\n")
            if package.preinst:
                script = os.path.join(work, "DEBIAN", "preinst")
                with open(script, "w") as handle:
                    handle.write("#!/bin/sh\n" + package.preinst + "\n")
                os.chmod(script, 0o755)
            pool = os.path.join(self.root, "pool")
            os.makedirs(pool, exist_ok=True)
            deb = os.path.join(pool, f"{package.name}_{package.version}_{package.architecture}.deb")
            subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", work, deb],
                           check=True, capture_output=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # ---- indexes -----------------------------------------------------------------------------
    def publish(self) -> None:
        """Write Packages, Packages.gz, Release (and InRelease when signed) for what was added."""
        stanzas = []
        pool = os.path.join(self.root, "pool")
        for name in sorted(os.listdir(pool)) if os.path.isdir(pool) else []:
            path = os.path.join(pool, name)
            control = subprocess.run(["dpkg-deb", "-f", path], capture_output=True, text=True, check=True).stdout
            data = open(path, "rb").read()
            stanzas.append(control.rstrip("\n") + f"\nFilename: pool/{name}\nSize: {len(data)}\n"
                           f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n")
        index = "\n".join(stanzas).encode()
        dists = os.path.join(self.root, "dists", self.suite)
        binary = os.path.join(dists, self.component, f"binary-{self.architecture}")
        os.makedirs(binary, exist_ok=True)
        files = {f"{self.component}/binary-{self.architecture}/Packages": index,
                 f"{self.component}/binary-{self.architecture}/Packages.gz": gzip.compress(index, mtime=0)}
        for relative, data in files.items():
            with open(os.path.join(dists, relative), "wb") as handle:
                handle.write(data)
        release = [f"Origin: provision-tests", f"Label: provision-tests", f"Suite: {self.suite}",
                   f"Codename: {self.suite}", f"Date: {formatdate(usegmt=True)}",
                   f"Architectures: {self.architecture}", f"Components: {self.component}", "SHA256:"]
        release += [f" {hashlib.sha256(data).hexdigest()} {len(data)} {relative}" for relative, data in files.items()]
        release_path = os.path.join(dists, "Release")
        with open(release_path, "w") as handle:
            handle.write("\n".join(release) + "\n")
        if self.signed:
            in_release = os.path.join(dists, "InRelease")
            if os.path.exists(in_release):
                os.unlink(in_release)
            self._gpg("--clearsign", "--output", in_release, release_path)

    # ---- signing -----------------------------------------------------------------------------
    def _gpg(self, *args: str) -> str:
        result = subprocess.run(["gpg", "--homedir", self._gnupg_home, "--batch", "--yes", "--pinentry-mode",
                                 "loopback", "--passphrase", "", *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"gpg {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def _make_key(self) -> None:
        self._gnupg_home = tempfile.mkdtemp(prefix="aptrepo-gpg-")
        os.chmod(self._gnupg_home, 0o700)
        self._gpg("--quick-generate-key", "provision tests <repo@example.invalid>", "ed25519", "sign", "never")
        self.public_key = self._gpg("--armor", "--export")

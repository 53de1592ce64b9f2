"""Run the stand-in tools on this machine against a fake root folder, without a sandbox host.

The tools read every path under $NVIDIA_STANDIN_ROOT, so a test gives them a folder holding
etc/nvidia-standin/gpus.json, a boot id and whatever the packages would have written.
"""
from __future__ import annotations

import os
import subprocess

from provision.sandbox.standin import catalog
from provision.sandbox.standin.catalog import toolkit
from provision.sandbox.standin.gpus import load_description, seed_files
from provision.sandbox.standin.packages import PackageSpec
from provision.sandbox.standin.repository import FILES_DIR, render_file


class FakeRoot:
    def __init__(self, folder: str, profile: str | None = "h100x8", branch: str = "580", distro: str = "debian12"):
        self.folder = str(folder)
        self.boot = 0
        self.reboot()
        if profile:
            for path, data in seed_files(load_description(profile)).items():
                self.write(path, data)
        version = catalog.driver_branch(branch, distro).version
        self.packages = {package.name: package for package in catalog.distro_packages(distro) if package.version == version}
        smi = next(package for package in self.packages.values()
                   if any(file.destination == "/usr/bin/nvidia-smi" for file in package.files))
        base = next(package for package in toolkit.toolkit_packages(toolkit.versions()[0])
                    if package.name == "nvidia-container-toolkit-base")
        self.tools = {"nvidia-smi": self._install("/usr/bin/nvidia-smi", "nvidia-smi", smi),
                      "nvidia-ctk": self._install("/usr/bin/nvidia-ctk", "nvidia-ctk", base)}

    def install_file(self, package: str, destination: str) -> str:
        """One file of a catalog package, rendered as the .deb would install it; returns its path here."""
        spec = self.packages[package]
        file = next(file for file in spec.files if file.destination == destination)
        return self._install(destination, file.source, spec)

    def _install(self, destination: str, source: str, spec: PackageSpec) -> str:
        self.write(destination, render_file(source, spec))
        return os.path.join(self.folder, destination.lstrip("/"))

    def write(self, path: str, data: bytes | str) -> None:
        target = os.path.join(self.folder, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)

    def read(self, path: str) -> str:
        with open(os.path.join(self.folder, path.lstrip("/"))) as handle:
            return handle.read()

    def reboot(self) -> None:
        """A new boot id and an empty /run, as a restarted host has."""
        self.boot += 1
        self.write("/proc/sys/kernel/random/boot_id", f"boot-{self.boot}\n")
        subprocess.run(["rm", "-rf", os.path.join(self.folder, "run")], check=True)

    def install_module(self, version: str, flavour: str = "open") -> None:
        """What the kernel-module package's postinst does on configure."""
        self.module("record", version, flavour)

    def module(self, *args: str) -> subprocess.CompletedProcess:
        return self._run([os.path.join(FILES_DIR, "nvidia-standin-module"), *args])

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return self._run(["perl", self.tools[tool], *args])

    def sh(self, path: str, *args: str) -> subprocess.CompletedProcess:
        """A shell script installed under this root (an init script, say)."""
        return self._run(["sh", os.path.join(self.folder, path.lstrip("/")), *args])

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        environment = dict(os.environ, NVIDIA_STANDIN_ROOT=self.folder, NVIDIA_STANDIN_PERL5LIB=FILES_DIR,
                           NVIDIA_STANDIN_MODULE=os.path.join(FILES_DIR, "nvidia-standin-module"))
        return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=30)

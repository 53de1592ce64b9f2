"""Run the stand-in tools on this machine against a fake root folder, without a sandbox host.

The tools read every path under $NVIDIA_STANDIN_ROOT, so a test gives them a folder holding
etc/nvidia-standin/gpus.json, a boot id and whatever the packages would have written.
"""
from __future__ import annotations

import os
import subprocess

from provision.standin import packages as catalog
from provision.standin.gpus import load_description, seed_files
from provision.standin.repository import FILES_DIR, render_file


class FakeRoot:
    def __init__(self, folder: str, profile: str | None = "h100x8", branch: str = "580"):
        self.folder = str(folder)
        self.boot = 0
        self.reboot()
        if profile:
            for path, data in seed_files(load_description(profile)).items():
                self.write(path, data)
        driver = next(package for package in catalog.driver_packages(self._branch(branch))
                      if package.name == "nvidia-driver-cuda")
        toolkit = next(package for package in catalog.toolkit_packages() if package.name == "nvidia-container-toolkit-base")
        self.tools = {"nvidia-smi": self._install("nvidia-smi", driver), "nvidia-ctk": self._install("nvidia-ctk", toolkit)}

    @staticmethod
    def _branch(branch: str) -> catalog.DriverBranch:
        return next(candidate for candidate in catalog.DRIVER_BRANCHES if candidate.branch == branch)

    def _install(self, source: str, spec: catalog.PackageSpec) -> str:
        path = os.path.join(self.folder, "usr", "bin", source)
        self.write(path[len(self.folder):], render_file(source, spec))
        return path

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

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        environment = dict(os.environ, NVIDIA_STANDIN_ROOT=self.folder, NVIDIA_STANDIN_PERL5LIB=FILES_DIR,
                           NVIDIA_STANDIN_MODULE=os.path.join(FILES_DIR, "nvidia-standin-module"))
        return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=30)

"""gpu_driver_facts: the NVIDIA driver a host has installed and the one its kernel has loaded. Read-only.

One reading serves preflight, the nvidia_driver role (what to hold), the reboot role (loaded vs
installed) and onboarding, so all of them agree on what "the driver" is:

- loaded: the kernel's own answer, `/sys/module/nvidia/version` (provision/gpu/driver_state.py has
  the one command, with a correct fallback to /proc/driver/nvidia/version);
- installed: every NVIDIA kernel module package dpkg knows (either flavour, any branch), their
  flavour, and which of the `packages` asked about are installed and held.

The easy thing to get wrong: a package name is not a flavour test on its own across distributions
(`nvidia-dkms-580-open`, `nvidia-dkms-open`, `nvidia-kernel-open-dkms`): the open flavour is the one
whose module package name has an "open" part; a package that is only configured-files is not installed.
"""
from __future__ import annotations

from typing import Any

from provision.facts import split_sections
from provision.gpu.driver_state import LOADED_VERSION_COMMAND
from provision.gpu.packages import upstream_version
from provision.gpu.errors import GpuError
from provision.modules.base import Arg, Module
from provision.shell import join
from provision.transport.base import CommandResult

# Kernel module packages of every layout: Ubuntu <= 580 (nvidia-dkms-580[-open]), Ubuntu >= 590
# (nvidia-dkms[-open]), NVIDIA's Debian repo (nvidia-kernel[-open]-dkms), Canonical's signed prebuilt
# modules (linux-modules-nvidia-580-server[-open]-<kernel>).
MODULE_PATTERNS = ("nvidia-dkms*", "nvidia-kernel-dkms", "nvidia-kernel-open-dkms", "linux-modules-nvidia-*")


def driver_state_script(packages: list[str]) -> str:
    """The shell text reading the loaded module and the packages (pure)."""
    query = join(["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Package}|${Version}\\n", *MODULE_PATTERNS,
                  *packages])
    return "\n".join([
        "s() { printf '\\n@@provision:%s@@\\n' \"$1\"; }",
        "s loaded", f"( {LOADED_VERSION_COMMAND} ) 2>/dev/null",
        "s packages", f"{query} 2>/dev/null",
        "s held", "apt-mark showhold 2>/dev/null",
        "s end", "",
    ])


def parse_driver_state(output: str, packages: list[str], version_package: str = "") -> dict[str, Any]:
    """The registered data from the script's output (pure; tests feed it recorded output)."""
    sections = split_sections(output)
    installed: dict[str, str] = {}
    for line in sections.get("packages", "").splitlines():
        parts = line.split("|")
        # Status-Abbrev: wanted, status, error ("ii ", "hi " when held): installed is "i" second
        if len(parts) == 3 and parts[0][1:2] == "i":
            installed[parts[1]] = parts[2]
    held = set(sections.get("held", "").split())
    modules = [{"name": name, "version": version, "flavour": module_flavour(name)}
               for name, version in sorted(installed.items()) if _is_module_package(name)]
    flavours = sorted({module["flavour"] for module in modules})
    wanted_installed = [name for name in packages if name in installed]
    version = installed.get(version_package) or (modules[0]["version"] if len(modules) == 1 else "")
    return {
        "loaded": sections.get("loaded", "").strip(),
        "installed": _upstream(version),
        "installed_full": version,
        "kernel_modules": modules,
        "installed_flavour": flavours[0] if len(flavours) == 1 else ("mixed" if flavours else ""),
        "installed_packages": wanted_installed,
        "held_packages": [name for name in wanted_installed if name in held],
        "versions": {name: installed[name] for name in wanted_installed},
        "complete": "end" in sections,
    }


def module_flavour(package: str) -> str:
    """"open" or "proprietary" for a kernel module package name of any layout."""
    return "open" if "open" in package.split("-") else "proprietary"


def _is_module_package(name: str) -> bool:
    return (name.startswith("nvidia-dkms") or name in ("nvidia-kernel-dkms", "nvidia-kernel-open-dkms")
            or name.startswith("linux-modules-nvidia-"))


def _upstream(version: str) -> str:
    if not version:
        return ""
    try:
        return upstream_version(version)
    except GpuError:
        return version


class GpuDriverFacts(Module):
    name = "gpu_driver_facts"
    read_only = True
    spec = {
        "packages": Arg("list", elements="str", default=[],
                        help="package names to report as installed / held (e.g. the driver plan's hold list)"),
        "version_package": Arg("str", default="",
                               help="the package whose upstream version is the installed driver"),
    }

    def read_command(self) -> str | None:
        return driver_state_script(list(self.args["packages"] or []))

    def parse(self, result: CommandResult | None) -> dict[str, Any]:
        return parse_driver_state(result.stdout if result else "", list(self.args["packages"] or []),
                                  self.args["version_package"])

    def result_data(self, current: dict[str, Any], plan: Any) -> dict[str, Any]:
        return current

"""The loaded and the installed NVIDIA driver version: one shell command plus one parser each.

Preflight, the reboot role, verify and onboarding all read these two numbers; they use this module
so that the rule lives in one place. The easy thing to get wrong is the `/proc/driver/nvidia/version`
line. The open kernel module prints `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64
580.95.05  Release Build ...`, so "the first digits after 'Kernel Module'" is the `86` of `x86_64`
(`64` on aarch64). The rule here takes the first whitespace-separated token of the `NVRM version:`
line that is a dotted number, and prefers `/sys/module/nvidia/version`, which holds the bare version.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from provision.gpu.errors import GpuError, VersionFormatError
from provision.gpu.packages import upstream_version

SYS_VERSION_PATH = "/sys/module/nvidia/version"
PROC_VERSION_PATH = "/proc/driver/nvidia/version"

_DOTTED = re.compile(r"^\d+(?:\.\d+)+$")
_NVRM_PREFIX = "NVRM version:"


def loaded_version_command(sys_path: str = SYS_VERSION_PATH, proc_path: str = PROC_VERSION_PATH) -> str:
    """A POSIX sh snippet printing the loaded module's bare version ("580.95.05"), or nothing when no
    nvidia module is loaded. It always exits 0, so "not loaded" is an empty answer, not a failure.

    The paths are arguments so tests can point them at files; callers use LOADED_VERSION_COMMAND.
    """
    sys_file, proc_file = shlex.quote(sys_path), shlex.quote(proc_path)
    # awk (POSIX, in every base image) applies parse_nvrm_version's rule: first dotted-number field.
    awk_program = (
        "/^NVRM version:/ { for (i = 3; i <= NF; i++) "
        "if ($i ~ /^[0-9]+(\\.[0-9]+)+$/) { print $i; exit } }"
    )
    return (
        f"if [ -r {sys_file} ] && [ -s {sys_file} ]; then head -n 1 {sys_file}; "
        f"elif [ -r {proc_file} ]; then awk {shlex.quote(awk_program)} {proc_file}; fi; true"
    )


LOADED_VERSION_COMMAND = loaded_version_command()


def parse_nvrm_version(text: str) -> str | None:
    """The driver version in `/proc/driver/nvidia/version` text (or a `/sys/module/nvidia/version`
    value), or None when the text holds none. Only the `NVRM version:` line counts: the file's
    `GCC version:` line holds dotted numbers too."""
    for line in text.splitlines():
        stripped = line.strip()
        if _DOTTED.match(stripped):
            return stripped
        if not stripped.startswith(_NVRM_PREFIX):
            continue
        for token in stripped[len(_NVRM_PREFIX):].split():
            if _DOTTED.match(token):
                return token
    return None


def installed_version_command(packages: Sequence[str]) -> str:
    """A POSIX sh snippet printing the upstream version ("580.95.05") of the first of `packages`
    that dpkg lists as installed (held or not), or nothing when none is. Always exits 0.

    Give the plan's `version_package` first, then fallbacks (e.g. the other flavour's module).
    """
    if not packages:
        raise GpuError("installed_version_command needs at least one package name")
    names = " ".join(shlex.quote(name) for name in packages)
    status_format = shlex.quote("${db:Status-Abbrev}${Version}\\n")
    # Status-Abbrev is three characters; an installed package has "i" second ("ii ", "hi ").
    return (
        f"for package in {names}; do "
        f"line=$(dpkg-query -W -f={status_format} \"$package\" 2>/dev/null | head -n 1); "
        "case \"$line\" in ?i*) version=${line#???}; version=${version#*:}; "
        "echo \"${version%%-*}\"; break;; esac; done; true"
    )


def parse_installed_version(output: str) -> str | None:
    """The installed version printed by installed_version_command (or a raw dpkg version such as
    "1:580.95.05-1"), or None for empty output."""
    first = output.strip().splitlines()[0].strip() if output.strip() else ""
    if not first:
        return None
    try:
        return upstream_version(first)
    except VersionFormatError:
        return None


def versions_match(loaded: str | None, installed: str | None) -> bool:
    """Whether the loaded module is the installed driver (both known and equal upstream versions).
    Unknown on either side is not a match: the caller decides whether that means "reboot" or "skip"."""
    if not loaded or not installed:
        return False
    return upstream_version(loaded) == upstream_version(installed)

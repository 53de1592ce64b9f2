"""The loaded/installed driver version: the NVRM line rule (the 86/64 regression) in Python and in sh."""
from __future__ import annotations

import os
import subprocess

import pytest

from provision.gpu.driver_state import (
    LOADED_VERSION_COMMAND,
    installed_version_command,
    loaded_version_command,
    parse_installed_version,
    parse_nvrm_version,
    versions_match,
)

# Real /proc/driver/nvidia/version contents, verbatim from public repositories (found with a
# code search for each prefix); the GCC line is kept where the source had it.
REAL_LINES = [
    pytest.param(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  555.42.02  Release Build  "
        "(dvs-builder@U16-I3-A03-02-4)  Mon May 13 17:10:33 UTC 2024\n"
        "GCC version:  gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04)\n",
        "555.42.02", id="open-x86_64"),
    pytest.param(
        "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.144.03  Release Build  "
        "(dvs-builder@U16-I2-C01-12-4)  Mon Dec 30 17:33:24 UTC 2024\n"
        "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n",
        "550.144.03", id="open-aarch64"),
    pytest.param(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.161.08  Tue Mar  5 22:42:15 UTC 2024\n"
        "GCC version:  gcc version 9.4.0 (Ubuntu 9.4.0-1ubuntu1~20.04.2)\n",
        "535.161.08", id="proprietary-x86_64"),
    pytest.param(
        "NVRM version: NVIDIA UNIX aarch64 Kernel Module  550.120  Fri Sep 13 11:01:10 UTC 2024\n",
        "550.120", id="proprietary-aarch64-two-part"),
    pytest.param(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release Build  (VirtualGPU)\n",
        "560.35.03", id="open-x86_64-vgpu"),
    pytest.param(
        "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64 550.90.07\n",
        "550.90.07", id="open-aarch64-single-space-at-end"),
]

NO_VERSION = [
    pytest.param("", id="empty"),
    pytest.param("GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n", id="gcc-line-only"),
    pytest.param("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64\n", id="no-number"),
]

OLD_SED = r"s/.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p"


def run_sh(command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("text, version", REAL_LINES)
def test_parse_nvrm_version_reads_real_lines(text, version):
    assert parse_nvrm_version(text) == version


@pytest.mark.parametrize("text", NO_VERSION)
def test_parse_nvrm_version_says_none_without_a_version(text):
    assert parse_nvrm_version(text) is None


def test_parse_nvrm_version_takes_a_bare_sys_value():
    assert parse_nvrm_version("580.95.05\n") == "580.95.05"


@pytest.mark.parametrize("text, wrong", [
    ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build\n", "86"),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.95.05  Release Build\n", "64"),
])
def test_the_old_sed_is_the_bug_and_the_new_command_is_not(tmp_path, text, wrong):
    proc = tmp_path / "version"
    proc.write_text(text)
    assert run_sh(f"sed -n '{OLD_SED}' {proc}").stdout.strip() == wrong
    command = loaded_version_command(sys_path=str(tmp_path / "absent"), proc_path=str(proc))
    assert run_sh(command).stdout.strip() == "580.95.05"


@pytest.mark.parametrize("text, version", REAL_LINES)
def test_shell_fallback_reads_real_lines_like_the_parser(tmp_path, text, version):
    proc = tmp_path / "version"
    proc.write_text(text)
    result = run_sh(loaded_version_command(sys_path=str(tmp_path / "absent"), proc_path=str(proc)))
    assert (result.returncode, result.stdout) == (0, version + "\n")


@pytest.mark.parametrize("text", NO_VERSION)
def test_shell_fallback_prints_nothing_without_a_version(tmp_path, text):
    proc = tmp_path / "version"
    proc.write_text(text)
    result = run_sh(loaded_version_command(sys_path=str(tmp_path / "absent"), proc_path=str(proc)))
    assert (result.returncode, result.stdout) == (0, "")


def test_sys_module_version_wins_over_proc(tmp_path):
    sys_file, proc = tmp_path / "sys", tmp_path / "proc"
    sys_file.write_text("580.95.05\n")
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.161.08  Tue Mar  5 2024\n")
    assert run_sh(loaded_version_command(str(sys_file), str(proc))).stdout == "580.95.05\n"


def test_no_module_loaded_prints_nothing_and_succeeds(tmp_path):
    result = run_sh(loaded_version_command(str(tmp_path / "a"), str(tmp_path / "b")))
    assert (result.returncode, result.stdout) == (0, "")


def test_paths_with_spaces_are_quoted(tmp_path):
    folder = tmp_path / "with space; echo pwned"
    folder.mkdir()
    (folder / "v").write_text("580.95.05\n")
    result = run_sh(loaded_version_command(str(folder / "v"), str(folder / "p")))
    assert result.stdout == "580.95.05\n"


def test_default_command_names_the_real_paths():
    assert "/sys/module/nvidia/version" in LOADED_VERSION_COMMAND
    assert "/proc/driver/nvidia/version" in LOADED_VERSION_COMMAND


FAKE_DPKG_QUERY = r"""#!/bin/sh
# Stand-in for dpkg-query -W -f=FORMAT PACKAGE: answers from $FAKE_DPKG (lines "name status version").
package=$3
line=$(grep "^$package " "$FAKE_DPKG") || { echo "dpkg-query: no packages found matching $package" >&2; exit 1; }
set -- $line
printf '%s %s\n' "$2" "$3"   # Status-Abbrev ("ii ") then Version, as dpkg prints them
"""


@pytest.fixture
def fake_dpkg(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "dpkg-query"
    script.write_text(FAKE_DPKG_QUERY)
    script.chmod(0o755)
    database = tmp_path / "dpkg"

    def run(entries: list[str], packages: list[str]) -> subprocess.CompletedProcess:
        database.write_text("".join(f"{entry}\n" for entry in entries))
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DPKG": str(database)}
        return run_sh(installed_version_command(packages), env)
    return run


@pytest.mark.parametrize("entries, packages, printed", [
    pytest.param(["nvidia-dkms-580-open ii 580.95.05-0ubuntu1"], ["nvidia-dkms-580-open"], "580.95.05",
                 id="ubuntu-revision"),
    pytest.param(["nvidia-kernel-open-dkms hi 1:580.95.05-1"], ["nvidia-kernel-open-dkms"], "580.95.05",
                 id="held-with-epoch"),
    pytest.param(["nvidia-dkms-580-open rc 575.57.08-0ubuntu1", "nvidia-dkms-580 ii 580.82.07-0ubuntu1"],
                 ["nvidia-dkms-580-open", "nvidia-dkms-580"], "580.82.07", id="removed-first-skipped"),
    pytest.param([], ["nvidia-dkms-580-open", "nvidia-dkms-580"], "", id="none-installed"),
])
def test_installed_version_command(fake_dpkg, entries, packages, printed):
    result = fake_dpkg(entries, packages)
    assert (result.returncode, result.stdout.strip()) == (0, printed)


@pytest.mark.parametrize("output, version", [
    ("580.95.05\n", "580.95.05"), ("1:580.95.05-1", "580.95.05"), ("", None), ("  \n", None), ("garbage", None),
])
def test_parse_installed_version(output, version):
    assert parse_installed_version(output) == version


@pytest.mark.parametrize("loaded, installed, same", [
    ("580.95.05", "580.95.05-0ubuntu1", True), ("580.95.05", "580.82.07", False),
    (None, "580.95.05", False), ("580.95.05", "", False),
])
def test_versions_match(loaded, installed, same):
    assert versions_match(loaded, installed) is same


def test_installed_version_command_needs_a_package():
    from provision.gpu import GpuError
    with pytest.raises(GpuError):
        installed_version_command([])

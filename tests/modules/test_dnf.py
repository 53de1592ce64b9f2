"""dnf as data: given what rpm and dnf print, expect these commands (no RHEL host in the sandbox)."""
import pytest

from provision.modules.dnf import parse_list, parse_rpm
from provision.transport.base import CommandResult
from tests.conftest import run_module
from tests.support.fakehost import FakeContext, ok


def sections(rpm="", upgrades="", available=""):
    return ("\n@@provision:rpm@@\n" + rpm + "\n@@provision:upgrades@@\n" + upgrades
            + "\n@@provision:available@@\n" + available + "\n@@provision:end@@\n")


RPM_OUTPUT = "kernel-devel\t0:5.14.0-362.el9\tx86_64\npackage nvidia-driver is not installed\n"
UPGRADES = "Available Upgrades\nkernel-devel.x86_64    5.14.0-427.el9    baseos\n"
AVAILABLE = ("Available Packages\nnvidia-driver.x86_64  3:550.54.14-1.el9  cuda\n"
             "nvidia-driver.x86_64  3:550.54.15-1.el9  cuda\nnvidia-driver.x86_64  3:555.42.02-1.el9  cuda\n")


def run(args, output, check=False):
    context = FakeContext([("s() {", ok(output))], check=check)
    result = run_module("dnf", args, context)
    return result, context.commands[1:]


def test_parsers_ignore_noise_and_epochs():
    assert parse_rpm(RPM_OUTPUT) == {"kernel-devel": "5.14.0-362.el9"}
    assert parse_list(AVAILABLE)["nvidia-driver"] == ["550.54.14-1.el9", "550.54.15-1.el9", "555.42.02-1.el9"]


def test_read_is_one_command_with_refresh_and_repos():
    context = FakeContext([("s() {", ok(sections()))], check=True)
    run_module("dnf", {"name": ["nvidia-driver=550.*"], "update_cache": True, "enablerepo": ["cuda"]}, context)
    assert len(context.commands) == 1
    assert "dnf -q --refresh --enablerepo=cuda list --showduplicates --available nvidia-driver" in context.commands[0]


@pytest.mark.parametrize("args, output, expected", [
    ({"name": ["nvidia-driver=550.*"]}, sections(RPM_OUTPUT, available=AVAILABLE),
     ["dnf -y install nvidia-driver-550.54.15-1.el9"]),
    ({"name": ["kernel-devel", "nvidia-driver"], "disable_gpg_check": True}, sections(RPM_OUTPUT),
     ["dnf -y --nogpgcheck install nvidia-driver"]),
    ({"name": ["kernel-devel"], "state": "latest"}, sections(RPM_OUTPUT, UPGRADES), ["dnf -y upgrade kernel-devel"]),
    ({"name": ["kernel-devel", "nvidia-driver"], "state": "absent"}, sections(RPM_OUTPUT),
     ["dnf -y remove kernel-devel"]),
    ({"name": ["kernel-devel"], "install_weak_deps": False, "state": "latest"}, sections(RPM_OUTPUT, ""), []),
    # DeepOps' nvidia-dgx role (EL8+): `nobest: yes`, `allowerasing: yes`
    ({"name": ["nvidia-driver"], "allowerasing": True, "nobest": True}, sections(RPM_OUTPUT),
     ["dnf -y --allowerasing --nobest install nvidia-driver"]),
    ({"name": ["nvidia-driver"], "nobest": False}, sections(RPM_OUTPUT), ["dnf -y --best install nvidia-driver"]),
])
def test_commands(args, output, expected):
    result, commands = run(args, output)
    assert commands == expected
    assert result.status == ("changed" if expected else "ok")


def test_converged_and_check_mode():
    result, commands = run({"name": ["kernel-devel=5.14.*"]}, sections(RPM_OUTPUT))
    assert result.status == "ok" and commands == []
    checked, commands = run({"name": ["nvidia-driver"]}, sections(RPM_OUTPUT), check=True)
    assert checked.status == "changed" and checked.diff == "install nvidia-driver\n" and commands == []


def test_failures_are_clear():
    result, _ = run({"name": ["nvidia-driver=999.*"]}, sections(RPM_OUTPUT, available=AVAILABLE))
    assert result.status == "failed" and "no version of nvidia-driver matches '999.*'" in result.msg
    refused = CommandResult(1, "", "Error: Unable to find a match: nvidia-driver")
    context = FakeContext([("s() {", ok(sections(RPM_OUTPUT))), ("dnf -y install", refused)])
    failed = run_module("dnf", {"name": ["nvidia-driver"]}, context)
    assert failed.status == "failed" and "Unable to find a match" in failed.msg
    bad, _ = run({"name": ["x; reboot"]}, sections())
    assert bad.status == "failed" and "not a valid package name" in bad.msg


def test_a_pin_with_latest_and_a_missing_name_fail_before_the_host_is_asked():
    pinned, commands = run({"name": ["nvidia-driver=550.*"], "state": "latest"}, sections())
    assert pinned.status == "failed" and "state=latest cannot be used with a version pin (nvidia-driver=550.*)" in pinned.msg
    context = FakeContext([("s() {", ok(sections()))])
    missing = run_module("dnf", {"state": "present"}, context)
    assert missing.status == "failed" and "missing required arguments: name" in missing.msg
    empty = run_module("dnf", {"name": []}, context)
    assert empty.status == "failed" and "dnf: name is required" in empty.msg
    assert context.commands == []


def test_registered_data_has_ansibles_results_and_rc():
    result, _ = run({"name": ["nvidia-driver"]}, sections(RPM_OUTPUT))
    assert result.data["results"] == ["install nvidia-driver"] and result.data["rc"] == 0
    converged, _ = run({"name": ["kernel-devel"]}, sections(RPM_OUTPUT))
    assert converged.data == {"installed": {"kernel-devel": "5.14.0-362.el9"}, "results": []}

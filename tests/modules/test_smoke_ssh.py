"""The module harness itself over real SSH: command runs, check mode skips it."""
import pytest

from tests.conftest import run_module

pytestmark = pytest.mark.sandbox


def test_command_runs_over_ssh_and_check_mode_skips_it(sandbox, module_context):
    result = run_module("command", {"_raw_params": "hostname"}, module_context("host02"))
    assert result.status == "changed"
    assert result.data["stdout"] == "host02"
    checked = run_module("command", {"_raw_params": "touch /root/should-not-exist"}, module_context("host02", check=True))
    assert checked.status == "skipped"
    probe = run_module("stat", {"path": "/root/should-not-exist"}, module_context("host02"))
    assert probe.data["stat"]["exists"] is False

"""ping and setup over real SSH: the host answers (with become too) and facts come back named like
Ansible's. Filtering, retries and refusals are data in test_other_modules_data.py; a wrong become
password is the transport's (tests/transport/test_become_password_lines.py)."""
import pytest

from provision.transport.base import Become
from tests.conftest import run_module

pytestmark = pytest.mark.sandbox


def test_ping_pongs_in_check_mode_and_with_become(sandbox, module_context):
    assert run_module("ping", {}, module_context("host03", check=True)).data == {"ping": "pong"}
    become = Become(user="root", password="sandbox")
    assert run_module("ping", {"data": "x"}, module_context("host03", user="deploy", become=become)).data == {"ping": "x"}


def test_setup_gathers_the_hosts_facts(sandbox, module_context):
    result = run_module("setup", {}, module_context("host02", check=True))
    facts = result.data["ansible_facts"]
    assert result.status == "ok"
    assert facts["ansible_hostname"] == "host02"
    assert (facts["ansible_distribution"], facts["ansible_distribution_major_version"]) == ("Debian", "12")
    assert (facts["ansible_os_family"], facts["ansible_distribution_release"]) == ("Debian", "bookworm")
    assert facts["ansible_pkg_mgr"] == "apt"
    assert facts["ansible_user_id"] == "root" and facts["ansible_user_uid"] == 0
    env = facts["ansible_env"]  # the login's environment, as sshd gives it to every command
    assert (env["USER"], env["HOME"]) == ("root", "/root") and "PATH" in env and "SSH_CONNECTION" in env, env
    assert facts["ansible_memtotal_mb"] > 0 and facts["ansible_processor_nproc"] > 0

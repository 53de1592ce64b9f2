"""Fixtures shared by the suite. The sandbox fixture is the same code as `provision sandbox`.

One session-scoped fleet of plain hosts serves the SSH tests; a test that needs a host as new
asks for `fresh_host`, which throws the host's overlay upper folder away and restarts it.
If the sandbox cannot start, tests that need it fail: the suite never passes by skipping them.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from provision.sandbox import Sandbox

SESSION_HOSTS = int(os.environ.get("PROVISION_TEST_HOSTS", "4"))


def _clean_stale_test_sandboxes() -> None:
    """A killed test run leaves its sandbox behind: stop those whose pytest process is gone."""
    for name in Sandbox.names():
        if name.startswith("pt") and name[2:].split("x")[0].isdigit():
            if not os.path.exists(f"/proc/{name[2:].split('x')[0]}"):
                stale = Sandbox.load(name)
                if stale:
                    stale.down()


@pytest.fixture(scope="session")
def sandbox():
    _clean_stale_test_sandboxes()
    fleet = Sandbox.up(f"pt{os.getpid()}", hosts=SESSION_HOSTS, log=lambda text: None)
    try:
        yield fleet
    finally:
        fleet.down()


@pytest.fixture
def fresh_host(sandbox):
    """host01 of the session fleet, as new: nothing a previous test wrote is left."""
    return sandbox.fresh("host01")


def ssh(sandbox: Sandbox, host: str, command: str, user: str = "root", check: bool = True) -> subprocess.CompletedProcess:
    """Run a command on a sandbox host with the real OpenSSH client and the sandbox's files."""
    result = subprocess.run(["ssh", "-F", sandbox.ssh_config_path, "-l", user, host, command],
                            capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: {command!r} exited {result.returncode}: {result.stderr}")
    return result

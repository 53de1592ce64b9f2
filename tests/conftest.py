"""Fixtures shared by the suite. The sandbox fixture is the same code as `provision sandbox`.

One session-scoped fleet of plain hosts serves the SSH tests; a test that needs a host as new
asks for `fresh_host`, which throws the host's overlay upper folder away and restarts it.
If the sandbox cannot start, tests that need it fail: the suite never passes by skipping them.
"""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager

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


@contextmanager
def throwaway_sandbox(suffix: str, hosts: int = 1, kind: str = "plain", **options):
    """A sandbox of a test module's own, named after this pytest process (so a killed run's is
    cleaned up by `_clean_stale_test_sandboxes`), always stopped. `suffix` must be unique per module."""
    fleet = Sandbox.up(f"pt{os.getpid()}{suffix}", hosts=hosts, kind=kind, log=lambda text: None, **options)
    try:
        yield fleet
    finally:
        fleet.down()


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


def connect(sandbox: Sandbox, host: str = "host01", user: str = "root"):
    """A real SSH transport (provision's own) to a sandbox host, host key checked."""
    from provision.transport.ssh import SSHTransport

    address = sandbox.host(host).address
    return SSHTransport.connect(address, user=user, key_filename=sandbox.key_path,
                                known_hosts_files=[sandbox.known_hosts_path])


@pytest.fixture
def module_context(sandbox):
    """Factory of TaskContexts over real SSH: `module_context(host="host01", check=False, become=None)`.

    Connections are closed at the end of the test. Use `run_module(name, args, context)` to run one.
    """
    from provision.modules.context import TaskContext

    opened = []

    def make(host: str = "host01", check: bool = False, become=None, user: str = "root", **options):
        transport = connect(sandbox, host, user)
        opened.append(transport)
        return TaskContext(transport=transport, check=check, become=become, **options)

    yield make
    for transport in opened:
        transport.close()


def run_module(name: str, args: dict, context):
    """Run a module by name with args on a context and return its ModuleResult."""
    from provision.modules import get_module

    return get_module(name)(dict(args), context).run()


# ---- the run's split: pure tests vs tests on sandbox hosts --------------------------------------

HOST_LANE_FIXTURES = frozenset({"sandbox", "fresh_host", "module_context"})


def pytest_collection_modifyitems(config, items) -> None:
    """A test that uses the session sandbox (directly or through another fixture) is a sandbox
    test whether or not its file says so; the lanes printed at the end rely on it."""
    for item in items:
        if HOST_LANE_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("sandbox"):
            item.add_marker(pytest.mark.sandbox)


def pytest_terminal_summary(terminalreporter) -> None:
    """Time per lane (pure: no host; sandbox: real SSH hosts) and the ten slowest tests, from the
    run's own reports (setup + call + teardown of each test)."""
    spent: dict[str, float] = {}
    lane: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) not in ("setup", "call", "teardown"):
                continue
            spent[report.nodeid] = spent.get(report.nodeid, 0.0) + report.duration
            if "sandbox" in report.keywords:
                lane[report.nodeid] = "sandbox"
            lane.setdefault(report.nodeid, "pure")
    if not spent:
        return
    lines = []
    for name in ("pure", "sandbox"):
        tests = [node for node in spent if lane[node] == name]
        lines.append(f"{name}: {len(tests)} tests, {sum(spent[node] for node in tests):.0f} s")
    terminalreporter.write_sep("=", "lanes: " + "; ".join(lines))
    for node in sorted(spent, key=spent.get, reverse=True)[:10]:
        terminalreporter.write_line(f"{spent[node]:8.1f} s  {lane[node]:7}  {node}")

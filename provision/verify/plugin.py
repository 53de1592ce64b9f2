"""The pytest plugin `provision verify` loads next to testinfra's: host variables and results.

Tests get `provision_vars` (the host's inventory variables over every role's defaults, rendered),
so an assertion reads the same pinned versions the roles installed. Every test outcome is written
to a JSON file the command turns into its summary, JSON and JUnit reports, and announced as it
happens on the events channel (a pipe the parent reads for its live progress: one JSON object per
line, the file descriptor in PROVISION_VERIFY_EVENTS). What a test records with pytest's
`record_property` (the GPU report, for one) travels with its result.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any

import pytest

from provision.verify.hosts import EVENTS_VARIABLE


@functools.lru_cache(maxsize=1)
def _channel():
    descriptor = os.environ.get(EVENTS_VARIABLE)
    return os.fdopen(int(descriptor), "w", buffering=1, encoding="utf-8") if descriptor else None


def send_event(event: dict[str, Any]) -> None:
    """One line to the parent; nothing when the worker runs without a channel (by hand)."""
    channel = _channel()
    if channel is not None:
        try:
            channel.write(json.dumps(event, default=str) + "\n")
        except OSError:  # the parent is gone: the results file still tells
            pass


def host_of(item_or_nodeid) -> str:
    """The testinfra host a test item runs on: its backend's name, else the id's `[scheme://name]`."""
    callspec = getattr(item_or_nodeid, "callspec", None)
    host = callspec.params.get("_testinfra_host") if callspec is not None else None
    if host is not None:
        return host.backend.get_hostname()
    nodeid = getattr(item_or_nodeid, "nodeid", item_or_nodeid)
    if "[" not in nodeid:
        return ""
    spec = nodeid.rsplit("[", 1)[1].rstrip("]")
    return spec.split("://", 1)[-1].split("?", 1)[0]


def _register_backend() -> None:
    """`provision://NAME` in --hosts: provision.verify.backend (testinfra resolves it by name)."""
    import testinfra.backend

    testinfra.backend.BACKENDS.setdefault("provision", "provision.verify.backend.ProvisionBackend")


def pytest_addoption(parser) -> None:
    parser.addoption("--provision-vars", help="JSON file: host name -> variables")
    parser.addoption("--provision-results", help="JSON file the results are written to")


@pytest.fixture
def provision_vars(host, request) -> dict:
    path = request.config.getoption("--provision-vars")
    with open(path, encoding="utf-8") as handle:
        variables = json.load(handle)
    return variables.get(host.backend.get_hostname(), {})


@pytest.fixture
def driver_plan(host, provision_vars):
    """The NVIDIA driver packages this host should have (provision/gpu/data/driver_packages.yaml),
    worked out from the host itself - its os-release, its GPUs as `lspci` lists them - and the
    branch and flavour variables, never from anything a role wrote on the host."""
    from provision.gpu import kernel_module_flavour, parse_lspci, supported_os
    from provision.gpu.packages import driver_package_plan

    info = host.system_info
    support = supported_os(info.distribution, info.release)
    assert support.ok, support.reason
    flavour = provision_vars.get("nvidia_driver_flavour", "auto")
    if flavour == "auto":
        flavour = kernel_module_flavour(parse_lspci(host.run("lspci -Dnn -d 10de:").stdout).gpus)
    return driver_package_plan(support.cuda_repo, provision_vars.get("nvidia_driver_branch", 580), flavour)


class _Results:
    def __init__(self, path: str):
        self.path = path
        self.rows: list[dict] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        if report.when == "teardown" and not report.failed:
            return
        host = host_of(report.nodeid)
        message = ""
        if report.failed:
            message = getattr(report.longrepr, "reprcrash", None)
            message = message.message if message is not None else str(report.longrepr)[-600:]
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        self.rows.append({"nodeid": report.nodeid, "host": host, "file": report.location[0],
                          "line": (report.location[1] or 0) + 1, "test": report.location[2].split("[")[0],
                          "outcome": report.outcome, "when": report.when, "message": message,
                          "duration": round(report.duration, 3),
                          "properties": {str(key): value for key, value in report.user_properties}})
        send_event({"event": "check", "host": host, "outcome": report.outcome})

    def pytest_collection_finish(self, session) -> None:
        counts: dict[str, int] = {}
        for item in session.items:
            host = host_of(item)
            counts[host] = counts.get(host, 0) + 1
        send_event({"event": "collected", "hosts": counts})

    def pytest_sessionfinish(self) -> None:
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self.rows, handle, default=str)
        os.replace(temporary, self.path)


def pytest_configure(config) -> None:
    _register_backend()
    path = config.getoption("--provision-results")
    if path:
        config.pluginmanager.register(_Results(path), "provision-results")

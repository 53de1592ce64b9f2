"""The pytest plugin `provision verify` loads next to testinfra's: host variables and results.

Tests get `provision_vars` (the host's inventory variables over every role's defaults, rendered),
so an assertion reads the same pinned versions the roles installed. Every test outcome is written
to a JSON file the command turns into its summary, JSON and JUnit reports.
"""
from __future__ import annotations

import json
import os

import pytest


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
        host = ""
        if "[" in report.nodeid:
            spec = report.nodeid.rsplit("[", 1)[1].rstrip("]")
            host = spec.split("://", 1)[-1].split("?", 1)[0]
        message = ""
        if report.failed:
            message = getattr(report.longrepr, "reprcrash", None)
            message = message.message if message is not None else str(report.longrepr)[-600:]
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        self.rows.append({"nodeid": report.nodeid, "host": host, "file": report.location[0],
                          "line": (report.location[1] or 0) + 1, "test": report.location[2].split("[")[0],
                          "outcome": report.outcome, "when": report.when, "message": message,
                          "duration": round(report.duration, 3)})

    def pytest_sessionfinish(self) -> None:
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self.rows, handle)
        os.replace(temporary, self.path)


def pytest_configure(config) -> None:
    path = config.getoption("--provision-results")
    if path:
        config.pluginmanager.register(_Results(path), "provision-results")

"""A daemon.json docker will not start with, on one of two docker hosts: the docker role puts the
previous file back, starts docker again and fails that host with the daemon's own error."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.conftest import ssh, throwaway_sandbox
from tests.faults.conftest import flat

pytestmark = [pytest.mark.sandbox, pytest.mark.fault]


@pytest.fixture(scope="module")
def docker_fleet():
    with throwaway_sandbox("xfd", hosts=2, kind="docker", pytorch_image=False) as fleet:
        yield fleet


def test_bad_daemon_json_is_rolled_back(docker_fleet, faults):
    with open(docker_fleet.inventory_path) as handle:
        inventory = yaml.safe_load(handle)  # the sandbox's own: the gpu group's vars fit the docker role
    hosts = inventory["all"]["children"]["sandbox"]["hosts"]
    hosts["host01"]["docker_daemon_extra_options"] = {"bogus-directive": True, "default-ulimits": None}
    broken = os.path.join(faults.folder, "broken.yaml")
    with open(broken, "w") as handle:
        yaml.safe_dump(inventory, handle)
    playbook = faults.playbook("- hosts: gpu\n  roles: [docker]\n")
    before = ssh(docker_fleet, "host01", "cat /etc/docker/daemon.json").stdout

    run = faults.apply(playbook, inventory=broken)
    assert run.code == 2, run.output
    message = run.error("host01", "failed", "the previous one was restored (docker is running again)")
    assert "bogus-directive" in message, "the daemon's own error is named"
    assert "bogus-directive" in flat(run.stdout)
    # dockerd exited on the bad file: the role stops waiting at once, not after docker_health_timeout
    health = [row for row in run.results("host01") if row["task"].endswith("docker answers")]
    assert health and health[0]["output"]["attempts"] <= 2, health
    assert ssh(docker_fleet, "host01", "cat /etc/docker/daemon.json").stdout == before
    left = [name for name in ssh(docker_fleet, "host01", "ls -A /etc/docker").stdout.split()
            if name.startswith(".provision-")]
    assert left == [], "a temp file was left beside daemon.json"
    assert ssh(docker_fleet, "host01", "docker info --format '{{.ServerVersion}}'").returncode == 0
    run.assert_converged("host02")
    assert json.loads(ssh(docker_fleet, "host02", "cat /etc/docker/daemon.json").stdout)["live-restore"] is True
    assert ssh(docker_fleet, "host02", "docker info --format '{{.LiveRestoreEnabled}}'").stdout.strip() == "true"

    again = faults.apply(playbook, inventory=docker_fleet.inventory_path)
    assert again.code == 0, again.output
    assert json.loads(ssh(docker_fleet, "host01", "cat /etc/docker/daemon.json").stdout)["live-restore"] is True

"""The stand-in container toolkit under real dockerd: `--runtime nvidia` and `--gpus all` start
containers on a host without a GPU (the runtime hands over to runc, the hook lets them start)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from provision.sandbox.standin.repository import KEYRING_NAME, build_repository, toolkit_path
from provision.sandbox.standin.serve import StandinServer
from tests.conftest import ssh, throwaway_sandbox

pytestmark = pytest.mark.sandbox

TOOLKIT = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1"]


@pytest.fixture(scope="module")
def docker_fleet():
    with throwaway_sandbox("xst", hosts=1, kind="docker") as fleet:  # xsd is test_sandbox_kinds'
        yield fleet


def test_docker_runs_containers_with_the_nvidia_runtime_and_gpus_all(docker_fleet):
    host = docker_fleet.hosts[0].name
    pushed = subprocess.run([sys.executable, "-m", "provision.cli", "sandbox", "push-image", "--name", docker_fleet.name,
                             "--image", "busybox:sandbox"], capture_output=True, text=True)
    assert pushed.returncode == 0, pushed.stderr
    with StandinServer(build_repository(), docker_fleet.gateway) as server:
        keyring = f"/usr/share/keyrings/{KEYRING_NAME}"
        ssh(docker_fleet, host, f"curl -fsS -o {keyring} {server.url}{KEYRING_NAME} && rm -f /etc/apt/sources.list && "
            f"echo 'deb [signed-by={keyring}] {server.url}{toolkit_path('$(ARCH)')} /' "
            "> /etc/apt/sources.list.d/nvidia-container-toolkit.list && apt-get -q update && "
            "DEBIAN_FRONTEND=noninteractive apt-get -q -y install " + " ".join(f"{name}=1.17.8-1" for name in TOOLKIT))
    before = ssh(docker_fleet, host, "cat /etc/docker/daemon.json 2>/dev/null || echo '{}'").stdout
    ssh(docker_fleet, host, "nvidia-ctk runtime configure --runtime=docker && service docker restart >/dev/null && "
        "for i in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.1; done")
    runtimes = ssh(docker_fleet, host, "docker info -f '{{json .Runtimes}}'").stdout
    assert '"nvidia"' in runtimes, (before, runtimes)

    with_runtime = ssh(docker_fleet, host, "docker run --rm --runtime nvidia busybox:sandbox echo via-nvidia-runtime")
    assert with_runtime.stdout.strip() == "via-nvidia-runtime"
    with_gpus = ssh(docker_fleet, host, "docker run --rm --gpus all busybox:sandbox sh -c 'echo $NVIDIA_VISIBLE_DEVICES'")
    assert with_gpus.stdout.strip() == "all"
    assert "prestart" in ssh(docker_fleet, host, "cat /var/log/nvidia-standin/hook.log").stdout

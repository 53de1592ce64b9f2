"""The sandbox's stand-in `pytorch/pytorch` image: a docker host pulls it under its real name from
the sandbox registry, and CPU torch (and the verification script, when present) runs in it.

The image's layer is built once (minutes) and cached; later runs only push and pull it.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from provision.sandbox import Sandbox
from provision.sandbox.pytorch_image import DEFAULT_TAG, STANDIN_LABEL

pytestmark = pytest.mark.sandbox

GPU_VERIFY = Path(__file__).resolve().parents[1] / "provision" / "gpu" / "payload" / "gpu_check.py"
IMAGE = f"pytorch/pytorch:{DEFAULT_TAG}"


def _ssh(sandbox: Sandbox, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command on host01 (a pull of a few hundred MB takes longer than conftest's minute)."""
    result = subprocess.run(["ssh", "-F", sandbox.ssh_config_path, "host01", command],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command!r} exited {result.returncode}: {result.stderr[-2000:]}"
    return result


def _clean_stale() -> None:
    """A killed run leaves its sandbox behind: stop ours whose pytest process is gone."""
    for name in Sandbox.names():
        pid = name[2:].split("x")[0]
        if name.startswith("pi") and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            stale = Sandbox.load(name)
            if stale:
                stale.down()


@pytest.fixture(scope="module")
def fleet():
    _clean_stale()
    logged: list[str] = []
    sandbox = Sandbox.up(f"pi{os.getpid()}xpt", hosts=1, kind="docker", log=logged.append)
    sandbox.logged = logged
    try:
        yield sandbox
    finally:
        sandbox.down()
        assert not os.path.exists(sandbox.directory)
        assert not os.path.exists(f"/sys/class/net/{sandbox.bridge}")


def test_up_pushes_the_standin_and_a_docker_host_pulls_it_by_its_real_name(fleet):
    assert any(f"pushed the stand-in {IMAGE}" in line for line in fleet.logged), fleet.logged
    pulled = _ssh(fleet, f"docker pull {shlex.quote(IMAGE)}")
    assert f"Status: Downloaded newer image for {IMAGE}" in pulled.stdout
    labels = json.loads(_ssh(fleet, f"docker image inspect -f '{{{{json .Config.Labels}}}}' {IMAGE}").stdout)
    assert labels == STANDIN_LABEL, "the image says it is a stand-in"
    ran = _ssh(fleet, f"docker run --rm --network none {IMAGE} python -c "
                      "'import torch; print(torch.__version__, torch.cuda.is_available())'")
    assert ran.stdout.strip() == "2.13.0+cpu False"
    assert _ssh(fleet, "docker ps -aq").stdout == ""


def test_the_same_tag_pushed_again_is_the_same_image(fleet):
    _ssh(fleet, f"docker image inspect {IMAGE} >/dev/null || docker pull -q {IMAGE}")
    assert fleet.push_pytorch_image(log=lambda text: None) == IMAGE
    digest = _ssh(fleet, f"docker pull {IMAGE}").stdout
    assert "Image is up to date" in digest, "the same image, not a new one"


@pytest.mark.skipif(not GPU_VERIFY.exists(), reason="provision/gpu/payload/gpu_check.py is not written yet")
def test_the_verification_script_runs_in_the_image_and_skips_the_gpu_checks(fleet):
    subprocess.run(["scp", "-q", "-F", fleet.ssh_config_path, str(GPU_VERIFY), "host01:/root/gpu_verify.py"],
                   check=True, timeout=60)
    _ssh(fleet, f"docker image inspect {IMAGE} >/dev/null || docker pull -q {IMAGE}")
    # --ipc=host, as the gpu_verify role starts it: the host's /dev/shm, not Docker's 64 MiB one
    result = subprocess.run(["ssh", "-F", fleet.ssh_config_path, "host01",
                             f"docker run --rm --network none --ipc=host -v /root:/x:ro {IMAGE} "
                             "python /x/gpu_verify.py --json"], capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert report["mode"] == "cpu" and report["host"]["torch"] == "2.13.0+cpu", report["host"]
    assert statuses["cuda_available"] == "skip", statuses
    assert statuses["matmul_cpu"] == "pass", "torch really computed in the container"
    assert statuses["shm_size"] == "pass", "the host's /dev/shm is as big as a real server's"
    gpu_checks = {name: status for name, status in statuses.items() if name not in ("matmul_cpu", "shm_size")}
    assert set(gpu_checks.values()) == {"skip"}, statuses
    assert result.returncode == 0, result.stderr[-2000:]


def test_without_the_local_cpu_wheel_the_build_stops_instead_of_downloading_cuda_torch():
    from provision.errors import SandboxError
    from provision.sandbox.pytorch_image import TorchImageRecipe, _torch_requirement

    with pytest.raises(SandboxError, match="CPU build of torch 0.0.1 is missing.*--no-pytorch-image"):
        _torch_requirement(TorchImageRecipe(torch_version="0.0.1"))
    assert _torch_requirement(TorchImageRecipe()).endswith("+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

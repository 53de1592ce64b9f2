"""Building, caching, signing and serving the stand-in repository (on this machine)."""
from __future__ import annotations

import os
import subprocess
import urllib.request

import pytest

from provision.standin import packages as catalog
from provision.standin.repository import KEYRING_NAME, build_repository, cuda_path, toolkit_path
from provision.standin.serve import StandinServer
from provision.standin.service import StandinService


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    return build_repository(str(tmp_path_factory.mktemp("standin-cache")))


def _packages_index(repository: str, path: str) -> list[dict]:
    with open(os.path.join(repository, path, "Packages")) as handle:
        stanzas = handle.read().strip().split("\n\n")
    parsed = []
    for stanza in stanzas:
        fields = {}
        for line in stanza.splitlines():
            if not line.startswith(" "):
                key, _, value = line.partition(": ")
                fields[key] = value
        parsed.append(fields)
    return parsed


def test_repositories_hold_nvidia_names_and_versions_each_described_as_stand_in(repository):
    cuda = {(entry["Package"], entry["Version"]) for entry in _packages_index(repository, cuda_path())}
    for version in ("580.95.05-1", "550.163.01-1"):
        for name in ("nvidia-open", "cuda-drivers", "nvidia-driver", "nvidia-kernel-open-dkms", "nvidia-kernel-dkms",
                     "nvidia-driver-cuda", "libnvidia-ml1", "nvidia-persistenced", "nvidia-fabricmanager"):
            assert (name, version) in cuda
    toolkit = {(entry["Package"], entry["Version"]) for entry in _packages_index(repository, toolkit_path())}
    assert {("nvidia-container-toolkit", "1.17.8-1"), ("nvidia-container-toolkit-base", "1.17.8-1"),
            ("libnvidia-container-tools", "1.17.8-1"), ("libnvidia-container1", "1.17.8-1")} <= toolkit
    for path in (cuda_path(), toolkit_path()):
        for entry in _packages_index(repository, path):
            assert entry["Description"].startswith("STAND-IN for tests: not NVIDIA software"), entry["Package"]


def test_indexes_are_signed_by_the_served_keyring(repository):
    for path in (cuda_path(), toolkit_path()):
        folder = os.path.join(repository, path)
        for command in (["gpgv", "--keyring", os.path.join(repository, KEYRING_NAME), os.path.join(folder, "InRelease")],
                        ["gpgv", "--keyring", os.path.join(folder, KEYRING_NAME), os.path.join(folder, "Release.gpg"),
                         os.path.join(folder, "Release")]):
            result = subprocess.run(command, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
    assert os.path.islink(os.path.join(repository, cuda_path("ubuntu2204")).rstrip("/"))


def test_a_second_build_is_the_cached_one(repository):
    cache = os.path.dirname(repository)
    marker = os.path.getmtime(os.path.join(repository, ".complete"))
    assert build_repository(cache) == repository
    assert os.path.getmtime(os.path.join(repository, ".complete")) == marker


def test_packages_install_stand_in_binaries_at_nvidia_paths(repository):
    deb = os.path.join(repository, cuda_path(), "nvidia-driver-cuda_580.95.05-1_" +
                       _packages_index(repository, cuda_path())[0]["Architecture"] + ".deb")
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    assert "./usr/bin/nvidia-smi" in listing and "./usr/share/doc/nvidia-driver-cuda/README.STAND-IN" in listing
    meta = [entry for entry in _packages_index(repository, cuda_path())
            if entry["Package"] == "nvidia-open" and entry["Version"] == "550.163.01-1"][0]
    assert meta["Depends"] == "nvidia-driver (= 550.163.01-1), nvidia-kernel-open-dkms (= 550.163.01-1)"


def test_in_process_server_serves_the_keyring_and_indexes(repository):
    with StandinServer(repository) as server:
        keyring = urllib.request.urlopen(server.url + KEYRING_NAME, timeout=5).read()
        assert keyring == open(os.path.join(repository, KEYRING_NAME), "rb").read()
        assert urllib.request.urlopen(server.url + toolkit_path() + "InRelease", timeout=5).status == 200


def test_background_service_starts_reports_its_url_and_stops_by_pid(repository, tmp_path):
    state = str(tmp_path / "state")
    pid = StandinService.start("127.0.0.1", state, cache=os.path.dirname(repository))
    try:
        info = StandinService.info(state)
        assert info is not None and info.pid == pid and info.root == repository
        assert b"STAND-IN" in urllib.request.urlopen(info.url + "README.txt", timeout=5).read()
        assert info.cuda_url().endswith("/compute/cuda/repos/debian12/" + cuda_path().split("/")[-2] + "/")
    finally:
        assert StandinService.stop(pid)
    assert StandinService.info(state) is None
    assert not StandinService.stop(pid), "a PID that is no longer the server is left alone"
    assert not StandinService.stop(os.getpid()), "nor one that is another process"


def test_catalog_metas_pin_their_parts_exactly():
    for branch in catalog.DRIVER_BRANCHES:
        for package in catalog.driver_packages(branch):
            assert package.version == branch.version
            for dependency in package.depends:
                if "(" in dependency:
                    assert f"(= {branch.version})" in dependency, (package.name, dependency)

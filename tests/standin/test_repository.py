"""Building, caching, signing and serving the stand-in repository (on this machine)."""
from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from provision.sandbox.standin import catalog
from provision.sandbox.standin.repository import ARCHIVE_PATH, KEYRING_NAME, build_repository, cuda_path, \
    dpkg_architecture, toolkit_path
from provision.sandbox.standin.serve import StandinServer
from provision.sandbox.standin.service import StandinService


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


def _names(repository: str, distro: str) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for entry in _packages_index(repository, cuda_path(distro)):
        names.setdefault(entry["Package"], set()).add(entry["Version"])
    return names


def test_debian_repository_has_debians_names_and_three_branches(repository):
    names = _names(repository, "debian12")
    for version in ("580.95.05-1", "550.163.01-1", "595.71.05-1"):
        for name in ("nvidia-open", "cuda-drivers", "nvidia-driver", "nvidia-kernel-open-dkms", "nvidia-kernel-dkms",
                     "nvidia-driver-cuda", "libcuda1", "libnvidia-ml1", "nvidia-persistenced"):
            assert version in names[name], (name, version)
    assert names["cuda-drivers-580"] == {"580.95.05-1"} and names["nvidia-fabricmanager-580"] == {"580.95.05-1"}
    assert {"nvidia-driver-pinning-580", "nvidia-driver-pinning-595"} <= set(names)
    assert not {"nvidia-driver-580-open", "nvidia-dkms-580-open", "nvidia-fabricmanager"} & set(names)


@pytest.mark.parametrize("distro", ["ubuntu2204", "ubuntu2404"])
def test_ubuntu_repositories_carry_the_branch_in_names_up_to_580_and_drop_it_from_590(repository, distro):
    names = _names(repository, distro)
    for branch, version in (("580", "580.95.05-0ubuntu1"), ("550", "550.163.01-0ubuntu1")):
        for name in ("nvidia-open-{b}", "cuda-drivers-{b}", "nvidia-driver-{b}", "nvidia-driver-{b}-open",
                     "nvidia-dkms-{b}", "nvidia-dkms-{b}-open", "libnvidia-compute-{b}", "nvidia-utils-{b}",
                     "nvidia-compute-utils-{b}"):
            assert names[name.format(b=branch)] == {version}
        assert names[f"nvidia-fabricmanager-{branch}"] == {version.replace("-0ubuntu1", "-1")}
    for name in ("nvidia-open", "nvidia-driver-open", "nvidia-dkms-open", "libnvidia-compute", "nvidia-utils",
                 "nvidia-compute-utils", "nvidia-driver", "nvidia-fabricmanager"):
        assert names[name] == ({"590.48.01-1"} if name == "nvidia-fabricmanager" else {"590.48.01-0ubuntu1"}), name
    assert "cuda-drivers-590" not in names and "nvidia-driver-pinning-590" in names
    # Debian's names below 590: absent or only virtual
    assert not {"nvidia-kernel-open-dkms", "nvidia-persistenced", "libcuda1", "nvidia-driver-cuda"} & set(names)
    stanza = next(entry for entry in _packages_index(repository, cuda_path(distro))
                  if entry["Package"] == "nvidia-compute-utils-580")
    assert stanza["Provides"] == "nvidia-persistenced"


def test_toolkit_repository_serves_both_versions_and_1_18_refreshes_cdi(repository):
    toolkit = {(entry["Package"], entry["Version"]) for entry in _packages_index(repository, toolkit_path())}
    for version in ("1.17.8-1", "1.18.0-1"):
        assert {("nvidia-container-toolkit", version), ("nvidia-container-toolkit-base", version),
                ("libnvidia-container-tools", version), ("libnvidia-container1", version)} <= toolkit
    arch = _packages_index(repository, toolkit_path())[0]["Architecture"]
    listing = subprocess.run(["dpkg-deb", "-c", os.path.join(repository, toolkit_path(),
                              f"nvidia-container-toolkit-base_1.18.0-1_{arch}.deb")],
                             capture_output=True, text=True, check=True).stdout
    assert "nvidia-cdi-refresh.path" in listing and "nvidia-cdi-refresh.service" in listing


def test_the_legacy_nvidia_docker_repository_as_nvidias_role_finds_it(repository):
    """What NVIDIA's ansible-role-nvidia-docker fetches: the key, a list per distro naming three
    frozen folders with apt's `$(ARCH)`, the 404 page where NVIDIA has no list, the wrapper; and
    the meta-packages it installs, Architecture all, a `>=` on the toolkit."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    with StandinServer(repository) as server:
        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(server.url + path, timeout=5) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        assert get("nvidia-docker/gpgkey") == (200, open(os.path.join(repository, "libnvidia-container", "gpgkey")).read())
        for distro in ("ubuntu20.04", "ubuntu22.04"):
            status, text = get(f"nvidia-docker/{distro}/nvidia-docker.list")
            assert status == 200 and text.splitlines() == [
                f"deb {server.url}libnvidia-container/stable/ubuntu18.04/$(ARCH) /",
                f"#deb {server.url}libnvidia-container/experimental/ubuntu18.04/$(ARCH) /",
                f"deb {server.url}nvidia-container-runtime/stable/ubuntu18.04/$(ARCH) /",
                f"#deb {server.url}nvidia-container-runtime/experimental/ubuntu18.04/$(ARCH) /",
                f"deb {server.url}nvidia-docker/ubuntu18.04/$(ARCH) /"]
            for line in text.splitlines():
                if line.startswith("deb "):  # each named folder is a signed flat repository
                    folder = line.split()[1].replace("$(ARCH)", arch).removeprefix(server.url)
                    assert get(folder + "/InRelease")[0] == 200, folder
        for distro in ("ubuntu24.04", "debian12"):
            assert get(f"nvidia-docker/{distro}/nvidia-docker.list") == (
                404, "# Unsupported distribution!\n# Check https://nvidia.github.io/nvidia-docker\n")
        status, wrapper = get("NVIDIA/nvidia-docker/master/nvidia-docker")
        assert status == 200 and wrapper.startswith("#!/bin/bash\n# STAND-IN for tests")
    legacy = {(entry["Package"], entry["Version"]): entry
              for entry in _packages_index(repository, f"libnvidia-container/stable/ubuntu18.04/{arch}")}
    assert max(version for name, version in legacy if name == "nvidia-container-toolkit") == "1.13.5-1"
    assert legacy["nvidia-container-runtime", "3.13.0-1"]["Architecture"] == "all"
    current = {(entry["Package"], entry["Version"]): entry for entry in _packages_index(repository, toolkit_path())}
    runtime, docker2 = current["nvidia-container-runtime", "3.14.0-1"], current["nvidia-docker2", "2.14.0-1"]
    assert runtime["Depends"] == "nvidia-container-toolkit (>= 1.14.0-1), nvidia-container-toolkit (<< 2.0.0)"
    assert docker2["Depends"] == "nvidia-container-toolkit (>= 1.14.0-1)" and docker2["Breaks"] == "nvidia-docker (<< 2.0.0)"
    assert runtime["Architecture"] == docker2["Architecture"] == "all"
    for path in (f"nvidia-container-runtime/stable/ubuntu18.04/{arch}", f"nvidia-docker/ubuntu18.04/{arch}"):
        assert os.path.exists(os.path.join(repository, path, "InRelease")), path


def test_every_package_is_described_as_stand_in(repository):
    for path in [cuda_path(distro) for distro in catalog.distros()] + [toolkit_path()]:
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
    assert not os.path.islink(os.path.join(repository, cuda_path("ubuntu2204")).rstrip("/")), "its own index"


def test_ubuntus_archive_is_a_signed_dists_archive_with_canonicals_names(repository):
    """Ubuntu's archive as apt reads `deb URL jammy-updates restricted`: a Release naming suite,
    codename and component, signed; the driver role's four names per flavour; 515-server only as
    transitional packages (all depending on 525-server's names) and only on jammy."""
    archive = os.path.join(repository, ARCHIVE_PATH)
    for suite, codename, count in (("jammy-updates", "jammy", 5), ("noble-updates", "noble", 3)):
        dists = os.path.join(archive, "dists", suite)
        with open(os.path.join(dists, "Release")) as handle:
            release = handle.read()
        for field in ("Origin: Ubuntu", f"Suite: {suite}", f"Codename: {codename}", "Components: restricted"):
            assert field + "\n" in release, (suite, field)
        result = subprocess.run(["gpgv", "--keyring", os.path.join(repository, KEYRING_NAME),
                                 os.path.join(dists, "InRelease")], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        index = _packages_index(repository, os.path.join(ARCHIVE_PATH, "dists", suite, "restricted",
                                                         f"binary-{dpkg_architecture()}"))
        for entry in index:
            assert entry["Description"].startswith("STAND-IN for tests"), entry["Package"]
            assert os.path.exists(os.path.join(archive, entry["Filename"])), entry["Filename"]
        headless = {entry["Package"] for entry in index if re.fullmatch(r"nvidia-headless-\d+-server", entry["Package"])}
        assert len(headless) == count, headless
    jammy = {entry["Package"]: entry for entry in _packages_index(
        repository, os.path.join(ARCHIVE_PATH, "dists", "jammy-updates", "restricted", f"binary-{dpkg_architecture()}"))}
    for name in ("nvidia-headless-{}", "nvidia-utils-{}", "nvidia-headless-no-dkms-{}", "nvidia-kernel-source-{}"):
        old, new = jammy[name.format("515-server")], jammy[name.format("525-server")]
        assert old["Version"] == new["Version"] == "525.147.05-0ubuntu0.22.04.1"
        assert old["Depends"] == name.format("525-server"), old
    assert "nvidia-headless-525-server-open" not in jammy, "525-server had no open flavour"
    noble = {entry["Package"]: entry for entry in _packages_index(
        repository, os.path.join(ARCHIVE_PATH, "dists", "noble-updates", "restricted", f"binary-{dpkg_architecture()}"))}
    assert "nvidia-headless-515-server" not in noble, "NVIDIA's role default branch has nothing on 24.04"
    assert noble["nvidia-headless-580-server"]["Version"] == "580.126.20-0ubuntu0.24.04.2"
    assert noble["nvidia-headless-570-server"]["Depends"] == "nvidia-headless-580-server"
    assert jammy["nvidia-kernel-common-580-server"]["Provides"] == \
        "nvidia-kernel-common, nvidia-kernel-common-580-server-580.126.20"


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
    assert meta["Depends"] == "nvidia-driver (>= 550.163.01-1), nvidia-kernel-open-dkms (>= 550.163.01-1)"


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


def test_debian_metapackages_float_while_ubuntu_drivers_pin_their_parts():
    for spec in catalog.distro_packages("debian12"):
        assert not any("(=" in dependency for dependency in spec.depends), (spec.name, spec.depends)
    cuda_drivers = next(spec for spec in catalog.distro_packages("debian12") if spec.name == "cuda-drivers-580")
    assert "nvidia-kernel-dkms (>= 580.95.05-1)" in cuda_drivers.depends, "the proprietary module, as NVIDIA's"
    driver = next(spec for spec in catalog.distro_packages("ubuntu2204") if spec.name == "nvidia-driver-580-open")
    assert "nvidia-dkms-580-open (= 580.95.05-0ubuntu1)" in driver.depends


def test_the_data_file_is_part_of_the_cache_key(monkeypatch, tmp_path):
    from provision.sandbox.standin import repository as builder
    before = builder.input_hash("amd64")
    changed = tmp_path / "catalog.yaml"
    changed.write_text(open(catalog.DATA_PATH).read() + "# changed\n")
    monkeypatch.setattr(catalog, "DATA_PATH", str(changed))
    assert builder.input_hash("amd64") != before


@pytest.mark.parametrize("version", ["1.0-1", "1.1-1"])
def test_cuda_keyring_names_the_server_that_served_it(repository, tmp_path, version):
    """NVIDIA's three files at NVIDIA's paths; the source line is the serving repository's own URL."""
    folder = cuda_path("ubuntu2204")
    with StandinServer(repository) as server:
        data = urllib.request.urlopen(f"{server.url}{folder}cuda-keyring_{version}_all.deb", timeout=30).read()
        pin = urllib.request.urlopen(f"{server.url}{folder}cuda-ubuntu2204.pin", timeout=5).read().decode()
        with pytest.raises(urllib.error.HTTPError):  # only the versions NVIDIA publishes
            urllib.request.urlopen(f"{server.url}{folder}cuda-keyring_9.9-1_all.deb", timeout=5)
        url = server.url
    deb = tmp_path / "keyring.deb"
    deb.write_bytes(data)
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture"], capture_output=True,
                            text=True, check=True).stdout
    assert fields == f"Package: cuda-keyring\nVersion: {version}\nArchitecture: all\n"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "tree")], check=True)
    arch = folder.rstrip("/").rsplit("/", 1)[1]
    listed = (tmp_path / "tree" / f"etc/apt/sources.list.d/cuda-ubuntu2204-{arch}.list").read_text()
    assert listed == f"deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] {url}{folder} /\n"
    assert (tmp_path / "tree/usr/share/keyrings/cuda-archive-keyring.gpg").read_bytes() == \
        open(os.path.join(repository, KEYRING_NAME), "rb").read()
    assert (tmp_path / "tree/etc/apt/preferences.d/cuda-repository-pin-600").read_text() == pin
    assert "Pin: release l=NVIDIA CUDA\nPin-Priority: 600" in pin
    release = open(os.path.join(repository, folder, "Release")).read()
    assert "\nLabel: NVIDIA CUDA\n" in release, "the pin matches NVIDIA's label"
    assert "Label: NVIDIA CUDA" not in open(os.path.join(repository, toolkit_path(), "Release")).read()


@pytest.mark.parametrize("distro", catalog.distros())
def test_every_cuda_folder_serves_the_toolkit_behind_its_versioned_name(repository, distro):
    index = {entry["Package"]: entry for entry in _packages_index(repository, cuda_path(distro))}
    assert index["cuda-toolkit"]["Version"] == "13.0.2-1"
    assert index["cuda-toolkit"]["Depends"] == "cuda-toolkit-13-0 (>= 13.0.2-1)"
    deb = os.path.join(repository, cuda_path(distro), index["cuda-toolkit-13-0"]["Filename"])
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    assert "./usr/local/cuda-13.0/bin/nvcc" in listing and "./usr/local/cuda-13.0/version.json" in listing

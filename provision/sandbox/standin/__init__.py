"""The stand-in vendor repository: STAND-IN for tests, not NVIDIA software.

Sandbox hosts have no GPU and no route to NVIDIA's servers. This package builds, from provision's
own files, apt repositories whose packages carry NVIDIA's names, versions and relations per distro
(debian12, ubuntu2204, ubuntu2404: driver branches 550 to 595, the container toolkit; the facts and
their sources are data in data/catalog.yaml) and whose tools simulate a GPU server described by a JSON file:
an `nvidia-smi` that answers the queries the roles use, an `nvidia-ctk` that merges daemon.json as
NVIDIA documents, an OCI runtime and hook that let `docker run --runtime nvidia` / `--gpus all` work.

    root = build_repository()                      # cached under /var/cache/provision/sandbox/standin/<hash>/
    pid = StandinService.start(gateway, state_dir)  # background HTTP server; StandinService.stop(pid)
    seed_files(load_description("h100x8"))          # files the sandbox writes into each host

Kernel modules cannot be loaded in a sandbox host: the module packages record what they installed
and the stand-in "loads" it at the next boot (see files/nvidia-standin-module).
"""
from provision.sandbox.standin.catalog import distros, driver_branch
from provision.sandbox.standin.catalog.toolkit import versions as toolkit_versions
from provision.sandbox.standin.gpus import HOST_DESCRIPTION_PATH, HOST_LSPCI_PATH, LSPCI_COMMAND, PROFILES, load_description, \
    render_lspci, seed_files
from provision.sandbox.standin.packages import STAND_IN
from provision.sandbox.standin.repository import KEYRING_NAME, StandinError, build_repository, cuda_path, toolkit_path
from provision.sandbox.standin.serve import StandinServer
from provision.sandbox.standin.service import StandinInfo, StandinService

DRIVER_BRANCHES = tuple(driver_branch(branch) for branch in ("580", "550"))  # Debian-versioned; see catalog
TOOLKIT_VERSION = toolkit_versions()[0]  # the oldest served, what the roles pinned so far

__all__ = ["DRIVER_BRANCHES", "HOST_DESCRIPTION_PATH", "HOST_LSPCI_PATH", "KEYRING_NAME", "LSPCI_COMMAND", "PROFILES",
           "STAND_IN", "TOOLKIT_VERSION", "StandinError", "StandinInfo", "StandinServer", "StandinService",
           "build_repository", "cuda_path", "distros", "driver_branch", "load_description", "render_lspci", "seed_files",
           "toolkit_path", "toolkit_versions"]

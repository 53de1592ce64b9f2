"""The stand-in vendor repository: STAND-IN for tests, not NVIDIA software.

Sandbox hosts have no GPU and no route to NVIDIA's servers. This package builds, from provision's
own files, an apt repository whose packages carry NVIDIA's names and versions (driver branches 580
and 550, the container toolkit) and whose tools simulate a GPU server described by a JSON file:
an `nvidia-smi` that answers the queries the roles use, an `nvidia-ctk` that merges daemon.json as
NVIDIA documents, an OCI runtime and hook that let `docker run --runtime nvidia` / `--gpus all` work.

    root = build_repository()                      # cached under /var/cache/provision/standin/<hash>/
    pid = StandinService.start(gateway, state_dir)  # background HTTP server; StandinService.stop(pid)
    seed_files(load_description("h100x8"))          # files the sandbox writes into each host

Kernel modules cannot be loaded in a sandbox host: the module packages record what they installed
and the stand-in "loads" it at the next boot (see files/nvidia-standin-module).
"""
from provision.standin.gpus import HOST_DESCRIPTION_PATH, HOST_LSPCI_PATH, LSPCI_COMMAND, load_description, \
    render_lspci, seed_files
from provision.standin.packages import DRIVER_BRANCHES, STAND_IN, TOOLKIT_VERSION
from provision.standin.repository import KEYRING_NAME, StandinError, build_repository, cuda_path, toolkit_path
from provision.standin.serve import StandinServer
from provision.standin.service import StandinInfo, StandinService

__all__ = ["DRIVER_BRANCHES", "HOST_DESCRIPTION_PATH", "HOST_LSPCI_PATH", "KEYRING_NAME", "LSPCI_COMMAND", "STAND_IN",
           "TOOLKIT_VERSION", "StandinError", "StandinInfo", "StandinServer", "StandinService", "build_repository",
           "cuda_path", "load_description", "render_lspci", "seed_files", "toolkit_path"]

"""What the sandbox's inventory tells the GPU roles, so `provision apply <it> playbooks/site.yaml`
works as it is on hosts with no GPU and no way out.

Only these variables differ from a real lab, and each one says why: the NVIDIA repositories are
the stand-in ones served on the sandbox bridge (same paths as NVIDIA's, signed with a throwaway
key), the host has no kernel of its own (no headers package to install), Docker is Debian's docker.io
already in the docker kind's layer, and the verification runs in the CPU image. No detection or
version-reading command is overridden: the stand-in hardware answers the real ones at the real
paths (`lspci -Dnn -d 10de:` from /usr/bin/lspci, the loaded module at /sys/module/nvidia/version
and /proc/driver/nvidia/version, `nvidia-smi`, `update-initramfs -u`). Everything else (package names, versions, pins,
daemon.json keys, the whole role logic) is the production path.
"""
from __future__ import annotations

from importlib import resources

from provision.sandbox.standin.gpus import load_description, seed_files
from provision.sandbox.standin.service import StandinInfo


def gpu_stack_vars(standin: StandinInfo) -> dict:
    base = standin.url  # ends with "/"
    return {
        # NVIDIA's repositories -> the stand-in repository (same layout below its base URL)
        "nvidia_cuda_repo_base": base + "compute/cuda/repos",
        "nvidia_cuda_repo_key_url": base + "libnvidia-container/gpgkey",
        "nvidia_container_toolkit_repo_url": base + "libnvidia-container/stable/deb/$(ARCH)",
        "nvidia_container_toolkit_key_url": base + "libnvidia-container/gpgkey",
        # a sandbox host shares this machine's kernel, whose headers no repository here serves
        # (`update-initramfs -u` itself runs: the stand-in answers it at its real path)
        "nvidia_install_kernel_headers": False,
        # the host's disk is this machine's: ask for little
        "preflight_min_free_gb": 1,
        # Debian's docker.io is already in the docker kind's layer; its init script restarts it
        "docker_install_source": "distro",
        # hosts lack CAP_SYS_RESOURCE, so runc cannot raise memlock/stack limits for containers:
        # leave default-ulimits unmanaged here (a real GPU server wants memlock unlimited for RDMA)
        "docker_daemon_extra_options": {"default-ulimits": None},
        # the sandbox's PyTorch image is a CPU build: GPU checks report "skip", they cannot pass
        "gpu_verify_require_gpu": False,
    }


def standin_gpu_files(profile: str) -> dict[str, bytes]:
    """The stand-in GPU hardware of a host ({path: content}), from a profile such as "h100x8"."""
    return seed_files(load_description(profile))


# On a systemd host (which boots under systemd-nspawn, not provision's own init) the host's systemd
# plays the kernel's and udev's part for the stand-in GPU: a generator (run at every boot) and the
# script of the unit it writes. See both files for what they do.
SYSTEMD_STANDIN_FILES = {
    "/etc/systemd/system-generators/sandbox-standin-devices": "standin-devices-generator.sh",
    "/usr/local/sbin/sandbox-standin-kernel": "standin-kernel.sh",
}


def systemd_standin_files() -> dict[str, bytes]:
    folder = resources.files("provision.sandbox")
    return {path: (folder / name).read_bytes() for path, name in SYSTEMD_STANDIN_FILES.items()}

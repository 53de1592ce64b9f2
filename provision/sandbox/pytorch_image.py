"""The sandbox's stand-in for `pytorch/pytorch:TAG`: Debian's Python and the CPU build of torch.

Docker hosts pull `pytorch/pytorch:TAG` through the sandbox registry, so the verification script
really runs in a container there; this module makes that image's single layer. It is the base
image, a `python` layer (Debian's python3) and torch installed with this machine's pip, flattened
through a read-only overlay into one gzipped tar, built once and cached by a hash of its recipe.

The thing easy to get wrong: a plain `torch` requirement resolves to the CUDA build and downloads
gigabytes of NVIDIA wheels. Only the local CPU wheel is used; without it the build stops.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

from provision.errors import SandboxError
from provision.sandbox.image import DEFAULT_CACHE, ImageRecipe, LayerRecipe, _cache_lock, _run, ensure_layer

TORCH_VERSION = "2.13.0"
PYTHON_VERSION = "3.11"  # Debian bookworm's python3; the wheel's cp311 tag must match it
WHEEL_FOLDER = "/opt/wheels"
DEFAULT_TAG = "2.8.0-cuda12.8-cudnn9-runtime"  # the site playbook's default pytorch_image tag
REPOSITORY = "pytorch/pytorch"
STANDIN_LABEL = {"org.provision.sandbox.standin": "CPU build of torch for the sandbox; not the real pytorch/pytorch image"}
ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONDONTWRITEBYTECODE=1")
# the verification payload (provision/gpu/payload/gpu_check.py) runs under `python`, as in the real image
PYTHON_LAYER = LayerRecipe("python", ("python3",), "ln -sf /usr/bin/python3 /usr/local/bin/python")
# Left out of the layer: what a container never reads (docs, headers, CMake files), the C++ test
# programs this machine's CPU wheel carries (torch/test, torch/bin/test_* and *Test; PyPI's wheels
# ship neither, and they were an eighth of every pull), and the contents of folders Docker mounts over.
_TORCH = f"./usr/local/lib/python{PYTHON_VERSION}/dist-packages/torch"
EXCLUDES = ("./proc/*", "./sys/*", "./dev/*", "./run/*", "./tmp/*", "./usr/share/doc/*", "./usr/share/man/*",
            "./usr/share/locale/*", "./var/cache/debconf/*-old", "./.provision-image-complete",
            f"{_TORCH}/include", f"{_TORCH}/share", f"{_TORCH}/test", f"{_TORCH}/bin/test_*", f"{_TORCH}/bin/*Test")


@dataclass(frozen=True)
class TorchImageRecipe:
    torch_version: str = TORCH_VERSION
    # torch's own requirements come with it; numpy too, so torch does not warn it is missing
    extra_packages: tuple[str, ...] = ("numpy",)
    python: LayerRecipe = PYTHON_LAYER
    excludes: tuple[str, ...] = EXCLUDES
    labels: tuple[tuple[str, str], ...] = tuple(STANDIN_LABEL.items())
    env: tuple[str, ...] = ENV
    format: int = 1  # bump when the way the layer is made changes

    @property
    def wheel(self) -> str:
        return os.path.join(WHEEL_FOLDER, f"torch-{self.torch_version}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

    def digest(self, base: ImageRecipe) -> str:
        blob = json.dumps({"base": base.digest(), "python": self.python.digest(base), **asdict(self)},
                          sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class ImageLayer:
    """A built layer file, and what a registry manifest and image config say about it."""
    path: str
    digest: str        # sha256 of the gzipped file: the blob's name in the registry
    diff_id: str       # sha256 of the uncompressed tar: the config's rootfs entry
    size: int          # bytes of the gzipped file
    tar_size: int      # bytes uncompressed
    labels: dict[str, str]
    env: tuple[str, ...]


def ensure_pytorch_layer(recipe: TorchImageRecipe = TorchImageRecipe(), base: ImageRecipe = ImageRecipe(),
                         cache_dir: str = DEFAULT_CACHE, log=print) -> ImageLayer:
    """Return the stand-in image's layer, building it first (minutes, once) if the cache lacks it."""
    folder = os.path.join(cache_dir, recipe.digest(base))
    if not os.path.exists(os.path.join(folder, "complete")):
        python_lower = ensure_layer(recipe.python, base, cache_dir, log)  # takes the cache lock itself
        with _cache_lock(cache_dir):
            if not os.path.exists(os.path.join(folder, "complete")):
                _build(recipe, python_lower, folder, log)
    with open(os.path.join(folder, "layer.json")) as handle:
        facts = json.load(handle)
    return ImageLayer(path=os.path.join(folder, "layer.tar.gz"), digest=facts["digest"], diff_id=facts["diff_id"],
                      size=facts["size"], tar_size=facts["tar_size"], labels=dict(recipe.labels), env=recipe.env)


def _build(recipe: TorchImageRecipe, python_lower: str, folder: str, log) -> None:
    partial = folder + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    torch_root = os.path.join(partial, "torch")
    site = os.path.join(torch_root, "usr", "local", "lib", f"python{PYTHON_VERSION}", "dist-packages")
    os.makedirs(site)
    os.makedirs(os.path.join(partial, "merged"))
    started = time.monotonic()
    log(f"building the sandbox's stand-in pytorch/pytorch image (CPU torch {recipe.torch_version}, once) "
        f"into {folder}")
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location", "--only-binary", ":all:",
          "--target", site, _torch_requirement(recipe), *recipe.extra_packages], "pip install of CPU torch")
    shutil.rmtree(os.path.join(site, "bin"), ignore_errors=True)  # console scripts naming this machine's python
    log(f"torch installed ({_tree_size(torch_root) / 2**20:.0f} MiB) in {time.monotonic() - started:.0f}s; "
        "flattening base + python + torch into one layer")
    facts = _write_layer(recipe, f"{torch_root}:{python_lower}", os.path.join(partial, "merged"),
                         os.path.join(partial, "layer.tar.gz"))
    shutil.rmtree(torch_root)
    os.rmdir(os.path.join(partial, "merged"))
    with open(os.path.join(partial, "layer.json"), "w") as handle:
        json.dump(facts, handle, indent=1)
    open(os.path.join(partial, "complete"), "w").close()
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(partial, folder)
    log(f"stand-in image layer: {facts['size'] / 2**20:.0f} MiB gzipped, {facts['tar_size'] / 2**20:.0f} MiB "
        f"unpacked, built in {time.monotonic() - started:.0f}s")


def _torch_requirement(recipe: TorchImageRecipe) -> str:
    """The local CPU wheel's path; never a name pip could answer with the CUDA build from PyPI."""
    if os.path.exists(recipe.wheel):
        return recipe.wheel
    found = sorted(glob.glob(os.path.join(WHEEL_FOLDER, f"torch-{recipe.torch_version}+cpu-cp311-*.whl")))
    if found:
        return found[0]
    raise SandboxError(f"the CPU build of torch {recipe.torch_version} is missing: the sandbox's stand-in "
                       f"pytorch image needs {recipe.wheel} (a plain `torch` requirement would download the "
                       "CUDA build, gigabytes). Put the wheel there, or start docker sandboxes with "
                       "--no-pytorch-image")


# Runs in a private mount namespace, so the overlay vanishes with the process even if it is killed.
FLATTEN_SCRIPT = """
set -eu
lower=$1 merged=$2
shift 2
mount --make-rprivate /
mount -t overlay overlay -o "ro,lowerdir=$lower" "$merged"
exec tar -C "$merged" -cf - --numeric-owner --sort=name "$@" .
"""


class _HashingWriter:
    """A file that hashes what is written to it: the blob's digest, without reading it back."""

    def __init__(self, handle):
        self.handle, self.hash, self.size = handle, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def _write_layer(recipe: TorchImageRecipe, lower: str, merged: str, target: str) -> dict:
    """tar the merged view to a gzip file as it streams (about 1 GB unpacked: never all in memory)."""
    excludes = [f"--exclude={pattern}" for pattern in recipe.excludes]
    tar_hash, tar_size = hashlib.sha256(), 0
    stderr = tempfile.TemporaryFile()  # not a pipe: tar's warnings must not block it while we read
    process = subprocess.Popen(["unshare", "--mount", "--fork", "--", "/bin/sh", "-c", FLATTEN_SCRIPT, "flatten",
                                lower, merged, *excludes], stdout=subprocess.PIPE, stderr=stderr)
    try:
        with stderr, open(target, "wb") as raw:
            blob = _HashingWriter(raw)
            with gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=1, mtime=0, filename="") as compressed:
                while chunk := process.stdout.read(1 << 20):
                    tar_hash.update(chunk)
                    tar_size += len(chunk)
                    compressed.write(chunk)
            process.wait()
            stderr.seek(0)
            message = stderr.read().decode(errors="replace")
    finally:
        if process.poll() is None:  # this write failed (disk full?): stop tar, it is ours
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise SandboxError(f"flattening the stand-in pytorch image failed (exit {process.returncode}):\n"
                           + "\n".join(message.strip().splitlines()[-15:]))
    return {"digest": "sha256:" + blob.hash.hexdigest(), "diff_id": "sha256:" + tar_hash.hexdigest(),
            "size": blob.size, "tar_size": tar_size}


def _tree_size(root: str) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        total += sum(os.lstat(os.path.join(directory, name)).st_size for name in files)
    return total

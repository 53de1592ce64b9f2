"""The CUDA Toolkit of the CUDA repositories: `cuda-toolkit` -> `cuda-toolkit-<M>-<m>` (data/catalog.yaml).

The same two packages in every CUDA folder (NVIDIA's are `all`-distro builds of one release). The
easy thing to get wrong: `cuda-toolkit` floats to the newest release, so a role that must stay on one
CUDA names `cuda-toolkit-13-0` or pins `cuda-toolkit=<version>`.
"""
from __future__ import annotations

import json

from provision.sandbox.standin.catalog.data import load
from provision.sandbox.standin.packages import FileSpec, PackageSpec


def toolkit_packages(repositories: tuple[str, ...]) -> list[PackageSpec]:
    facts = load()["cuda_toolkit"]
    version, release = facts["version"], facts["release"]
    major, minor = release.split(".")
    versioned = f"cuda-toolkit-{major}-{minor}"
    prefix = f"/usr/local/cuda-{release}"
    substitutions = {"CUDA_RELEASE": release, "CUDA_UPSTREAM": version.rsplit("-", 1)[0],
                     "CUDA_PRIORITY": str(int(major) * 10 + int(minor)),
                     "VERSION_JSON": json.dumps({"cuda": {"name": "CUDA SDK", "version": version.rsplit("-", 1)[0]}})}
    return [
        PackageSpec("cuda-toolkit", version, "CUDA Toolkit meta-package", repositories,
                    depends=(f"{versioned} (>= {version})",)),
        PackageSpec(versioned, version, f"CUDA Toolkit {release} meta-package", repositories,
                    files=(FileSpec(f"{prefix}/bin/nvcc", "nvcc", 0o755),
                           FileSpec(f"{prefix}/version.json", "cuda-version.json")),
                    scripts={"postinst": "cuda-toolkit.postinst", "prerm": "cuda-toolkit.prerm"},
                    substitutions=substitutions),
    ]

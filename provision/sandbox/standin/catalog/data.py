"""Reads `data/catalog.yaml`, the facts about NVIDIA's repositories the stand-in copies.

Kept apart from the builders so a fact changes in one place, with its source beside it, and the
repository cache (keyed by a hash of its inputs) sees the change.
"""
from __future__ import annotations

import functools
import os

import yaml

from provision.sandbox.standin.packages import DriverBranch

DATA_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "catalog.yaml")


@functools.lru_cache(maxsize=1)
def load() -> dict:
    with open(DATA_PATH) as handle:
        return yaml.safe_load(handle)


def distros() -> tuple[str, ...]:
    """The CUDA repository folders served, e.g. ("debian12", "ubuntu2204", "ubuntu2404")."""
    return tuple(load()["distros"])


def driver_branch(branch: str, distro: str = "debian12") -> DriverBranch:
    """A branch's release as `distro`'s repository versions it (Ubuntu: -0ubuntu1)."""
    release = load()["branches"][str(branch)]
    return DriverBranch(str(branch), release["version"], release["cuda"], load()["distros"][distro]["revision"])


def fabricmanager_version(branch: DriverBranch) -> str:
    """Fabric manager is versioned <ver>-1 in every distro (NVIDIA/apt-packaging-fabric-manager)."""
    return branch.upstream + load()["fabricmanager"]["revision"]

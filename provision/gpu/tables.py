"""The YAML tables under provision/gpu/data/, read once and handed out as plain data.

The files are the source of truth (each names its sources); code never carries a copy of a
version or an id. The cache holds parsed, read-only data, not run state.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

DATA_PACKAGE = "provision.gpu"


@lru_cache(maxsize=None)
def load_table(name: str) -> dict[str, Any]:
    """Parse data/<name>.yaml with yaml.safe_load (e.g. "gpus", "cuda_drivers", "os_support")."""
    text = resources.files(DATA_PACKAGE).joinpath("data", f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)

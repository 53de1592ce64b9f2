"""The legacy nvidia-docker.list, written by the stand-in server for its own URL.

NVIDIA's ansible-role-nvidia-docker fetches <base>/nvidia-docker/<ID><VERSION_ID>/nvidia-docker.list
into sources.list.d. NVIDIA's file names three repositories by absolute URL, so the stand-in's must
name the stand-in server, known only once it listens (as with cuda-keyring: keyring.py). The text
and the distros that have it are data (catalog.yaml `nvidia_docker`, with the source); any other
distro gets the 404 page GitHub Pages serves there, which is what breaks the role on Ubuntu 24.04
and Debian 12.
"""
from __future__ import annotations

import re

from provision.sandbox.standin.catalog import load

LIST = re.compile(r"^nvidia-docker/(?P<distro>[^/]+)/nvidia-docker\.list$")


def list_response(path: str, base_url: str) -> tuple[int, bytes] | None:
    """(HTTP status, body) when `path` asks for a nvidia-docker.list, else None (a plain file)."""
    match = LIST.match(path.lstrip("/"))
    if match is None:
        return None
    data = load()["nvidia_docker"]
    if match.group("distro") not in data["list_distros"]:
        return 404, data["not_found"].encode()
    return 200, data["list_text"].replace("{base}", base_url).encode()

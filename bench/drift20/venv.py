"""The benchmark's own virtual environment: the pinned pyinfra and ansible-core, and matplotlib.

Installed from PyPI by pip, once, into a folder named by the hash of the pins (outside the
repository), so a change of pin builds a new one and nothing of theirs is ever committed here.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

PINS = ("pyinfra==3.10.0", "ansible-core==2.19.14", "matplotlib")
CACHE = os.environ.get("PROVISION_BENCH_VENV_CACHE", "/var/cache/provision/bench-venv")


def bench_venv(log=print) -> str:
    """The venv's folder, created and filled first if missing (a minute, with network)."""
    folder = os.path.join(CACHE, hashlib.sha256(" ".join(PINS).encode()).hexdigest()[:12])
    if os.path.exists(os.path.join(folder, "complete")):
        return folder
    log(f"installing {', '.join(PINS)} into {folder} (once)")
    shutil.rmtree(folder, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)  # not provision's own venv
    steps = ([base, "-m", "venv", folder],
             [os.path.join(folder, "bin", "pip"), "install", "-q", "--disable-pip-version-check", *PINS])
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n    ".join((result.stdout + result.stderr).strip().splitlines()[-8:])
            raise RuntimeError(f"`{' '.join(step)}` exited {result.returncode}:\n    {tail}")
    open(os.path.join(folder, "complete"), "w").close()
    return folder


def version(folder: str, tool: str) -> str:
    """`pyinfra --version` / `ansible-playbook --version`: the first line, as the tool says it."""
    result = subprocess.run([os.path.join(folder, "bin", tool), "--version"], capture_output=True, text=True)
    return (result.stdout.strip().splitlines() or ["?"])[0]

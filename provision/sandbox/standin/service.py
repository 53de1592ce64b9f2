"""The stand-in repository as a background service that outlives the command that started it.

`provision sandbox up` starts it on the sandbox's bridge address and `down` stops it by PID:

    pid = StandinService.start("10.244.1.1", state_dir)   # builds or reuses the cached repository
    StandinService.info(state_dir).url                    # 'http://10.244.1.1:PORT/'
    StandinService.stop(pid)

The easy thing to get wrong: a saved PID may belong to another process after a reboot of this
machine, so `stop` signals it only while its command line is still the stand-in server's.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from provision.sandbox.standin.repository import (
    ARCHIVE_PATH,
    DEFAULT_CACHE,
    KEYRING_NAME,
    WRAPPER_PATH,
    StandinError,
    build_repository,
    cuda_path,
    toolkit_path,
)

STATE_NAME = "standin.json"
LOG_NAME = "standin.log"
SERVER_MODULE = "provision.sandbox.standin.serve"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@dataclass(frozen=True)
class StandinInfo:
    """Where a running stand-in repository is: its process, base URL and folder."""
    pid: int
    url: str
    root: str

    @property
    def keyring_url(self) -> str:
        return self.url + KEYRING_NAME

    def cuda_url(self, distro: str = "debian12") -> str:
        return self.url + cuda_path(distro)

    @property
    def toolkit_url(self) -> str:
        return self.url + toolkit_path()

    @property
    def nvidia_docker_url(self) -> str:
        """The legacy nvidia-docker repository's base (NVIDIA's role: nvidia_docker_repo_base_url)."""
        return self.url + "nvidia-docker"

    @property
    def archive_url(self) -> str:
        """The stand-in of Ubuntu's archive (restricted): `deb <it> jammy-updates restricted`."""
        return self.url + ARCHIVE_PATH

    @property
    def docker_wrapper_url(self) -> str:
        """The archived nvidia-docker wrapper (NVIDIA's role: nvidia_docker_wrapper_url)."""
        return self.url + WRAPPER_PATH


def _command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class StandinService:
    """Start, find and stop the background server of the stand-in repository."""

    @staticmethod
    def start(bind_address: str, state_dir: str, port: int = 0, cache: str = DEFAULT_CACHE,
              timeout: float = 15.0) -> int:
        """Serve the (built or cached) repository on bind_address; returns the server's PID."""
        root = build_repository(cache)
        os.makedirs(state_dir, exist_ok=True)
        state = os.path.join(state_dir, STATE_NAME)
        if os.path.exists(state):
            os.unlink(state)
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, environment.get("PYTHONPATH")]))
        with open(os.path.join(state_dir, LOG_NAME), "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, "--root", root, "--bind", bind_address,
                 "--port", str(port), "--state-file", state],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/", env=environment,
                start_new_session=True)  # its own session: it outlives the starter's terminal
        deadline = time.monotonic() + timeout
        while not os.path.exists(state):
            if process.poll() is not None:
                raise StandinError(f"the stand-in repository server exited with {process.returncode}; "
                                   f"see {os.path.join(state_dir, LOG_NAME)}")
            if time.monotonic() > deadline:
                StandinService.stop(process.pid)
                raise StandinError(f"the stand-in repository server did not listen within {timeout:.0f} s")
            time.sleep(0.05)
        return process.pid

    @staticmethod
    def info(state_dir: str) -> StandinInfo | None:
        """The running server recorded in state_dir, or None when there is none (or it is gone)."""
        try:
            with open(os.path.join(state_dir, STATE_NAME)) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        if SERVER_MODULE not in _command_of(int(data["pid"])):
            return None
        return StandinInfo(pid=int(data["pid"]), url=data["url"], root=data["root"])

    @staticmethod
    def stop(pid: int, timeout: float = 5.0) -> bool:
        """Stop the server with this PID; False when no stand-in server runs under it."""
        if not pid or SERVER_MODULE not in _command_of(pid):
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(0.05)
        return True


def _alive(pid: int) -> bool:
    """True while the process runs; reaps it when it is this process's exited child."""
    try:
        finished, _status = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child: the starter was another process
    state = ""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"

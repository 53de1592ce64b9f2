"""The sandbox's Docker registry: Debian's `docker-registry` on the bridge, and images put into it.

Docker hosts use it as their registry mirror, so `docker pull busybox:sandbox` inside a host is
answered here as `library/busybox:sandbox` and never goes out (there is no way out); a name with
an owner keeps it (`pytorch/pytorch:TAG` is `pytorch/pytorch` here). Images are
written straight through the registry's HTTP API from files of this machine: no Docker Hub, no
Docker engine here. The easy thing to get wrong: a mirror serves Docker Hub names, so an image
meant for `docker pull NAME` must be pushed as `library/NAME`.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from provision.errors import SandboxError
from provision.sandbox import system

PORT = 5000
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What the small test image holds, taken from the base image: busybox and the libraries it loads.
BUSYBOX_FILES = ("bin/busybox", "lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libresolv.so.2",
                 "lib64/ld-linux-x86-64.so.2")
BUSYBOX_APPLETS = ("sh", "echo", "cat", "ls", "hostname", "true", "false", "uname", "id", "sleep")


class LayerFile(Protocol):
    """A gzipped layer on disk, as the registry needs to know it (pytorch_image.ImageLayer is one)."""
    path: str
    digest: str
    diff_id: str
    size: int


@dataclass
class Registry:
    sandbox: str
    directory: str
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}:{PORT}"

    @property
    def host_port(self) -> str:
        return f"{self.address}:{PORT}"

    def start(self, timeout: float = 15.0) -> int:
        """Start the registry in a cgroup of the sandbox; return its PID once it answers."""
        if shutil.which("docker-registry") is None:
            raise SandboxError("docker-registry is missing: apt-get install docker-registry (or run ./bootstrap)")
        os.makedirs(os.path.join(self.directory, "storage"), exist_ok=True)
        config = os.path.join(self.directory, "config.yml")
        with open(config, "w") as handle:
            json.dump({"version": 0.1, "log": {"level": "warn"},
                       "storage": {"filesystem": {"rootdirectory": os.path.join(self.directory, "storage")},
                                   "delete": {"enabled": True}},
                       "http": {"addr": self.host_port}}, handle)  # JSON is YAML
        cgroups = system.cgroup_dirs(self.sandbox, "registry")
        system.create_cgroups(cgroups)

        def enter_cgroups() -> None:
            for directory in cgroups:
                with open(os.path.join(directory, "cgroup.procs"), "w") as handle:
                    handle.write(str(os.getpid()))

        with open(os.path.join(self.directory, "registry.log"), "ab") as log:
            process = subprocess.Popen(["docker-registry", "serve", config], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=log, start_new_session=True, preexec_fn=enter_cgroups)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=2) as response:
                    if response.status == 200:
                        return process.pid
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        tail = open(os.path.join(self.directory, "registry.log")).read()[-800:]
        raise SandboxError(f"the sandbox registry did not answer on {self.url}:\n{tail}")

    def stop(self, pid: int) -> None:
        """Kill the registry (its PID and anything left in its cgroup), remove its cgroups."""
        cgroups = system.cgroup_dirs(self.sandbox, "registry")
        pids = system.cgroup_pids(cgroups)
        if pid and system.command_of(pid).startswith("docker-registry"):  # never a reused PID
            pids.add(pid)
        system.kill_all(pids, what="the sandbox registry")
        system.remove_cgroups(cgroups)

    # ---- images ----------------------------------------------------------------------------
    def push(self, repository: str, tag: str, layer_tar: bytes, command: list[str]) -> str:
        """Put a small one-layer image (its tar in memory) into the registry; returns its manifest digest."""
        layer = gzip.compress(layer_tar, mtime=0)
        self._upload_blob(repository, layer)
        return self._push_image(repository, tag, {"Cmd": command, "Env": [DEFAULT_PATH]},
                                {"digest": _digest(layer), "size": len(layer), "diff_id": _digest(layer_tar)})

    def push_layer_file(self, repository: str, tag: str, layer: LayerFile, command: list[str],
                        labels: dict[str, str] | None = None, env: tuple[str, ...] = ()) -> str:
        """Put a one-layer image whose gzipped layer is a file here (a GB: streamed, never read whole).

        The upload is skipped when the registry holds the blob already (a second push in one sandbox).
        """
        if not self._has_blob(repository, layer.digest):
            location = self._start_upload(repository)
            with open(layer.path, "rb") as handle:
                self._request("PUT", f"{location}digest={layer.digest}", handle, "application/octet-stream",
                              length=layer.size, timeout=300)
        config = {"Cmd": command, "Env": list(env) or [DEFAULT_PATH], "Labels": dict(labels or {})}
        return self._push_image(repository, tag, config,
                                {"digest": layer.digest, "size": layer.size, "diff_id": layer.diff_id})

    def _push_image(self, repository: str, tag: str, container_config: dict, layer: dict) -> str:
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": container_config,
            "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"]]},
            "history": [{"created_by": "provision sandbox push-image"}],
        }, sort_keys=True).encode()
        self._upload_blob(repository, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": _digest(config)},
            "layers": [{"mediaType": LAYER_TYPE, "size": layer["size"], "digest": layer["digest"]}],
        }, sort_keys=True).encode()
        self._request("PUT", f"/v2/{repository}/manifests/{tag}", manifest, MANIFEST_TYPE)
        return _digest(manifest)

    def _upload_blob(self, repository: str, blob: bytes) -> None:
        self._request("PUT", f"{self._start_upload(repository)}digest={_digest(blob)}", blob,
                      "application/octet-stream")

    def _start_upload(self, repository: str) -> str:
        """Open an upload session; returns its URL ready for `digest=` to be appended."""
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/", b"")
        location = response.headers["Location"]
        if not location.startswith("http"):
            location = self.url + location
        return location + ("&" if "?" in location else "?")

    def _has_blob(self, repository: str, digest: str) -> bool:
        request = urllib.request.Request(f"{self.url}/v2/{repository}/blobs/{digest}", method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False
        except urllib.error.URLError as error:
            raise SandboxError(f"registry {self.url} unreachable: {error.reason}") from None

    def _request(self, method: str, path: str, body, content_type: str = "application/octet-stream",
                 length: int | None = None, timeout: float = 30):
        """One request; `body` is bytes or an open file, which is sent as read (give its `length`)."""
        url = path if path.startswith("http") else self.url + path
        headers = {"Content-Type": content_type}
        if length is not None:
            headers["Content-Length"] = str(length)  # a file with a length goes out as is, not chunked
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response
        except urllib.error.HTTPError as error:
            raise SandboxError(f"registry {method} {path}: HTTP {error.code} {error.read()[:300]!r}") from None
        except urllib.error.URLError as error:
            raise SandboxError(f"registry {self.url} unreachable: {error.reason}") from None


def busybox_layer(image_root: str) -> bytes:
    """A tar of busybox (with its libraries) from the base image, and applet links: a tiny rootfs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("bin", "lib", "lib/x86_64-linux-gnu", "lib64", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        for relative in BUSYBOX_FILES:
            # resolve links as the image sees them (its /lib64 link is absolute), not as this machine does
            inside = system.run("chroot", image_root, "readlink", "-f", "/" + relative).stdout.strip()
            source = os.path.join(image_root, inside.lstrip("/"))
            info = tarfile.TarInfo(relative)
            info.size, info.mode = os.path.getsize(source), 0o755
            with open(source, "rb") as handle:
                tar.addfile(info, handle)
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buffer.getvalue()


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()

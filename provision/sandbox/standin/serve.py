"""Serves the stand-in repository over HTTP: in this process (tests) or as a background process.

    python -m provision.sandbox.standin.serve [--root DIR] --bind ADDR [--port PORT] [--state-file PATH]

Without --root it builds (or reuses) the cached repository first. With --state-file it writes
{"pid", "url", "root"} there once it listens, which is how a starter learns a port chosen by the
kernel (--port 0). SIGTERM stops it cleanly. Requests are not logged: the repository is read-only
and a busy apt run would flood the starter's log.
"""
from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import signal
import sys
import threading
from functools import partial


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The repository's files as they are, and what names this server's own URL: cuda-keyring and
    the legacy nvidia-docker.list."""

    keyrings: _Keyrings  # set per server by StandinServer

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        from provision.sandbox.standin import legacy

        path = self.path.split("?", 1)[0]
        data = self.keyrings.get(path)
        if data is not None:
            return self._answer(200, "application/vnd.debian.binary-package", data)
        listed = legacy.list_response(path, self.keyrings.url)
        if listed is not None:
            return self._answer(listed[0], "text/plain; charset=utf-8", listed[1])
        return super().send_head()

    def _answer(self, status: int, kind: str, data: bytes):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)


class _Keyrings:
    """cuda-keyring packages of one server, built on the first request for each and kept."""

    def __init__(self, root: str):
        from provision.sandbox.standin.repository import dpkg_architecture

        self.root = root
        self.url = ""  # the server's base URL, known once it listens
        self._built: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()  # held only to build one: other files are served meanwhile
        self._architecture = dpkg_architecture()

    def get(self, path: str) -> bytes | None:
        from provision.sandbox.standin import keyring

        wanted = keyring.keyring_request(path, self._architecture)
        if wanted is None:
            return None
        with self._lock:
            if wanted not in self._built:
                self._built[wanted] = keyring.build_keyring(self.root, *wanted, self.url, self._architecture)
            return self._built[wanted]


class StandinServer:
    """The repository folder served by a thread of this process: `with StandinServer(root, address) as s: s.url`."""

    def __init__(self, root: str, address: str = "127.0.0.1", port: int = 0):
        self.root = root
        self.address = address
        self.port = port
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> StandinServer:
        keyrings = _Keyrings(self.root)
        handler = partial(type("_Handler", (_QuietHandler,), {"keyrings": keyrings}), directory=self.root)
        self._server = http.server.ThreadingHTTPServer((self.address, self.port), handler)
        keyrings.url = self.url
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="standin-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ending in '/'; the repositories lie below it at NVIDIA's paths."""
        assert self._server is not None, "start the server first"
        return f"http://{self.address}:{self._server.server_address[1]}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provision.sandbox.standin.serve",
                                     description="Serve provision's stand-in vendor repository "
                                                 "(STAND-IN for tests: not NVIDIA software).")
    parser.add_argument("--root", help="repository folder (default: build or reuse the cached one)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--state-file", help="write {pid, url, root} as JSON here once listening")
    options = parser.parse_args(argv)
    root = options.root
    if root is None:
        from provision.sandbox.standin.repository import build_repository

        root = build_repository()
    server = StandinServer(root, options.bind, options.port)
    try:
        server.start()
    except OSError as error:
        print(f"cannot listen on {options.bind}:{options.port}: {error}", file=sys.stderr)
        return 1
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *args: stopped.set())
    signal.signal(signal.SIGINT, lambda *args: stopped.set())
    if options.state_file:
        temporary = f"{options.state_file}.tmp"
        with open(temporary, "w") as handle:
            json.dump({"pid": os.getpid(), "url": server.url, "root": root}, handle)
        os.replace(temporary, options.state_file)
    print(f"serving the stand-in repository {root} on {server.url}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

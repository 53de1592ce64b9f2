"""The sandbox's apt proxy: hosts `apt-get install` through it, and it goes only where this machine's apt goes.

A small threaded HTTP forward proxy on the bridge (`http://10.244.<i>.1:3142/`). Hosts get
`Acquire::http::Proxy` pointing at it, so their apt asks it for `http://deb.debian.org/debian/...`
(the image's own sources); it forwards a request only when the URL lies below one of the
upstreams read from this machine's apt sources (never a hard-coded mirror), and answers 403 to
anything else, CONNECT included. Package files (`.deb`) are kept on disk under
/var/cache/provision/aptproxy/ (pool files never change under one name) and served from there
afterwards, even with the upstream gone; index files are passed through, never cached.

    proxy = AptProxy(sandbox="default", directory=state_dir, address="10.244.1.1")
    pid = proxy.start()          # upstreams: apt_source_uris() of this machine
    proxy.stop(pid)

The easy thing to get wrong: a proxy on the bridge is a door out of the sandbox. It follows no
redirects itself (apt gets the 3xx and asks again, through the same check), and a path with `..`
is refused, so a host reaches nothing beyond what this machine's sources name.
"""
from __future__ import annotations

import argparse
import glob
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from provision.errors import SandboxError
from provision.sandbox import system

PORT = 3142
DEFAULT_CACHE = "/var/cache/provision/aptproxy"
STATE_NAME = "aptproxy.json"
LOG_NAME = "aptproxy.log"
SERVER_MARK = "provision.sandbox.aptproxy"  # in the server's command line: how `stop` knows the PID is ours
APT_CONF_PATH = "/etc/apt/apt.conf.d/01provision-proxy"
CACHED_SUFFIXES = (".deb", ".udeb")
REQUEST_HEADERS = ("If-Modified-Since", "If-None-Match", "Range", "If-Range", "User-Agent", "Accept")
RESPONSE_HEADERS = ("Content-Type", "Content-Length", "Last-Modified", "ETag", "Content-Range", "Location",
                    "Accept-Ranges")
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- where this machine's apt goes -----------------------------------------------------------

def apt_source_uris(apt_dir: str = "/etc/apt") -> list[str]:
    """The http(s) URIs of this machine's enabled apt sources, one-line (`*.list`) and deb822
    (`*.sources`) alike, in order, without duplicates; cdrom:, file:, copy: and the like are skipped."""
    uris: list[str] = []
    for path in [f"{apt_dir}/sources.list", *sorted(glob.glob(f"{apt_dir}/sources.list.d/*.list"))]:
        if os.path.isfile(path):
            with open(path) as handle:
                uris += _one_line_uris(handle.read())
    for path in sorted(glob.glob(f"{apt_dir}/sources.list.d/*.sources")):
        with open(path) as handle:
            uris += _deb822_uris(handle.read())
    wanted = []
    for uri in uris:
        if urllib.parse.urlsplit(uri).scheme in ("http", "https") and uri not in wanted:
            wanted.append(uri)
    return wanted


def _one_line_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
        if match:
            uris.append(match.group(1))
    return uris


def _deb822_uris(text: str) -> list[str]:
    uris = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        name = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and name:  # a folded continuation line
                fields[name] += " " + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                name = name.strip().lower()
                fields[name] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "types" not in fields:
            continue
        uris += fields.get("uris", "").split()
    return uris


def route(url: str, upstreams: list[str]) -> str | None:
    """The upstream URL to fetch for a request's URL, or None when it lies below no upstream.

    Matching is on host, port and path prefix; the fetch uses the upstream's scheme, so a host
    asking `http://` for a source this machine reads over https gets it over https.
    """
    request = urllib.parse.urlsplit(url)
    if request.scheme != "http" or not request.hostname or request.username or request.password:
        return None
    if ".." in request.path.split("/") or "%2e" in request.path.lower() or "%2f" in request.path.lower():
        return None
    for upstream in upstreams:
        allowed = urllib.parse.urlsplit(upstream)
        # a host asks over http: the default port it uses is 80 whatever the upstream's scheme
        if (request.hostname, _port(request)) != (allowed.hostname, _port(allowed, default=80)):
            continue
        prefix = allowed.path.rstrip("/") + "/"
        if (request.path or "/").startswith(prefix) or request.path == allowed.path.rstrip("/"):
            rest = request.path + (f"?{request.query}" if request.query else "")
            return f"{allowed.scheme}://{allowed.netloc}{rest}"
    return None


def _port(parts: urllib.parse.SplitResult, default: int | None = None) -> int:
    try:
        return parts.port or default or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return -1


def apt_config_files(url: str, direct: tuple[str, ...] = ()) -> dict[str, bytes]:
    """What a host needs to send its apt through the proxy at `url` (for seed's `files`). The
    `direct` addresses are reached without it: the sandbox's own servers on its gateway (the
    stand-in NVIDIA repository), which the proxy refuses as they are not this machine's sources."""
    text = (f"// written by `provision sandbox up --apt-proxy`: apt goes through the sandbox's apt proxy\n"
            f'Acquire::http::Proxy "{url}";\n')
    text += "".join(f'Acquire::http::Proxy::{address} "DIRECT";\n' for address in direct)
    return {APT_CONF_PATH: text.encode()}


# ---- the server --------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the host's apt follows a redirect itself, through route() again


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # apt keeps its connection open and pipelines requests
    server: ProxyServer

    def do_GET(self) -> None:
        self._forward(head=False)

    def do_HEAD(self) -> None:
        self._forward(head=True)

    def do_CONNECT(self) -> None:
        self._refuse("CONNECT is not offered: the sandbox apt proxy forwards plain http to apt's mirrors only")

    do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_CONNECT

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _refuse(self, why: str) -> None:
        body = (why + "\n").encode()
        self.send_response(403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, head: bool) -> None:
        target = route(self.path, self.server.upstreams)
        if target is None:
            self._refuse(f"{self.path} is not below an apt source of this machine: "
                         f"{', '.join(self.server.upstreams) or 'none'}")
            return
        cached = self.server.cache_path(target)
        if cached and os.path.isfile(cached):
            self._send_file(cached, head)
            return
        headers = {name: self.headers[name] for name in REQUEST_HEADERS if self.headers[name]}
        request = urllib.request.Request(target, headers=headers, method="HEAD" if head else "GET")
        try:
            response = _OPENER.open(request, timeout=60)
        except urllib.error.HTTPError as error:  # 304, 404, a redirect: apt's to act on
            self._relay(error.code, error.headers, error, head, None)
            return
        except (urllib.error.URLError, OSError) as error:
            body = f"upstream {target} unreachable: {getattr(error, 'reason', error)}\n".encode()
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with response:
            keep = cached if response.status == 200 and "Range" not in headers else None
            self._relay(response.status, response.headers, response, head, keep)

    def _relay(self, status: int, headers, body, head: bool, cache_to: str | None) -> None:
        self.send_response(status)
        for name in RESPONSE_HEADERS:
            if headers.get(name):
                self.send_header(name, headers[name])
        length = headers.get("Content-Length")
        if length is None and not head and status not in (204, 304):
            self.send_header("Connection", "close")  # no length: the end of the body is the close
            self.close_connection = True
        self.send_header("X-Cache", "MISS")
        self.end_headers()
        if head or status in (204, 304):
            return
        partial = None
        if cache_to and length is not None:
            os.makedirs(os.path.dirname(cache_to), exist_ok=True)
            partial = open(f"{cache_to}.part-{os.getpid()}-{threading.get_ident()}", "wb")
        written = 0
        try:
            while chunk := body.read(65536):
                self.wfile.write(chunk)
                if partial:
                    partial.write(chunk)
                written += len(chunk)
        finally:
            if partial:
                partial.close()
                if written == int(length):
                    os.replace(partial.name, cache_to)  # complete: later requests get it from disk
                else:
                    os.unlink(partial.name)

    def _send_file(self, path: str, head: bool) -> None:
        size = os.path.getsize(path)
        self.send_response(200)  # a Range request gets the whole file: apt starts that download over
        self.send_header("Content-Type", "application/vnd.debian.binary-package")
        self.send_header("Content-Length", str(size))
        self.send_header("Last-Modified", self.date_time_string(os.path.getmtime(path)))
        self.send_header("X-Cache", "HIT")
        self.end_headers()
        if not head:
            with open(path, "rb") as handle:
                shutil.copyfileobj(handle, self.wfile, 65536)


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstreams: list[str], cache_dir: str):
        super().__init__(address, ProxyHandler)
        self.upstreams = upstreams
        self.cache_dir = cache_dir

    def cache_path(self, url: str) -> str | None:
        """Where a package file of this URL is kept (None for anything else: indexes are not kept)."""
        parts = urllib.parse.urlsplit(url)
        if parts.query or not parts.path.endswith(CACHED_SUFFIXES):
            return None
        host = f"{parts.hostname}_{_port(parts)}"
        return os.path.join(self.cache_dir, host, *[segment for segment in parts.path.split("/") if segment])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="provision.sandbox.aptproxy", description="the sandbox's apt proxy")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--cache", default=DEFAULT_CACHE)
    parser.add_argument("--upstream", action="append", default=[], help="an allowed upstream URI (repeat)")
    parser.add_argument("--state-file")
    options = parser.parse_args(argv)
    try:
        server = ProxyServer((options.bind, options.port), options.upstream, options.cache)
    except OSError as error:
        print(f"cannot listen on {options.bind}:{options.port}: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *args: threading.Thread(target=server.shutdown).start())
    url = f"http://{options.bind}:{server.server_address[1]}/"
    if options.state_file:
        with open(f"{options.state_file}.tmp", "w") as handle:
            json.dump({"pid": os.getpid(), "url": url, "upstreams": options.upstream}, handle)
        os.replace(f"{options.state_file}.tmp", options.state_file)
    print(f"apt proxy on {url}, forwarding to {', '.join(options.upstream)}", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()
    return 0


# ---- the background service ----------------------------------------------------------------------

@dataclass
class AptProxy:
    """The proxy of one sandbox: a process in the sandbox's cgroup `aptproxy`, state in `directory`."""
    sandbox: str
    directory: str
    address: str
    port: int = PORT

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    def running(self, pid: int) -> bool:
        return bool(pid) and SERVER_MARK in system.command_of(pid)

    def start(self, upstreams: list[str] | None = None, cache_dir: str = DEFAULT_CACHE,
              timeout: float = 15.0) -> int:
        """Start the proxy; returns its PID once it listens. Upstreams default to this machine's apt sources."""
        upstreams = apt_source_uris() if upstreams is None else list(upstreams)
        if not upstreams:
            raise SandboxError("the apt proxy has no upstream: this machine's /etc/apt/sources.list* name no http(s) source")
        os.makedirs(self.directory, exist_ok=True)
        os.makedirs(cache_dir, exist_ok=True)
        state = os.path.join(self.directory, STATE_NAME)
        if os.path.exists(state):
            os.unlink(state)
        cgroups = system.cgroup_dirs(self.sandbox, "aptproxy")
        system.create_cgroups(cgroups)

        def enter_cgroups() -> None:
            for directory in cgroups:
                with open(os.path.join(directory, "cgroup.procs"), "w") as handle:
                    handle.write(str(os.getpid()))

        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, environment.get("PYTHONPATH")]))
        command = [sys.executable, "-c", f"import sys; from {SERVER_MARK} import main; sys.exit(main())",
                   "--bind", self.address, "--port", str(self.port), "--cache", cache_dir, "--state-file", state]
        for upstream in upstreams:
            command += ["--upstream", upstream]
        log_path = os.path.join(self.directory, LOG_NAME)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/",
                                       env=environment, start_new_session=True, preexec_fn=enter_cgroups)
        deadline = time.monotonic() + timeout
        while not os.path.exists(state):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop(process.pid)
                tail = open(log_path).read()[-800:]
                raise SandboxError(f"the sandbox apt proxy did not listen on {self.url}:\n{tail}")
            time.sleep(0.05)
        return process.pid

    def stop(self, pid: int) -> None:
        """Kill the proxy (its PID, if still ours, and anything in its cgroup); remove its cgroups."""
        cgroups = system.cgroup_dirs(self.sandbox, "aptproxy")
        pids = system.cgroup_pids(cgroups)
        if self.running(pid):  # never a reused PID
            pids.add(pid)
        system.kill_all(pids, what="the sandbox apt proxy")
        system.remove_cgroups(cgroups)

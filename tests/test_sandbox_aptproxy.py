"""The sandbox's apt proxy: upstreams read from apt sources, hosts installing through it, its cache, its refusals.

Network traffic stays on this machine: the proxy under test forwards to a tiny repository served
on 127.0.0.1 here, which a host cannot reach except through the proxy (its own 127.0.0.1 is its own).
"""
from __future__ import annotations

import json
import os

import pytest
import yaml

from provision.sandbox import Sandbox
from provision.sandbox.aptproxy import APT_CONF_PATH, apt_source_uris, route
from tests.conftest import ssh, throwaway_sandbox
from tests.support.aptrepo import AptRepo

ONE_LINE = """\
# the machine's main sources
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64] http://mirror.example/debian bookworm main
deb-src http://mirror.example/debian bookworm main
# deb http://commented.example/debian bookworm main
deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main
deb file:/srv/local-repo ./
deb http://security.example/debian-security bookworm-security main # trailing comment
"""

DEB822 = """\
Types: deb deb-src
URIs: http://deb.example/debian http://deb.example/debian-extra
Suites: bookworm bookworm-updates
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 URIs: http://inside-a-key.example/ must not count
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: https://vendor.example/apt
Suites: stable
Components: main
Enabled: no

# a comment between stanzas
Types: deb
URIs: https://vendor.example/cuda/debian12/x86_64/
Suites: /
"""


def write_sources(root, files: dict[str, str]) -> str:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "sources.list.d").mkdir(exist_ok=True)
    return str(root)


def test_upstreams_come_from_one_line_and_deb822_sources(tmp_path):
    apt_dir = write_sources(tmp_path, {
        "sources.list": ONE_LINE,
        "sources.list.d/debian.sources": DEB822,
        "sources.list.d/extra.list": "deb [trusted=yes] http://extra.example:8080/repo stable main\n",
        "sources.list.d/off.list.disabled": "deb http://disabled.example/debian bookworm main\n",
    })
    assert apt_source_uris(apt_dir) == [
        "http://mirror.example/debian",
        "http://security.example/debian-security",
        "http://extra.example:8080/repo",
        "http://deb.example/debian",
        "http://deb.example/debian-extra",
        "https://vendor.example/cuda/debian12/x86_64/",
    ]


def test_no_sources_gives_no_upstream(tmp_path):
    assert apt_source_uris(write_sources(tmp_path, {})) == []


def test_route_allows_only_what_lies_below_an_upstream():
    upstreams = ["http://deb.example/debian", "https://vendor.example/cuda/", "http://extra.example:8080/repo"]
    assert route("http://deb.example/debian/dists/bookworm/InRelease", upstreams) == \
        "http://deb.example/debian/dists/bookworm/InRelease"
    assert route("http://DEB.example:80/debian/pool/main/h/hello.deb", upstreams) == \
        "http://deb.example/debian/pool/main/h/hello.deb"
    # a source this machine reads over https is fetched over https
    assert route("http://vendor.example/cuda/Release", upstreams) == "https://vendor.example/cuda/Release"
    assert route("http://extra.example:8080/repo/x.deb", upstreams) == "http://extra.example:8080/repo/x.deb"
    for refused in ("http://deb.example/debian-other/x", "http://deb.example/", "http://elsewhere.example/debian/x",
                    "http://deb.example:8080/debian/x", "http://extra.example/repo/x",
                    "http://deb.example/debian/../secret", "http://deb.example/debian/%2e%2e/secret",
                    "https://deb.example/debian/x", "ftp://deb.example/debian/x", "/debian/x",
                    "http://user:pw@deb.example/debian/x"):
        assert route(refused, upstreams) is None, refused


# ---- on a sandbox host ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxied():
    with throwaway_sandbox("xap", hosts=1, apt_proxy=True) as fleet:
        yield fleet


def curl_status(fleet: Sandbox, proxy: str, url: str, *options: str) -> str:
    command = " ".join(["curl -s -o /dev/null -w '%{http_code} %{http_connect}'", *options, "-x", proxy, f"'{url}'"])
    return ssh(fleet, "host01", command, check=False).stdout.strip()


@pytest.mark.sandbox
def test_up_with_apt_proxy_points_every_host_at_it(proxied):
    url = f"http://{proxied.gateway}:3142/"
    assert proxied.apt_proxy.running(proxied.aptproxy_pid)
    state = json.load(open(os.path.join(proxied.apt_proxy.directory, "aptproxy.json")))
    assert state["url"] == url
    assert state["upstreams"] == apt_source_uris(), "upstreams are this machine's own apt sources"
    assert f"Acquire::http::Proxy \"{url}\";" in ssh(proxied, "host01", f"cat {APT_CONF_PATH}").stdout
    assert url in ssh(proxied, "host01", "apt-config dump Acquire::http::Proxy").stdout
    assert f'Acquire::http::Proxy::{proxied.gateway} "DIRECT";' in ssh(proxied, "host01", f"cat {APT_CONF_PATH}").stdout
    inventory = yaml.safe_load(open(proxied.inventory_path))
    assert inventory["all"]["vars"]["sandbox_apt_proxy"] == url
    with open(f"/proc/{proxied.aptproxy_pid}/cgroup") as handle:
        assert f"provision/{proxied.name}/aptproxy" in handle.read(), "the proxy runs in the sandbox's cgroup"


@pytest.mark.sandbox
def test_the_stand_in_repository_on_the_gateway_is_reached_directly(proxied):
    """The proxy refuses what is not this machine's source; the sandbox's own stand-in NVIDIA
    repository (on the gateway) is not, so a proxied host reaches it directly."""
    cuda = proxied.start_standin().cuda_url("debian12")
    only = "-o Dir::Etc::SourceList=/tmp/standin.list -o Dir::Etc::SourceParts=/nonexistent"
    update = ssh(proxied, "host01", f"echo 'deb [trusted=yes] {cuda} /' > /tmp/standin.list && apt-get update -q "
                                    f"{only} && apt-cache {only} policy cuda-drivers-580", check=False)
    assert update.returncode == 0 and "403" not in update.stdout + update.stderr, update.stdout + update.stderr
    assert "Candidate: 580." in update.stdout, update.stdout


@pytest.mark.sandbox
def test_host_installs_through_the_proxy_then_from_its_cache_and_nothing_else_gets_through(proxied, tmp_path):
    cache = tmp_path / "cache"
    repo = AptRepo("127.0.0.1")  # reachable from this machine only: a host gets it through the proxy or not at all
    repo.start()
    try:
        repo.add("proxied-fake", "1.0")
        repo.publish()
        first_pid = proxied.aptproxy_pid
        proxied.stop_apt_proxy()
        assert not os.path.exists(f"/proc/{first_pid}"), "stopped by its PID"
        upstream = repo.url
        url = proxied.start_apt_proxy(upstreams=[upstream], cache_dir=str(cache))
        assert url == f"http://{proxied.gateway}:3142/"
        ssh(proxied, "host01", f"rm -f /etc/apt/sources.list && echo '{repo.source_line()}' "
                               "> /etc/apt/sources.list.d/fake.list")
        installed = ssh(proxied, "host01", "apt-get update -q && DEBIAN_FRONTEND=noninteractive "
                                           "apt-get install -y -q proxied-fake", check=False)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert ssh(proxied, "host01", "cat /usr/share/doc/proxied-fake/VERSION").stdout == "1.0\n"
        port = upstream.rstrip("/").rsplit(":", 1)[1]
        assert (cache / f"127.0.0.1_{port}" / "pool" / "proxied-fake_1.0_all.deb").is_file()
        assert not list(cache.rglob("*Packages*")) and not list(cache.rglob("*Release*")), "indexes are not kept"
    finally:
        repo.stop()  # the upstream is gone: what comes now comes from the proxy's cache

    again = ssh(proxied, "host01", "apt-get purge -y -q proxied-fake && apt-get clean && "
                                   "DEBIAN_FRONTEND=noninteractive apt-get install -y -q proxied-fake", check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ssh(proxied, "host01", "cat /usr/share/doc/proxied-fake/VERSION").stdout == "1.0\n"

    # anything not below an allowed upstream is refused, before any connection is made
    assert curl_status(proxied, url, "http://deb.debian.org/debian/dists/bookworm/InRelease") == "403 000"
    assert curl_status(proxied, url, "http://127.0.0.1:22/") == "403 000"
    assert curl_status(proxied, url, f"{upstream}../etc/passwd", "--path-as-is") == "403 000"
    assert curl_status(proxied, url, "https://deb.debian.org/debian/").endswith(" 403"), "no CONNECT tunnels"
    log = open(os.path.join(proxied.apt_proxy.directory, "aptproxy.log")).read()
    assert "proxied-fake_1.0_all.deb" in log

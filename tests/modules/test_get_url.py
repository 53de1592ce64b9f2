"""get_url over real SSH: the host downloads from an HTTP server on the sandbox gateway."""
import hashlib

import pytest

from tests.conftest import run_module, ssh
from tests.support.aptrepo import AptRepo

HOST = "host03"
PAYLOAD = b"driver bundle v1\n"


@pytest.fixture
def server(sandbox):
    with AptRepo(sandbox.gateway) as repo:  # any file it serves will do
        yield repo


@pytest.fixture
def clean(sandbox):
    ssh(sandbox, HOST, "rm -rf /opt/dl && mkdir -p /opt/dl")
    yield
    ssh(sandbox, HOST, "rm -rf /opt/dl")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.sandbox
def test_download_with_checksum_check_apply_then_ok(sandbox, server, clean, module_context):
    url = server.add_file("files/bundle.run", PAYLOAD)
    args = {"url": url, "dest": "/opt/dl/bundle.run", "checksum": sha256(PAYLOAD), "mode": "0750", "owner": "admin"}
    checked = run_module("get_url", args, module_context(HOST, check=True))
    assert checked.status == "changed" and "download" in checked.diff
    assert ssh(sandbox, HOST, "ls -A /opt/dl").stdout == ""

    applied = run_module("get_url", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert ssh(sandbox, HOST, "cat /opt/dl/bundle.run").stdout == PAYLOAD.decode()
    assert ssh(sandbox, HOST, "stat -c '%a %U' /opt/dl/bundle.run").stdout.strip() == "750 admin"
    sha1 = hashlib.sha1(PAYLOAD).hexdigest()
    assert {key: applied.data[key] for key in ("status_code", "checksum_src", "checksum_dest", "mode", "owner")} == {
        "status_code": 200, "checksum_src": sha1, "checksum_dest": sha1, "mode": "0750", "owner": "admin"}
    assert run_module("get_url", args, module_context(HOST)).status == "ok"

    ssh(sandbox, HOST, "chmod 0644 /opt/dl/bundle.run")
    fixed = run_module("get_url", args, module_context(HOST))
    assert fixed.status == "changed" and "mode: 0644 -> 0750" in fixed.diff


@pytest.mark.sandbox
def test_wrong_checksum_fails_and_leaves_nothing(sandbox, server, clean, module_context):
    url = server.add_file("files/bundle.run", PAYLOAD)
    result = run_module("get_url", {"url": url, "dest": "/opt/dl/bundle.run", "checksum": sha256(b"other")},
                        module_context(HOST))
    assert result.status == "failed"
    assert "checksum mismatch" in result.msg
    assert ssh(sandbox, HOST, "ls -A /opt/dl").stdout == ""


@pytest.mark.sandbox


@pytest.mark.sandbox
def test_missing_url_fails_clearly(sandbox, server, clean, module_context):
    result = run_module("get_url", {"url": server.url + "nope.bin", "dest": "/opt/dl/nope.bin"}, module_context(HOST))
    assert result.status == "failed"
    assert "404" in result.msg
    assert ssh(sandbox, HOST, "ls -A /opt/dl").stdout == ""

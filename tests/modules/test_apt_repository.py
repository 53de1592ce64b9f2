"""apt_repository over real SSH: a signed local repository, its key from a file or fetched by URL."""
import pytest

from provision.modules.apt_repository import deb822, list_line
from tests.conftest import run_module, ssh
from tests.support.aptrepo import AptRepo

HOST = "host01"


def test_list_line_gets_signed_by_in_its_options():
    assert list_line("deb [arch=amd64] http://x/ubuntu jammy main", "/k.asc") == \
        "deb [signed-by=/k.asc arch=amd64] http://x/ubuntu jammy main\n"
    assert list_line("deb http://x/ stable main contrib", None) == "deb http://x/ stable main contrib\n"
    assert list_line("deb [signed-by=/own.gpg] http://x/ ./", "/k.asc") == "deb [signed-by=/own.gpg] http://x/ ./\n"
    with pytest.raises(Exception, match="not a source line"):
        list_line("http://x/ stable", None)


def test_deb822_fields():
    assert deb822({"Types": ["deb"], "URIs": ["http://x/"], "Suites": ["stable"], "Components": ["main"],
                   "Architectures": None, "Trusted": True}) == \
        "Types: deb\nURIs: http://x/\nSuites: stable\nComponents: main\nTrusted: yes\n"


@pytest.fixture(scope="module")
def signed_repo(sandbox):
    with AptRepo(sandbox.gateway, signed=True) as repo:
        repo.add("vendor-fake", "3.0")
        repo.publish()
        repo.add_file("keys/vendor.asc", repo.public_key.encode())
        yield repo


@pytest.fixture
def host(sandbox, fresh_host):
    ssh(sandbox, HOST, "rm -f /etc/apt/sources.list.d/* && : > /etc/apt/sources.list")
    return HOST


def candidate(sandbox, package):
    policy = ssh(sandbox, HOST, f"LC_ALL=C apt-cache policy {package}").stdout
    return next((line.split(":", 1)[1].strip() for line in policy.splitlines() if "Candidate:" in line), None)


@pytest.mark.sandbox
def test_deb822_source_with_key_file_check_apply_then_ok(sandbox, signed_repo, host, module_context, tmp_path):
    key_file = tmp_path / "vendor.asc"
    key_file.write_text(signed_repo.public_key)
    args = {"name": "vendor", "uris": [signed_repo.url], "suites": ["stable"], "components": ["main"],
            "key_src": str(key_file)}
    checked = run_module("apt_repository", args, module_context(HOST, check=True))
    assert checked.status == "changed"
    assert "+Signed-By: /etc/apt/keyrings/vendor.asc" in checked.diff
    assert "write keyring /etc/apt/keyrings/vendor.asc" in checked.diff
    assert ssh(sandbox, HOST, "ls /etc/apt/sources.list.d/ /etc/apt/keyrings/").stdout.split() == \
        ["/etc/apt/keyrings/:", "/etc/apt/sources.list.d/:"]

    applied = run_module("apt_repository", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert applied.data["cache_updated"] is True
    assert ssh(sandbox, HOST, "cat /etc/apt/sources.list.d/vendor.sources").stdout == (
        f"Types: deb\nURIs: {signed_repo.url}\nSuites: stable\nComponents: main\n"
        "Signed-By: /etc/apt/keyrings/vendor.asc\n")
    assert ssh(sandbox, HOST, "cat /etc/apt/keyrings/vendor.asc").stdout == signed_repo.public_key
    assert candidate(sandbox, "vendor-fake") == "3.0"  # apt verified the signature with that keyring
    assert run_module("apt_repository", args, module_context(HOST)).status == "ok"

    removed = run_module("apt_repository", {**args, "state": "absent"}, module_context(HOST))
    assert removed.status == "changed", removed.msg
    assert ssh(sandbox, HOST, "ls /etc/apt/sources.list.d/ /etc/apt/keyrings/").stdout.split() == \
        ["/etc/apt/keyrings/:", "/etc/apt/sources.list.d/:"]
    assert run_module("apt_repository", {**args, "state": "absent"}, module_context(HOST)).status == "ok"


@pytest.mark.sandbox
def test_list_line_with_key_fetched_by_the_host(sandbox, signed_repo, host, module_context):
    args = {"name": "vendor", "repo": f"deb {signed_repo.url} stable main", "key_url": signed_repo.url + "keys/vendor.asc"}
    applied = run_module("apt_repository", args, module_context(HOST))
    assert applied.status == "changed", applied.msg
    assert ssh(sandbox, HOST, "cat /etc/apt/sources.list.d/vendor.list").stdout == \
        f"deb [signed-by=/etc/apt/keyrings/vendor.asc] {signed_repo.url} stable main\n"
    assert candidate(sandbox, "vendor-fake") == "3.0"
    assert run_module("apt_repository", args, module_context(HOST)).status == "ok"


@pytest.mark.sandbox
def test_wrong_key_fails_on_the_index_update(sandbox, signed_repo, host, module_context):
    other = AptRepo(sandbox.gateway, signed=True)
    other.start()
    try:
        args = {"name": "vendor", "repo": f"deb {signed_repo.url} stable main", "key_content": other.public_key}
        result = run_module("apt_repository", args, module_context(HOST))
    finally:
        other.stop()
    assert result.status == "failed"
    assert "apt-get update failed" in result.msg


@pytest.mark.sandbox
def test_an_unreachable_repository_fails_naming_its_fetch_error(sandbox, host, module_context):
    """apt-get update only warns (exit 0) about a repository it cannot reach; the task that just
    added that repository must not report success with its packages missing."""
    dead = "http://127.0.0.1:9/vendor"
    args = {"name": "vendor", "repo": f"deb [trusted=yes] {dead} stable main"}
    result = run_module("apt_repository", args, module_context(HOST))
    assert result.status == "failed"
    assert (f"/etc/apt/sources.list.d/vendor.list was written, but the repository is unreachable: "
            f"{dead}/dists/stable/InRelease: Could not connect to 127.0.0.1:9") in result.msg, result.msg

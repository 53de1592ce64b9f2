"""apt_repository: its decisions as data on a fake host; over real SSH, a signed local repository
(its key from a file or fetched by URL), a wrong key and an unreachable repository as apt sees them."""
import hashlib

import pytest

from provision.modules.apt_repository import deb822, list_line
from provision.transport.base import CommandResult
from tests.conftest import run_module, ssh
from tests.modules.systemhost import ok, run_on
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


# ---- as data: given what the host holds, expect these writes and commands (fake host) --------

ARMORED = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nxsBNBGV...\n-----END PGP PUBLIC KEY BLOCK-----\n"
ARMORED_SUM = hashlib.sha256(ARMORED.encode()).hexdigest()
DEB822 = {"name": "vendor", "uris": ["http://repo.example/cuda/"], "suites": ["stable"], "components": ["main"],
          "key_content": ARMORED}
SOURCES = ("Types: deb\nURIs: http://repo.example/cuda/\nSuites: stable\nComponents: main\n"
           "Signed-By: /etc/apt/keyrings/vendor.asc\n")


def held(source=None, keyring=None, url=None):
    """The read command's output: keyring checksum, what key_url serves, the source file."""
    text = "" if keyring is None else f"\n@@provision:keyring@@\n{keyring}"
    text += "" if url is None else f"\n@@provision:url@@\n{url}"
    return text + "\n@@provision:exists@@\n" + ("yes" if source is not None else "") \
        + "\n@@provision:source@@\n" + (source or "")


def repository(args, output, update=ok(""), check=False):
    return run_on("apt_repository", args, [("s exists;", ok(output)), ("apt-get -q update", update)], check=check)


def test_read_is_one_command_with_the_keyring_and_the_url_checksums():
    _, host = repository({**DEB822, "key_content": None, "key_url": "http://repo.example/key.gpg"}, held())
    read = host.commands[0]
    assert "s keyring; [ -f /etc/apt/keyrings/vendor.gpg ] && sha256sum < /etc/apt/keyrings/vendor.gpg" in read
    assert "curl -fsSL --max-time 30 -o \"$t\" http://repo.example/key.gpg" in read
    assert "s source; [ ! -f /etc/apt/sources.list.d/vendor.sources ] || cat /etc/apt/sources.list.d/vendor.sources" in read


def test_a_new_deb822_source_writes_the_keyring_then_the_source_then_updates():
    result, host = repository(DEB822, held())
    assert result.status == "changed", result.msg
    assert host.writes == {"/etc/apt/keyrings/vendor.asc": ARMORED.encode(),
                           "/etc/apt/sources.list.d/vendor.sources": SOURCES.encode()}
    actions = host.actions()
    assert actions[:3] == ["mkdir -p -m 0755 -- /etc/apt/keyrings", "write /etc/apt/keyrings/vendor.asc",
                           "write /etc/apt/sources.list.d/vendor.sources"]
    assert actions[3].endswith("apt_locked apt-get -q update\n") and len(actions) == 4
    assert result.data["cache_updated"] is True
    assert result.data["sources_added"] == ["/etc/apt/sources.list.d/vendor.sources"]
    assert result.data["sources_removed"] == [] and result.data["state"] == "present"
    assert result.data["repo"] == SOURCES and result.data["keyring"] == "/etc/apt/keyrings/vendor.asc"


def test_converged_source_and_key_send_nothing():
    result, host = repository(DEB822, held(SOURCES, ARMORED_SUM))
    assert result.status == "ok" and host.actions() == []
    assert result.data["sources_added"] == [] and result.data["sources_file"] == "/etc/apt/sources.list.d/vendor.sources"


def test_a_changed_key_alone_rewrites_only_the_keyring():
    result, host = repository(DEB822, held(SOURCES, "0" * 64))
    assert result.status == "changed"
    assert list(host.writes) == ["/etc/apt/keyrings/vendor.asc"]
    assert result.data["sources_added"] == []


def test_a_binary_key_file_goes_to_a_gpg_keyring(tmp_path):
    key = tmp_path / "vendor.gpg"
    key.write_bytes(b"\x99\x01\x0dbinary key")
    result, host = repository({**DEB822, "key_content": None, "key_src": str(key)}, held())
    assert result.status == "changed", result.msg
    assert host.writes["/etc/apt/keyrings/vendor.gpg"] == key.read_bytes()
    assert b"Signed-By: /etc/apt/keyrings/vendor.gpg\n" in host.writes["/etc/apt/sources.list.d/vendor.sources"]


@pytest.mark.parametrize("url_sum, keyring_sum, fetched", [
    ("a" * 64, None, True),  # no keyring yet
    ("a" * 64, "b" * 64, True),  # the URL serves another key now
    ("a" * 64, "a" * 64, False),
], ids=["no keyring", "another key", "same key"])
def test_a_key_url_is_fetched_by_the_host_when_it_serves_another_key(url_sum, keyring_sum, fetched):
    args = {"name": "vendor", "repo": "deb http://repo.example/ stable main", "key_url": "http://repo.example/key.asc"}
    line = "deb [signed-by=/etc/apt/keyrings/vendor.asc] http://repo.example/ stable main\n"
    result, host = repository(args, held(line, keyring_sum, url_sum))
    assert result.status == ("changed" if fetched else "ok"), result.msg
    fetches = [command for command in host.actions() if "curl" in command]
    assert len(fetches) == int(fetched)
    if fetched:
        assert 'curl -fsSL --max-time 30 -o "$tmp" http://repo.example/key.asc || exit 1' in fetches[0]
        assert 'mv -f -- "$tmp" "$k"' in fetches[0]


def test_a_key_url_the_host_cannot_fetch_fails_before_any_change():
    args = {"name": "vendor", "repo": "deb http://repo.example/ stable main", "key_url": "http://repo.example/key.asc"}
    result, host = repository(args, held(url="failed"))
    assert result.status == "failed" and host.actions() == []
    assert "the host could not fetch the key from http://repo.example/key.asc" in result.msg


def test_absent_removes_the_source_and_its_keyring():
    result, host = repository({**DEB822, "state": "absent"}, held(SOURCES, ARMORED_SUM))
    assert result.status == "changed"
    assert host.actions()[:2] == ["rm -f -- /etc/apt/sources.list.d/vendor.sources",
                                  "rm -f -- /etc/apt/keyrings/vendor.asc"]
    assert result.data["sources_removed"] == ["/etc/apt/sources.list.d/vendor.sources"]
    gone, host = repository({**DEB822, "state": "absent"}, held())
    assert gone.status == "ok" and host.actions() == []


def test_update_cache_false_writes_without_updating():
    result, host = repository({**DEB822, "update_cache": False}, held())
    assert result.status == "changed" and result.data["cache_updated"] is False
    assert not any("apt-get" in command for command in host.actions())


@pytest.mark.parametrize("update, message", [
    (CommandResult(0, "W: GPG error: http://repo.example/cuda stable InRelease: NO_PUBKEY 1234\n", ""),
     "/etc/apt/sources.list.d/vendor.sources was written, but apt-get update failed"),
    (CommandResult(100, "", "E: The repository is not signed.\n"), "apt-get update failed: E: The repository is not signed."),
    (ok("W: Failed to fetch http://repo.example/cuda/dists/stable/InRelease  Could not connect\n"),
     "the repository is unreachable: http://repo.example/cuda/dists/stable/InRelease: Could not connect"),
], ids=["gpg warning", "update refused", "unreachable"])
def test_an_index_update_that_fails_for_this_source_fails_the_task(update, message):
    result, _ = repository(DEB822, held(), update=update)
    assert result.status == "failed" and message in result.msg
    assert result.data["sources_file"] == "/etc/apt/sources.list.d/vendor.sources"


def test_another_repository_unreachable_is_not_this_tasks_failure():
    other = ok("W: Failed to fetch http://elsewhere.example/dists/x/InRelease  Could not connect\n")
    result, _ = repository(DEB822, held(), update=other)
    assert result.status == "changed" and result.data["cache_updated"] is True


def test_check_mode_shows_the_source_diff_and_the_keyring():
    result, host = repository(DEB822, held(), check=True)
    assert result.status == "changed" and host.actions() == []
    assert "+Signed-By: /etc/apt/keyrings/vendor.asc" in result.diff
    assert result.diff.endswith("write keyring /etc/apt/keyrings/vendor.asc\n")
    assert result.data["sources_added"] == ["/etc/apt/sources.list.d/vendor.sources"]


@pytest.mark.parametrize("args, message", [
    ({"name": "../evil", "repo": "deb http://x/ ./"}, "'../evil' is not a valid file name"),
    ({"name": "vendor", "uris": ["http://x/"]}, "give repo (one line) or uris and suites (deb822)"),
    ({"name": "vendor", "repo": "http://x/ stable"}, "is not a source line"),
    ({**DEB822, "key_url": "http://x/k.asc"}, "parameters are mutually exclusive: key_src|key_content|key_url"),
])
def test_bad_arguments_fail_before_the_host_is_asked(args, message):
    result, host = repository(args, held())
    assert result.status == "failed" and message in result.msg
    assert host.commands == []


# ---- over SSH: a signed local repository, real apt ---------------------------------------------

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
    # apt would try the dead address again (Acquire::Retries); once shows the same failure
    ssh(sandbox, HOST, "echo 'Acquire::Retries \"0\";' > /etc/apt/apt.conf.d/99test-no-retries")
    args = {"name": "vendor", "repo": f"deb [trusted=yes] {dead} stable main"}
    result = run_module("apt_repository", args, module_context(HOST))
    assert result.status == "failed"
    assert (f"/etc/apt/sources.list.d/vendor.list was written, but the repository is unreachable: "
            f"{dead}/dists/stable/InRelease: Could not connect to 127.0.0.1:9") in result.msg, result.msg


@pytest.mark.sandbox
def test_apt_key_from_a_url_is_trusted_once_by_its_fingerprint(sandbox, signed_repo, host, module_context):
    """The host's own gpg reads the fingerprints, of the key fetched and of every trusted keyring:
    a key is 'already trusted' only when its fingerprint is (the Debian keys the host already
    trusts are armored files too, and must not count)."""
    ssh(sandbox, HOST, f"echo 'deb {signed_repo.url} stable main' > /etc/apt/sources.list.d/vendor.list")
    assert "NO_PUBKEY" in ssh(sandbox, HOST, "apt-get update 2>&1", check=False).stdout  # not trusted yet
    args = {"url": signed_repo.url + "keys/vendor.asc", "state": "present"}
    checked = run_module("apt_key", args, module_context(HOST, check=True))
    assert checked.status == "changed", checked.msg
    assert ssh(sandbox, HOST, "ls /etc/apt/trusted.gpg.d/ | grep -v '^debian-'", check=False).stdout == "", \
        "check mode wrote a key"
    added = run_module("apt_key", args, module_context(HOST))
    assert added.status == "changed", added.msg
    fingerprint = added.data["id"]
    assert added.data["keyring"] == f"/etc/apt/trusted.gpg.d/{fingerprint[-16:]}.asc"
    ssh(sandbox, HOST, "apt-get update -q")
    assert candidate(sandbox, "vendor-fake") == "3.0"  # apt verified the signature with that key
    assert run_module("apt_key", args, module_context(HOST)).status == "ok"
    removed = run_module("apt_key", {"id": fingerprint[-8:], "state": "absent"}, module_context(HOST))
    assert removed.status == "changed", removed.msg
    assert ssh(sandbox, HOST, f"ls /etc/apt/trusted.gpg.d/{fingerprint[-16:]}.asc", check=False).returncode != 0

"""apt over real SSH against a local repository of fake packages, plus its plans as data."""
import subprocess
import time

import pytest

from provision.modules.apt import Apt, AptPlan, AptState, Available, Installed, parse_policy
from tests.conftest import run_module, ssh
from tests.support.aptrepo import AptRepo

POLICY = """\
hello-fake:
  Installed: 1.0
  Candidate: 2.0
  Version table:
     2.0 500
        500 http://10.244.1.1:4000 stable/main amd64 Packages
     1.1 500
        500 http://10.244.1.1:4000 stable/main amd64 Packages
 *** 1.0 500
        500 http://10.244.1.1:4000 stable/main amd64 Packages
        100 /var/lib/dpkg/status
other-fake:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


# ---- plans as data (no host) -------------------------------------------------------------------

class NoHost:
    facts: dict = {}
    check = False


def plan_for(args, installed=None, available=None, now=1000, cache_time=900):
    module = Apt(Apt.check_args(args), NoHost())
    state = AptState(now, cache_time, installed or {}, available if available is not None else parse_policy(POLICY))
    return module, module.diff(state)


def test_policy_parse_lists_versions_newest_first():
    available = parse_policy(POLICY)
    assert available["hello-fake"].candidate == "2.0"
    assert available["hello-fake"].versions == ["2.0", "1.1", "1.0"]
    assert available["other-fake"].candidate is None


@pytest.mark.parametrize("args, installed, words, summary", [
    ({"name": ["hello-fake"]}, {}, ["hello-fake"], ["install hello-fake 2.0"]),
    ({"name": ["hello-fake=1.1*"]}, {}, ["hello-fake=1.1"], ["install hello-fake 1.1"]),
    ({"name": ["hello-fake"], "state": "latest"}, {"hello-fake": Installed("installed", "1.0", False)},
     ["hello-fake"], ["upgrade hello-fake 1.0 -> 2.0"]),
    ({"name": ["hello-fake"]}, {"hello-fake": Installed("installed", "1.0", False)}, None, None),
    ({"name": ["hello-fake=1.*"]}, {"hello-fake": Installed("installed", "1.0", False)}, None, None),
])
def test_install_plans(args, installed, words, summary):
    _, plan = plan_for(args, installed)
    if words is None:
        assert plan is None
    else:
        assert plan.install == words and plan.summary == summary


def test_pin_to_an_older_version_needs_allow_downgrade():
    installed = {"hello-fake": Installed("installed", "2.0", False)}
    with pytest.raises(Exception, match="allow_downgrade"):
        plan_for({"name": ["hello-fake=1.0"]}, installed)
    module, plan = plan_for({"name": ["hello-fake=1.0"], "allow_downgrade": True}, installed)
    assert "--allow-downgrades" in module.commands(plan)[0]


def test_commands_wait_for_the_lock_and_hold_after_installing():
    module, plan = plan_for({"name": ["hello-fake"], "hold": True, "install_recommends": False})
    commands = module.commands(plan)
    assert commands[0].startswith("apt_locked apt-get -y -q -o DPkg::Lock::Timeout=120")
    assert "--no-install-recommends" in commands[0] and commands[0].endswith("install hello-fake")
    assert commands[-1] == "apt_locked apt-mark hold hello-fake"


def test_absent_with_purge_removes_leftover_configuration():
    installed = {"hello-fake": Installed("config-files", "1.0", False)}
    _, plan = plan_for({"name": ["hello-fake"], "state": "absent", "purge": True}, installed)
    assert plan.purge == ["hello-fake"]
    _, plan = plan_for({"name": ["hello-fake"], "state": "absent"}, installed)
    assert plan is None


def test_cache_validity_decides_the_refresh():
    _, plan = plan_for({"update_cache": True, "cache_valid_time": 3600}, now=1000, cache_time=900)
    assert plan is None
    _, plan = plan_for({"update_cache": True, "cache_valid_time": 60}, now=1000, cache_time=900)
    assert plan.refresh and not plan.packages_change
    _, plan = plan_for({"update_cache": True, "cache_valid_time": 3600}, cache_time=None)
    assert plan.refresh


def test_bad_names_are_refused():
    with pytest.raises(Exception, match="not a valid package name"):
        plan_for({"name": ["evil; rm -rf /"]})


# ---- over SSH --------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def repo(sandbox):
    with AptRepo(sandbox.gateway) as repository:
        for version in ("1.0", "1.1", "2.0"):
            repository.add("hello-fake", version)
        repository.add("other-fake", "1.0")
        repository.add("slow-fake", "1.0", preinst="sleep 6")
        repository.publish()
        yield repository


@pytest.fixture
def apt_host(sandbox, fresh_host, repo):
    """host01 as new, with apt pointed only at the test repository (the hosts have no internet)."""
    ssh(sandbox, "host01", "rm -f /etc/apt/sources.list.d/* && echo " + repr(repo.source_line())
        + " > /etc/apt/sources.list")
    return "host01"


def installed_version(sandbox, package):
    result = ssh(sandbox, "host01", f"dpkg-query -W -f='${{Status}} ${{Version}}' {package}", check=False)
    words = result.stdout.split()
    return words[3] if len(words) == 4 and words[2] == "installed" else None


@pytest.mark.sandbox
def test_install_pinned_with_cache_update_check_then_apply_then_ok(sandbox, apt_host, module_context):
    args = {"name": ["hello-fake=1.1*"], "update_cache": True, "cache_valid_time": 3600}
    checked = run_module("apt", args, module_context(check=True))
    assert checked.status == "changed", checked.msg
    assert "install hello-fake" in checked.diff
    assert installed_version(sandbox, "hello-fake") is None
    lists = ssh(sandbox, "host01", "ls /var/lib/apt/lists/").stdout
    assert "Packages" not in lists, "check mode refreshed the package index"

    applied = run_module("apt", args, module_context())
    assert applied.status == "changed", applied.msg
    assert applied.data["cache_updated"] is True
    assert installed_version(sandbox, "hello-fake") == "1.1"

    again = run_module("apt", args, module_context())
    assert again.status == "ok", again.msg
    assert run_module("apt", args, module_context(check=True)).status == "ok"


@pytest.mark.sandbox
def test_latest_hold_and_purge(sandbox, apt_host, module_context):
    run_module("apt", {"name": ["hello-fake=1.0"], "update_cache": True}, module_context())
    assert installed_version(sandbox, "hello-fake") == "1.0"

    latest = run_module("apt", {"name": ["hello-fake"], "state": "latest", "hold": True}, module_context())
    assert latest.status == "changed", latest.msg
    assert installed_version(sandbox, "hello-fake") == "2.0"
    assert ssh(sandbox, "host01", "apt-mark showhold").stdout.split() == ["hello-fake"]
    assert run_module("apt", {"name": ["hello-fake"], "state": "latest", "hold": True},
                      module_context()).status == "ok"

    unhold = run_module("apt", {"name": ["hello-fake"], "hold": False}, module_context())
    assert unhold.status == "changed" and ssh(sandbox, "host01", "apt-mark showhold").stdout.strip() == ""

    removed = run_module("apt", {"name": ["hello-fake"], "state": "absent", "purge": True}, module_context())
    assert removed.status == "changed", removed.msg
    assert installed_version(sandbox, "hello-fake") is None
    assert run_module("apt", {"name": ["hello-fake"], "state": "absent", "purge": True},
                      module_context()).status == "ok"


@pytest.mark.sandbox
def test_cache_update_alone_is_not_a_change(sandbox, apt_host, module_context):
    result = run_module("apt", {"update_cache": True}, module_context())
    assert result.status == "ok", result.msg
    assert result.data["cache_updated"] is True
    assert "Packages" in ssh(sandbox, "host01", "ls /var/lib/apt/lists/").stdout
    fresh = run_module("apt", {"update_cache": True, "cache_valid_time": 3600}, module_context())
    assert fresh.status == "ok" and fresh.data["cache_updated"] is False


@pytest.mark.sandbox
def test_unknown_package_fails_clearly(sandbox, apt_host, module_context):
    result = run_module("apt", {"name": ["no-such-fake"], "update_cache": True}, module_context())
    assert result.status == "failed"
    assert "no-such-fake" in result.msg


@pytest.mark.sandbox
def test_an_unreachable_repository_is_named_as_the_cause(sandbox, apt_host, repo, module_context):
    """apt-get update exits 0 when a repository cannot be reached; the package then has "no
    installation candidate". The message must carry the fetch error, the real cause."""
    dead = "http://127.0.0.1:9/nvidia"  # nothing listens on port 9 (discard) inside the host
    ssh(sandbox, "host01", f"echo 'deb [trusted=yes] {dead} ./' > /etc/apt/sources.list.d/dead.list")
    result = run_module("apt", {"name": ["libnvidia-container1"], "update_cache": True}, module_context())
    assert result.status == "failed"
    assert "no installation candidate for 'libnvidia-container1'; the cache update could not reach " \
        f"{dead}/./InRelease: Could not connect to 127.0.0.1:9" in result.msg, result.msg
    assert "Connection refused" in result.msg
    assert repo.source_line().split()[1] not in result.msg  # the repository that answered is not blamed

    # a package the reachable repository has still installs, the failure is kept as data
    ok = run_module("apt", {"name": ["other-fake"], "update_cache": True}, module_context())
    assert ok.status == "changed", ok.msg
    assert [failure.split(":", 2)[:2] for failure in ok.data["fetch_failures"]] == [["http", "//127.0.0.1"]]


def test_fetch_failures_are_read_from_apt_get_update_output():
    from provision.modules.apt import fetch_failures

    output = (  # apt 2.6 (Debian 12), a repository refused and a name that does not resolve
        "Err:2 http://127.0.0.1:9/repo ./ InRelease\n"
        "  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)\n"
        "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  "
        "Temporary failure resolving 'deb.debian.org'\n"
        "W: Failed to fetch http://127.0.0.1:9/repo/./InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). "
        "- connect (111: Connection refused)\n"
        "W: Some index files failed to download. They have been ignored, or old ones used instead.\n")
    assert fetch_failures(output) == [
        "http://deb.debian.org/debian/dists/bookworm/InRelease: Temporary failure resolving 'deb.debian.org'",
        "http://127.0.0.1:9/repo/./InRelease: Could not connect to 127.0.0.1:9 (127.0.0.1). "
        "- connect (111: Connection refused)",
    ]
    assert fetch_failures("Hit:1 http://10.0.0.1 ./ InRelease\nReading package lists...\n") == []


@pytest.mark.sandbox
def test_waits_for_the_dpkg_lock_instead_of_failing(sandbox, apt_host, module_context):
    run_module("apt", {"update_cache": True}, module_context())
    # slow-fake's preinst sleeps 6s while dpkg holds its lock
    background = subprocess.Popen(
        ["ssh", "-F", sandbox.ssh_config_path, "-l", "root", "host01",
         "DEBIAN_FRONTEND=noninteractive apt-get install -y -q slow-fake >/tmp/slow.log 2>&1"])
    try:
        for _ in range(100):
            if "Unpacking slow-fake" in ssh(sandbox, "host01", "cat /tmp/slow.log 2>/dev/null", check=False).stdout \
                    or "Preparing to unpack" in ssh(sandbox, "host01", "cat /tmp/slow.log", check=False).stdout:
                break
            time.sleep(0.1)
        impatient = run_module("apt", {"name": ["other-fake"], "lock_timeout": 1}, module_context())
        assert impatient.status == "failed"
        assert "lock" in impatient.msg
        started = time.monotonic()
        patient = run_module("apt", {"name": ["other-fake"], "lock_timeout": 60}, module_context())
        assert patient.status == "changed", patient.msg
        assert time.monotonic() - started > 1
    finally:
        background.wait(timeout=60)
    assert installed_version(sandbox, "other-fake") == "1.0"
    assert installed_version(sandbox, "slow-fake") == "1.0"

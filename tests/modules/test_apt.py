"""apt: its decisions as data on a fake host; over real SSH against a local repository of fake
packages, what only a real host shows (check mode leaving the index alone, the dpkg lock)."""
import subprocess
import time

import pytest

from provision.modules.apt import parse_policy
from provision.transport.base import CommandResult
from tests.conftest import run_module, ssh
from tests.modules.systemhost import ok, run_on
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


# ---- as data: given what dpkg and apt-cache print, expect these commands (fake host) ---------

DPKG_OLD = "hello-fake\tinstall ok installed\t1.0\n"
DPKG_HELD = "hello-fake\thold ok installed\t2.0\n"
DPKG_CONFIG = "hello-fake\tdeinstall ok config-files\t1.0\n"
NO_CANDIDATE = "no-such-fake:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n"
APT = "apt_locked apt-get -y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef " \
      "-o Dpkg::Options::=--force-confold"


def apt_state(dpkg="", policy=POLICY, now=1000, cache="900"):
    """The read command's output: clock, index age, dpkg-query and apt-cache policy sections."""
    return (f"\n@@provision:now@@\n{now}\n@@provision:cache@@\n{cache}\n@@provision:dpkg@@\n{dpkg}"
            f"\n@@provision:policy@@\n{policy}\n@@provision:end@@\n")


def apt(args, *reads, check=False, changes=ok(""), pending=None):
    """Run apt against reads served in turn (a refresh reads again); (result, commands after the read)."""
    result, host = run_on("apt", args, [("s now; date", [ok(read) for read in reads]), ("set -e", changes)],
                          check=check, pending=pending)
    return result, [command for command in host.actions() if "s now; date" not in command]


def script_body(command):
    """The apt commands of a run_apt script, without its lock-waiting preamble."""
    return command.split("set -e\n", 1)[1].splitlines()


def test_policy_parse_lists_versions_newest_first():
    available = parse_policy(POLICY)
    assert available["hello-fake"].candidate == "2.0"
    assert available["hello-fake"].versions == ["2.0", "1.1", "1.0"]
    assert available["other-fake"].candidate is None


def test_one_shared_read_then_candidates_only_where_needed():
    shared = "dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n' 2>/dev/null"
    # installed, and the pin matches: the shared read of every package alone, the same text for any apt task
    _, converged = run_on("apt", {"name": ["hello-fake=1.*"]}, [("s now", ok(apt_state(DPKG_OLD)))], check=True)
    _, other = run_on("apt", {"name": ["other-fake"], "state": "absent"}, [("s now", ok(apt_state()))], check=True)
    assert converged.commands == other.commands and len(converged.commands) == 1
    assert shared in converged.commands[0] and "apt-cache policy" not in converged.commands[0]
    # one package missing, one pinned past the installed version: policy for those two only
    _, host = run_on("apt", {"name": ["hello-fake=1.1*", "other-fake", "kept-fake"]},
                     [("s now", ok(apt_state(DPKG_OLD + "kept-fake\tinstall ok installed\t3\n", policy="")))],
                     check=True)
    assert len(host.commands) == 2 and shared in host.commands[0]
    assert "LC_ALL=C apt-cache policy hello-fake other-fake 2>/dev/null" in host.commands[1]
    # latest always needs the candidates: asked for in the first read
    _, latest = run_on("apt", {"name": ["hello-fake"], "state": "latest"}, [("s now", ok(apt_state(DPKG_OLD)))],
                       check=True)
    assert len(latest.commands) == 1 and "apt-cache policy hello-fake" in latest.commands[0]


@pytest.mark.parametrize("args, dpkg, expected", [
    ({"name": ["hello-fake"]}, "", ["install hello-fake"]),
    ({"name": ["hello-fake=1.1*"]}, "", ["install hello-fake=1.1"]),
    ({"name": ["hello-fake"], "state": "latest"}, DPKG_OLD, ["install hello-fake"]),
    ({"name": ["hello-fake"]}, DPKG_OLD, []),
    ({"name": ["hello-fake=1.*"]}, DPKG_OLD, []),
    ({"name": ["hello-fake"], "state": "absent"}, DPKG_OLD, ["remove hello-fake"]),
    ({"name": ["hello-fake"], "state": "absent", "purge": True}, DPKG_OLD, ["purge hello-fake"]),
    ({"name": ["hello-fake"], "state": "absent", "purge": True}, DPKG_CONFIG, ["purge hello-fake"]),
    ({"name": ["hello-fake"], "state": "absent"}, DPKG_CONFIG, []),
    ({"name": ["hello-fake"], "state": "absent", "autoremove": True}, DPKG_OLD,
     ["remove hello-fake", "autoremove"]),
    ({"name": ["hello-fake"], "hold": False}, DPKG_HELD, ["apt_locked apt-mark unhold hello-fake"]),
    ({"name": ["hello-fake"], "hold": True}, DPKG_HELD, []),
    ({"name": ["hello-fake"], "state": "latest", "hold": True}, DPKG_OLD,
     ["install hello-fake", "apt_locked apt-mark hold hello-fake"]),
])
def test_commands(args, dpkg, expected):
    result, commands = apt(args, apt_state(dpkg))
    assert result.status == ("changed" if expected else "ok"), result.msg
    sent = script_body(commands[0]) if commands else []
    words = [line.removeprefix(APT + " ").removeprefix("--allow-change-held-packages ") for line in sent]
    assert words == expected


def test_options_reach_apt_get():
    result, commands = apt({"name": ["hello-fake"], "install_recommends": False, "default_release": "stable",
                            "lock_timeout": 5, "dpkg_options": "force-confnew"}, apt_state())
    assert result.status == "changed"
    assert script_body(commands[0]) == ["apt_locked apt-get -y -q -o DPkg::Lock::Timeout=5 -o "
                                        "Dpkg::Options::=--force-confnew --no-install-recommends -t stable install hello-fake"]
    assert "lock_wait=5\n" in commands[0] and "DEBIAN_FRONTEND=noninteractive" in commands[0]


def test_upgrading_a_held_package_allows_the_change():
    held_old = "hello-fake\thold ok installed\t1.0\n"
    _, commands = apt({"name": ["hello-fake"], "state": "latest"}, apt_state(held_old))
    assert "--allow-change-held-packages install hello-fake" in script_body(commands[0])[0]


def test_pin_to_an_older_version_needs_allow_downgrade():
    refused, commands = apt({"name": ["hello-fake=1.0"]}, apt_state(DPKG_HELD))
    assert refused.status == "failed" and commands == []
    assert "hello-fake 2.0 would be downgraded to 1.0; set allow_downgrade: true" in refused.msg
    allowed, commands = apt({"name": ["hello-fake=1.0"], "allow_downgrade": True}, apt_state(DPKG_HELD))
    assert allowed.status == "changed"
    assert "--allow-downgrades" in script_body(commands[0])[0]


@pytest.mark.parametrize("args, cache, refresh", [
    ({"update_cache": True, "cache_valid_time": 3600}, "900", False),
    ({"update_cache": True, "cache_valid_time": 60}, "900", True),
    ({"update_cache": True, "cache_valid_time": 3600}, "", True),  # index age unknown
    ({"update_cache": True}, "900", True),  # no validity: always
])
def test_cache_validity_decides_the_refresh(args, cache, refresh):
    result, commands = apt(args, apt_state(cache=cache))
    assert result.status == "ok", result.msg  # a refreshed index is not a change
    assert result.data["cache_updated"] is refresh
    assert bool(commands) is refresh
    if refresh:
        assert script_body(commands[0]) == ["apt_locked apt-get -q update", "mkdir -p /var/lib/apt/periodic",
                                            "touch /var/lib/apt/periodic/update-success-stamp"]


def test_the_packages_are_planned_again_after_the_refresh():
    before, after = apt_state(policy=NO_CANDIDATE.replace("no-such", "hello")), apt_state(cache="1000")
    result, commands = apt({"name": ["hello-fake"], "update_cache": True}, before, after)
    assert result.status == "changed", result.msg
    assert [script_body(command)[0] for command in commands] == ["apt_locked apt-get -q update", APT + " install hello-fake"]
    assert result.data["cache_updated"] is True and result.data["cache_update_time"] == 1000


def test_check_mode_never_refreshes_and_says_what_it_would_do():
    result, commands = apt({"name": ["hello-fake=1.1*"], "update_cache": True}, apt_state(cache=""), check=True)
    assert result.status == "changed" and commands == []
    assert result.diff == "update the package index\ninstall hello-fake 1.1\n"


def test_registered_data_has_ansibles_keys():
    converged, _ = apt({"name": ["hello-fake"]}, apt_state(DPKG_OLD, cache=""))
    assert converged.data == {"cache_updated": False, "cache_update_time": 0}
    installed, _ = apt({"name": ["hello-fake"]}, apt_state(), changes=ok("Setting up hello-fake (2.0) ...\n"))
    assert installed.data["stdout"] == "Setting up hello-fake (2.0) ...\n" and installed.data["stderr"] == ""
    assert installed.data["cache_updated"] is False and installed.data["cache_update_time"] == 900
    assert installed.data["actions"] == ["install hello-fake 2.0"]


@pytest.mark.parametrize("args, dpkg, message", [
    ({"name": ["no-such-fake"]}, "", "no installation candidate for 'no-such-fake' (update_cache: true?)"),
    ({"name": ["hello-fake=9.*"]}, "", "no version of hello-fake matches '9.*' (available: 2.0, 1.1, 1.0)"),
    ({"name": ["evil; rm -rf /"]}, "", "'evil; rm -rf /' is not a valid package name"),
    ({"name": ["hello-fake=1.*"], "state": "latest"}, "",
     "state=latest cannot be used with a version pin (hello-fake=1.*)"),
])
def test_failures_are_clear(args, dpkg, message):
    result, commands = apt(args, apt_state(dpkg, policy=POLICY + NO_CANDIDATE))
    assert result.status == "failed" and message in result.msg and commands == []


@pytest.mark.parametrize("name, shown", [("no-such-fake", "install no-such-fake"),
                                         ("hello-fake=9.*", "install hello-fake 9.*")])
def test_check_mode_after_a_task_that_adds_sources_cannot_know_the_package_yet(name, shown):
    """NVIDIA's role installs cuda-keyring (a source), then cuda-drivers-580 from it: in check mode
    the source is not there, so apt has no candidate. After an earlier task that would have added
    sources, that is a change provision cannot check yet, said so; otherwise a failure, as before."""
    policy = POLICY + NO_CANDIDATE
    result, commands = apt({"name": [name]}, apt_state(policy=policy), check=True, pending={"apt-sources"})
    assert result.status == "changed" and commands == [], result.msg
    assert result.diff == (f"{shown} (not checkable yet: an earlier task in this check adds apt sources "
                           "it may come from)\n")
    for check, pending in ((True, {"packages"}), (False, {"apt-sources"})):
        failed, _ = apt({"name": [name]}, apt_state(policy=policy), check=check, pending=pending)
        assert failed.status == "failed", (check, pending)


def test_what_a_check_mode_change_leaves_for_later_tasks():
    from provision.modules import get_module
    from tests.support.fakehost import FakeContext

    def leaves(module, args):
        instance = get_module(module)(args, FakeContext(check=True))
        instance.args = instance.check_args(args)
        return instance.check_leaves()

    assert leaves("apt", {"deb": "http://x/cuda-keyring_1.1-1_all.deb"}) == {"packages", "apt-sources"}
    assert leaves("apt", {"name": ["cuda-drivers-580"]}) == {"packages"}
    assert leaves("apt_repository", {"repo": "deb http://x/ /"}) == {"apt-sources"}
    assert leaves("apt_key", {"url": "http://x/key.asc"}) == {"apt-sources"}
    assert leaves("copy", {"content": "deb http://x/ /\n", "dest": "/etc/apt/sources.list.d/x.list"}) == {"apt-sources"}
    assert leaves("get_url", {"url": "http://x/x.list", "dest": "/etc/apt/sources.list.d/x.list"}) == {"apt-sources"}
    assert leaves("copy", {"content": "x", "dest": "/etc/motd"}) == set()
    assert leaves("file", {"path": "/etc/apt/keyrings", "state": "directory"}) == {"apt-sources"}


def test_an_unreachable_repository_is_named_as_the_cause():
    """apt-get update exits 0 when a repository cannot be reached: the package then has no
    candidate, and the message carries the fetch error, the real cause."""
    update = ok("W: Failed to fetch http://127.0.0.1:9/nvidia/./InRelease  Could not connect to 127.0.0.1:9 "
                "(127.0.0.1). - connect (111: Connection refused)\n")
    reads = [apt_state(policy=NO_CANDIDATE.replace("no-such-fake", "libnvidia-container1"))] * 2
    result, _ = apt({"name": ["libnvidia-container1"], "update_cache": True}, *reads, changes=update)
    assert result.status == "failed"
    assert ("no installation candidate for 'libnvidia-container1'; the cache update could not reach "
            "http://127.0.0.1:9/nvidia/./InRelease: Could not connect to 127.0.0.1:9") in result.msg
    assert result.data["fetch_failures"] == ["http://127.0.0.1:9/nvidia/./InRelease: Could not connect to "
                                             "127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)"]
    # a package the reachable repository has still installs; the failure is kept as data
    installed, _ = apt({"name": ["hello-fake"], "update_cache": True}, apt_state(), changes=update)
    assert installed.status == "changed" and len(installed.data["fetch_failures"]) == 1


def test_a_held_lock_is_named():
    locked = CommandResult(100, "", "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 42\n")
    result, _ = apt({"name": ["hello-fake"], "lock_timeout": 1}, apt_state(), changes=locked)
    assert result.status == "failed"
    assert "another process held the dpkg lock for more than 1s: E: Could not get lock" in result.msg
    assert result.data["rc"] == 100


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


# ---- over SSH: what only a real host shows ------------------------------------------------

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

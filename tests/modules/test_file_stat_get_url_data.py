"""file, stat and get_url as data (no host): given what the path reads as, expect this status, diff,
these commands and this registered data (Ansible's keys). Check mode sends only the read.

Links, recursion, permissions and downloads on a real host stay in the SSH tests.
"""
import pytest

from provision.modules.remote_file import AFTER_MARK, parse_state, sha1
from provision.transport.base import CommandResult
from tests.modules.filehost import host, on_host, run
from tests.support.fakehost import FakeContext

PATH = "/srv/data"


# ---- file ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, on_path, commands, summary", [
    ({"state": "directory", "owner": "deploy", "mode": "0750"}, on_host("absent"),
     # the owner and mode go on every folder mkdir made (Ansible's file does so for the parents too)
     ["new=$(p=/srv/data; while [ ! -e \"$p\" ]; do printf '%s\\n' \"$p\"; p=$(dirname -- \"$p\"); done) && "
      "mkdir -p -- /srv/data && printf '%s\\n' \"$new\" | while IFS= read -r d; do [ -z \"$d\" ] || "
      "{ chown deploy -- \"$d\" && chmod 0750 -- \"$d\"; } || exit 1; done"],
     "create directory /srv/data\nowner: (none) -> deploy\nmode: (none) -> 0750\n"),
    ({"state": "directory", "mode": "0750"}, on_host("directory", mode="755"),
     ["chmod 0750 -- /srv/data"], "mode: 0755 -> 0750\n"),
    ({"mode": "u+x,g+x"}, on_host("file", "#!/bin/sh\n"), ["chmod 0754 -- /srv/data"], "mode: 0644 -> 0754\n"),
    ({"state": "touch"}, on_host("absent"), ["touch -- /srv/data"], "touch /srv/data\n"),
    ({"state": "touch"}, on_host("file"), ["touch -- /srv/data"], "touch /srv/data\n"),
    ({"state": "absent"}, on_host("directory", mode="755"), ["rm -rf -- /srv/data"], "remove directory /srv/data\n"),
    ({"state": "link", "src": "/opt/v2"}, on_host("absent"), ["ln -sfn -- /opt/v2 /srv/data"],
     "link /srv/data -> /opt/v2\n"),
    ({"state": "link", "src": "/opt/v3"}, on_host("link", link="/opt/v2"), ["ln -sfn -- /opt/v3 /srv/data"],
     "link /srv/data -> /opt/v3\n"),
    ({"src": "/opt/v3"}, on_host("link", link="/opt/v2"), ["ln -sfn -- /opt/v3 /srv/data"],
     "link /srv/data -> /opt/v3\n"),  # no state: the path's own (a link)
    # follow (Ansible's default): links inside the tree are followed to what they point to
    ({"state": "directory", "owner": "deploy", "recurse": True}, on_host("directory", mode="755", owner="deploy"),
     ["chown deploy -- /srv/data && find -L /srv/data -mindepth 1 ! -type l -exec chown deploy -- {} +"],
     "owner: deploy -> deploy\n"),
    ({"state": "directory", "owner": "deploy", "recurse": True, "follow": False},
     on_host("directory", mode="755", owner="deploy"), ["chown -R deploy -- /srv/data"], "owner: deploy -> deploy\n"),
    # times: a concrete one is made seconds since the epoch by the host's date (its time zone)
    ({"modification_time": "202202081414.00"}, on_host("file"), ["touch -c -m -d @1644329640 -- /srv/data"],
     "mtime of /srv/data: 1700000000 -> 1644329640\n"),
    ({"attributes": "+i"}, on_host("file"), ["chattr +i -- /srv/data"], "attributes: e -> +i\n"),
])
def test_file_plans(args, on_path, commands, summary):
    # with recurse, the tree read (find ... -print -quit) says something below has another owner
    context = host(on_path, after=on_host("directory"), reads={"-print -quit": "owner\n", "+%s": "1644329640\n",
                                                               "lsattr": "--------------e------- /srv/data\n"})
    result = run("file", {"path": PATH, **args}, context)
    assert result.status == "changed", result.msg
    assert result.diff == summary
    sent = context.commands[-1]
    assert sent.startswith("{ " + " && ".join(commands) + "\n}") and AFTER_MARK in sent


def test_file_check_mode_sends_only_the_read():
    context = host(on_host("absent"), check=True)
    result = run("file", {"path": PATH, "state": "directory"}, context)
    assert result.status == "changed" and result.diff == f"create directory {PATH}\n" and context.writes == []


@pytest.mark.parametrize("args, on_path", [
    ({"state": "directory", "mode": "0750", "owner": "deploy"}, on_host("directory", mode="750", owner="deploy")),
    ({"state": "absent"}, on_host("absent")),
    ({"state": "link", "src": "/opt/v2"}, on_host("link", link="/opt/v2")),
    ({"state": "touch", "modification_time": "preserve", "access_time": "preserve"}, on_host("file")),
    ({"mode": "u+x"}, on_host("file", mode="744")),
    ({"mode": "0644", "owner": "1000"}, on_host("file", owner="deploy", uid=1000)),  # a uid matches its name
])
def test_file_converged_only_reads(args, on_path):
    context = host(on_path)
    assert run("file", {"path": PATH, **args}, context).status == "ok"
    assert context.writes == []


@pytest.mark.parametrize("args, on_path, message", [
    # Ansible's words (ansible-core's file target asserts on some of them)
    ({"state": "file"}, on_host("absent"), "file (/srv/data) is absent, cannot continue"),
    ({"state": "file"}, on_host("directory"), "file (/srv/data) is directory, cannot continue"),
    ({"state": "directory"}, on_host("file"), "/srv/data already exists as a file"),
    ({"state": "link", "src": "/etc/hostname"}, on_host("file"),
     "refusing to convert from file to symlink for /srv/data"),
    ({"state": "link", "src": "/etc/hostname"}, on_host("directory"),
     "refusing to convert from directory to symlink for /srv/data"),
    ({"state": "link"}, on_host("absent"), "src is required for creating new symlinks"),
    ({"src": "/opt/v2", "force": True}, on_host("file", "x"), "src option requires state to be 'link' or 'hard'"),
    ({"recurse": True, "mode": "0644"}, on_host("file", "x"), "recurse option requires state to be 'directory'"),
    ({"modification_time": "2022-02-08"}, on_host("file"),
     "Error while obtaining timestamp for time 2022-02-08 using format %Y%m%d%H%M.%S: time data '2022-02-08' "
     "does not match format '%Y%m%d%H%M.%S'"),
    ({"mode": "u+q"}, on_host("file"), "invalid mode"),
    ({}, on_host("denied"), "permission denied on a folder above it"),
])
def test_file_refusals_send_nothing(args, on_path, message):
    context = host(on_path)
    result = run("file", {"path": PATH, **args}, context)
    assert result.status == "failed" and message in result.msg
    assert context.writes == []


def test_file_a_failing_command_fails_with_the_hosts_message():
    context = host(on_host("file"), failed=CommandResult(1, "", "chown: invalid user: 'nosuchuser'\n"))
    result = run("file", {"path": PATH, "owner": "nosuchuser"}, context)
    assert result.status == "failed" and "nosuchuser" in result.msg and result.data == {"rc": 1}


def test_file_recurse_with_a_symbolic_mode_compares_each_entry_and_sends_the_text():
    listing = "d 700\nf 600\n"  # below the top: a folder and a file that u=rwX,g=rX,o=rX would change
    context = host(on_host("directory", mode="755"), reads={"-printf": listing}, after=on_host("directory"))
    result = run("file", {"path": PATH, "state": "directory", "mode": "u=rwX,g=rX,o=rX", "recurse": True}, context)
    assert result.status == "changed"
    assert context.commands[-1].startswith("{ chmod u=rwX,g=rX,o=rX -- /srv/data && find -L /srv/data -mindepth 1 "
                                           "! -type l -exec chmod u=rwX,g=rX,o=rX -- {} +\n}")
    converged = host(on_host("directory", mode="755"), reads={"-printf": "d 755\nf 644\n"})
    assert run("file", {"path": PATH, "state": "directory", "mode": "u=rwX,g=rX,o=rX", "recurse": True},
               converged).status == "ok"


def test_file_registers_ansibles_keys_from_the_state_after():
    context = host(on_host("absent"), after=on_host("directory", mode="750", owner="deploy", uid=1000))
    data = run("file", {"path": PATH, "state": "directory", "mode": "0750", "owner": "deploy"}, context).data
    assert {key: data[key] for key in ("path", "state", "mode", "owner", "group", "uid", "gid", "isdir")} == {
        "path": PATH, "state": "directory", "mode": "0750", "owner": "deploy", "group": "root", "uid": 1000, "gid": 0,
        "isdir": True}
    link = run("file", {"path": PATH, "src": "/opt/v2", "state": "link"}, host(on_host("link", link="/opt/v2"))).data
    assert (link["dest"], link["src"], link["state"]) == (PATH, "/opt/v2", "link")
    gone = run("file", {"path": PATH, "state": "absent"}, host(on_host("file"), after=on_host("absent"))).data
    assert gone == {"path": PATH, "exists": False, "state": "absent",
                    "diff": {"before": {"path": PATH, "state": "file"}, "after": {"path": PATH, "state": "absent"}}}


# ---- stat ---------------------------------------------------------------------------------------

def stat_of(on_path: str, check: bool = False, **args) -> dict:
    context = host(on_path, check=check)
    result = run("stat", {"path": PATH, **args}, context)
    assert result.status == "ok", result.msg
    assert len(context.commands) == 1  # one read, in check mode too
    return result.data["stat"]


def test_stat_of_a_file_has_ansibles_keys():
    data = stat_of(on_host("file", "hello\n", mode="4750", owner="deploy", group="adm", uid=1000, gid=4,
                           access="r-x"), check=True)
    assert data == {
        "exists": True, "path": PATH, "isdir": False, "isreg": True, "islnk": False, "ischr": False, "isblk": False,
        "isfifo": False, "issock": False, "mode": "4750", "uid": 1000, "gid": 4, "pw_name": "deploy", "gr_name": "adm",
        "size": 6, "mtime": 1700000000, "atime": 1700000100, "ctime": 1700000200, "inode": 4242, "dev": 2049,
        "nlink": 1, "rusr": True, "wusr": True, "xusr": True, "rgrp": True, "wgrp": False, "xgrp": True,
        "roth": False, "woth": False, "xoth": False, "isuid": True, "isgid": False, "readable": True,
        "writeable": False, "executable": True, "checksum": sha1(b"hello\n")}


def test_stat_of_a_directory_link_fifo_and_missing_path():
    assert stat_of(on_host("directory", mode="755"))["isdir"] is True
    link = stat_of(on_host("link", link="conf", resolved="/srv/conf"))
    assert (link["islnk"], link["lnk_target"], link["lnk_source"]) == (True, "conf", "/srv/conf")
    fifo = stat_of(on_host("other", mode="600"))
    assert (fifo["isfifo"], fifo["isreg"]) == (True, False)
    assert stat_of(on_host("absent")) == {"exists": False, "path": PATH}


def test_stat_unreadable_without_checksum_and_get_checksum_false():
    assert "checksum" not in stat_of(on_host("file", "", checksum="unreadable"))
    assert "checksum" not in stat_of(on_host("file", "x"), get_checksum=False)


def test_stat_a_folder_it_may_not_enter_is_a_failure_not_absent():
    result = run("stat", {"path": PATH}, host(on_host("denied")))
    assert result.status == "failed" and "permission denied" in result.msg


@pytest.mark.parametrize("output", ["", "file\n", "file\n644 0 0\n", "surprise\n644 0 0 root root 1 1\n"])
def test_an_unexpected_read_is_a_failure_not_a_traceback(output):
    result = run("stat", {"path": PATH}, host(output))
    assert result.status == "failed" and "unexpected output" in result.msg


def test_parse_state_reads_the_older_seven_field_form():
    state = parse_state(PATH, "file\n640 0 4 root adm 7 1700000000\n\nabc\n")
    assert (state.mode, state.inode, state.type_bits, state.access) == ("0640", None, None, "")


# ---- get_url ------------------------------------------------------------------------------------

URL = "https://repo.lab/files/bundle.run"
DIGEST = "ab" * 32
SHA1 = "cd" * 20


def url_host(read: str, download: str = "", failed: CommandResult | None = None, **options) -> FakeContext:
    responses = [("curl", failed or CommandResult(0, download, "")), ("chmod", CommandResult(0, "", "")),
                 ("stat -c", CommandResult(0, read, ""))]
    return FakeContext(responses=responses, **options)


def present(mode: str = "644", digest: str = DIGEST) -> str:
    return f"/opt/bundle.run\n{mode} 0 0 root root 17\n{digest}\n{SHA1}\n"


ABSENT = "/opt/bundle.run\nabsent\n"
ARGS = {"url": URL, "dest": "/opt/bundle.run", "checksum": "sha256:" + DIGEST}
WRITTEN = (f"status_code=200\nchecksum={DIGEST}\nchecksum_src={SHA1}\nwritten\n{AFTER_MARK}\n"
           + on_host("file", "driver bundle v1\n", mode="750", checksum=SHA1))


def test_get_url_downloads_a_missing_file_and_registers_ansibles_keys():
    context = url_host(ABSENT, WRITTEN)
    result = run("get_url", {**ARGS, "mode": "0750"}, context)
    assert result.status == "changed", result.msg
    download = context.commands[1]
    assert "curl -fsSL --max-time 10" in download and f"want={DIGEST}" in download and "chmod 0750 --" in download
    assert {key: value for key, value in result.data.items() if key != "elapsed"} == {
        "dest": "/opt/bundle.run", "url": URL, "status_code": 200, "checksum_src": SHA1, "checksum_dest": SHA1,
        "state": "file", "mode": "0750", "owner": "root", "group": "root", "uid": 0, "gid": 0, "size": 17,
        "msg": "OK (17 bytes)"}
    assert isinstance(result.data["elapsed"], int)


@pytest.mark.parametrize("args, read", [
    (ARGS, ABSENT), (ARGS, present(digest="00" * 32)), ({**ARGS, "checksum": None, "force": True}, present()),
])
def test_get_url_check_mode_sends_only_the_read(args, read):
    context = url_host(read, check=True)
    result = run("get_url", args, context)
    assert result.status == "changed" and "download" in result.diff and len(context.commands) == 1


def test_get_url_an_existing_file_is_trusted_without_checksum_or_force():
    context = url_host(present(digest="00" * 32))
    result = run("get_url", {"url": URL, "dest": "/opt/"}, context)
    assert result.status == "ok" and len(context.commands) == 1
    assert result.data["msg"] == "file already exists" and result.data["checksum_dest"] == SHA1
    assert 'b=bundle.run' in context.commands[0]  # a folder dest takes the URL's file name


def test_get_url_a_forced_download_that_is_identical_is_ok():
    same = f"status_code=200\nchecksum={DIGEST}\nchecksum_src={SHA1}\nsame\n"
    result = run("get_url", {"url": URL, "dest": "/opt/bundle.run", "force": True}, url_host(present(), same))
    assert result.status == "ok" and result.data["checksum_dest"] == SHA1


def test_get_url_only_the_mode_differs_so_only_chmod_is_sent():
    context = url_host(present())
    result = run("get_url", {**ARGS, "mode": "0750"}, context)
    assert result.status == "changed" and result.diff == "mode: 0644 -> 0750\n"
    assert "curl" not in context.commands[1] and context.commands[1].startswith("{ chmod 0750 --")


def test_get_url_a_failed_download_fails_with_its_status_code():
    failed = CommandResult(1, "status_code=404\n", "curl: (22) The requested URL returned error: 404\ndownload failed\n")
    result = run("get_url", ARGS, url_host(ABSENT, failed=failed))
    assert result.status == "failed" and "404" in result.msg and result.data["status_code"] == 404


def test_get_url_an_unexpected_read_is_a_failure_not_a_traceback():
    result = run("get_url", ARGS, url_host("/opt/bundle.run\n644 0\n"))
    assert result.status == "failed" and "unexpected output" in result.msg


@pytest.mark.parametrize("args, message", [
    ({**ARGS, "checksum": "sha256"}, "checksum must be ALGORITHM:HEX"),
    ({**ARGS, "url": "gopher://x/y"}, "is not an http, https, ftp or file URL"),
])
def test_get_url_bad_arguments_fail_before_any_command(args, message):
    context = url_host(ABSENT)
    result = run("get_url", args, context)
    assert result.status == "failed" and message in result.msg and context.commands == []


def test_get_url_headers_and_validate_certs_reach_curl_and_wget():
    context = url_host(ABSENT, WRITTEN)
    run("get_url", {**ARGS, "headers": {"Authorization": "Bearer x"}, "validate_certs": False}, context)
    command = context.commands[1]
    assert "-H 'Authorization: Bearer x'" in command and "--insecure" in command
    assert "'--header=Authorization: Bearer x'" in command and "--no-check-certificate" in command


@pytest.mark.parametrize("name, args", [
    ("file", {"path": PATH, "state": "directory"}), ("stat", {"path": PATH}), ("get_url", ARGS),
])
def test_the_read_is_declared_and_is_the_first_command(name, args):
    from provision.modules import get_module

    module = get_module(name)
    context = FakeContext([("stat -c", CommandResult(0, ABSENT if name == "get_url" else "absent\n", ""))], check=True)
    read = module(module.check_args(dict(args)), context).read_command()
    assert context.commands == []  # building it ran nothing
    run(name, args, context)
    assert context.commands[0] == read


def test_stat_only_keys_from_stat_file_and_lsattr():
    from provision.modules.stat import extra_data

    assert extra_data("8 4096 0 0\ntext/plain\nus-ascii\n0 --------------e------- /srv/data\n", True, True) == {
        "blocks": 8, "block_size": 4096, "device_type": 0, "mimetype": "text/plain", "charset": "us-ascii",
        "version": "0", "attributes": ["extents"]}
    # /dev/null is char device 1,3; no `file` on the host; lsattr refused (overlayfs): left out
    assert extra_data("0 4096 1 3\nunknown\nunknown\n\n", True, True) == {
        "blocks": 0, "block_size": 4096, "device_type": 259, "mimetype": "unknown", "charset": "unknown"}
    assert extra_data("0 4096 0 0\n\n\n\n", False, False) == {"blocks": 0, "block_size": 4096, "device_type": 0}

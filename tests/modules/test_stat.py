"""stat over real SSH: what it registers, in check mode too, and what it says about unreadable paths."""
import hashlib

import pytest

from provision.transport.base import Become
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox


def test_a_file_directory_link_and_missing_path(remote, module_context):
    path = remote.put("conf", "hello\n", mode="0640", owner="deploy:adm")
    remote.sh(f"ln -s conf {remote.path('link')}")

    file = run_module("stat", {"path": path}, module_context(check=True)).data["stat"]
    folder = run_module("stat", {"path": remote.folder}, module_context()).data["stat"]
    link = run_module("stat", {"path": remote.path("link")}, module_context()).data["stat"]
    missing = run_module("stat", {"path": remote.path("nope")}, module_context())

    assert {key: file[key] for key in ("exists", "isreg", "isdir", "mode", "pw_name", "gr_name", "size")} == {
        "exists": True, "isreg": True, "isdir": False, "mode": "0640", "pw_name": "deploy", "gr_name": "adm",
        "size": 6}
    assert file["checksum"] == "f572d396fae9206628714fb2ce00f72e94f2258f"  # sha1 of "hello\n"
    assert (folder["isdir"], folder["mode"]) == (True, "0755")
    assert (link["islnk"], link["lnk_target"], link["lnk_source"]) == (True, "conf", path)
    # what only the host's stat and test(1) say: the type bits, times, inode, access for this user
    assert (file["isfifo"], file["rusr"], file["wgrp"], file["readable"], file["nlink"]) == (False, True, False, True, 1)
    assert all(isinstance(file[key], int) for key in ("inode", "dev"))
    # times to the nanosecond as Python's os.stat floats, as Ansible's stat returns them
    assert all(isinstance(file[key], float) for key in ("atime", "ctime", "mtime"))
    assert missing.status == "ok" and missing.data["stat"] == {"exists": False, "path": remote.path("nope")}


def test_an_unreadable_file_still_exists_without_a_checksum(remote, module_context):
    path = remote.put("shadow-like", "secret\n", mode="0600")
    result = run_module("stat", {"path": path}, module_context(user="deploy"))
    assert result.status == "ok", result.msg
    assert result.data["stat"]["exists"] is True and "checksum" not in result.data["stat"]


def test_a_path_behind_a_folder_it_may_not_enter_is_not_reported_absent(remote, module_context):
    remote.sh(f"mkdir -m 0700 {remote.path('private')} && touch {remote.path('private/key')}")
    denied = run_module("stat", {"path": remote.path("private/key")}, module_context(user="deploy"))
    allowed = run_module("stat", {"path": remote.path("private/key")},
                         module_context(user="deploy", become=Become(user="root", password="sandbox")))
    assert denied.status == "failed" and "permission denied" in denied.msg
    assert allowed.data["stat"]["exists"] is True


def test_checksum_algorithm_gives_the_sum_asked_for(remote, module_context):
    """checksum_algorithm (and its aliases) as Ansible's: the sum in that algorithm, from the host's
    own *sum tools; sha1 stays the default."""
    path = remote.put("sums", "abc\n")
    sums = {algorithm: run_module("stat", {"path": path, "checksum_algorithm": algorithm},
                                  module_context()).data["stat"]["checksum"]
            for algorithm in ("md5", "sha1", "sha256", "sha512")}
    assert sums == {name: hashlib.new(name, b"abc\n").hexdigest() for name in sums}
    aliased = run_module("stat", {"path": path, "checksum": "sha224"}, module_context()).data["stat"]
    assert aliased["checksum"] == hashlib.sha224(b"abc\n").hexdigest()
    folder = run_module("stat", {"path": remote.path(""), "checksum_algorithm": "sha256"}, module_context())
    assert "checksum" not in folder.data["stat"]

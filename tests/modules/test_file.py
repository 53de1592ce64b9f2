"""file over real SSH: directories, links, touch, absent, owner/group/mode (and recurse)."""
import pytest

from provision.transport.base import Become
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox


def test_directory_with_owner_and_mode_then_rerun_ok(remote, module_context):
    path = remote.path("a/b/data")
    args = {"path": path, "state": "directory", "owner": "deploy", "group": "deploy", "mode": "0750"}

    first = run_module("file", args, module_context())
    second = run_module("file", args, module_context())

    assert (first.status, second.status) == ("changed", "ok"), first.msg
    on_host = remote.look(path)
    assert (on_host.kind, on_host.owner, on_host.group, on_host.mode) == ("directory", "deploy", "deploy", "0750")
    assert second.data["isdir"] is True


def test_check_mode_creates_nothing_and_says_what_it_would_do(remote, module_context):
    path = remote.path("later")
    result = run_module("file", {"path": path, "state": "directory"}, module_context(check=True))
    assert result.status == "changed"
    assert f"create directory {path}" in result.diff
    assert remote.look(path).exists is False


def test_mode_change_on_an_existing_file_in_place(remote, module_context):
    path = remote.put("run.sh", "#!/bin/sh\n")
    before = remote.look(path)
    result = run_module("file", {"path": path, "mode": "u+x,g+x"}, module_context())
    assert result.status == "changed"
    assert result.diff == "mode: 0644 -> 0754\n"
    after = remote.look(path)
    assert (after.mode, after.inode, after.content) == ("0754", before.inode, before.content)
    assert run_module("file", {"path": path, "mode": "u+x,g+x"}, module_context()).status == "ok"


def test_state_file_never_creates_a_file(remote, module_context):
    path = remote.path("nothing")
    result = run_module("file", {"path": path, "state": "file"}, module_context())
    assert result.status == "failed" and "does not exist" in result.msg
    assert remote.look(path).exists is False


def test_touch_creates_then_preserve_keeps_it_ok(remote, module_context):
    path = remote.path("flag")
    args = {"path": path, "state": "touch", "mode": "0600", "modification_time": "preserve",
            "access_time": "preserve"}
    assert run_module("file", args, module_context()).status == "changed"
    assert run_module("file", args, module_context()).status == "ok"
    assert (remote.look(path).kind, remote.look(path).mode) == ("regular empty file", "0600")


def test_link_created_fixed_and_converged(remote, module_context):
    target = remote.put("v2", "2\n")
    link = remote.path("current")
    args = {"path": link, "src": target, "state": "link"}

    first = run_module("file", args, module_context())
    second = run_module("file", args, module_context())
    moved = run_module("file", {**args, "src": remote.path("v3")}, module_context())

    assert (first.status, second.status, moved.status) == ("changed", "ok", "changed")
    assert remote.sh(f"readlink {link}").strip() == remote.path("v3")


def test_link_does_not_replace_a_file_without_force(remote, module_context):
    path = remote.put("real", "data\n")
    refused = run_module("file", {"path": path, "src": "/etc/hostname", "state": "link"}, module_context())
    assert refused.status == "failed" and "force" in refused.msg
    assert remote.look(path).content == b"data\n"
    forced = run_module("file", {"path": path, "src": "/etc/hostname", "state": "link", "force": True},
                        module_context())
    assert forced.status == "changed"
    assert remote.sh(f"readlink {path}").strip() == "/etc/hostname"


def test_absent_removes_a_tree_then_is_ok(remote, module_context):
    path = remote.path("tree")
    remote.sh(f"mkdir -p {path}/x && touch {path}/x/y")
    assert run_module("file", {"path": path, "state": "absent"}, module_context()).status == "changed"
    assert remote.look(path).exists is False
    assert run_module("file", {"path": path, "state": "absent"}, module_context()).status == "ok"


def test_recurse_fixes_owner_below_even_when_the_top_is_right(remote, module_context):
    path = remote.path("www")
    remote.sh(f"mkdir -p {path}/sub && touch {path}/sub/page && chown deploy {path}")
    args = {"path": path, "state": "directory", "owner": "deploy", "recurse": True}

    first = run_module("file", args, module_context())
    second = run_module("file", args, module_context())

    assert (first.status, second.status) == ("changed", "ok")
    assert remote.look(f"{path}/sub/page").owner == "deploy"


def test_recurse_with_a_symbolic_mode_reaches_below(remote, module_context):
    path = remote.path("shared")
    remote.sh(f"mkdir -p {path}/sub && touch {path}/sub/file && chmod 0700 {path}/sub && chmod 0600 {path}/sub/file")
    args = {"path": path, "state": "directory", "mode": "u=rwX,g=rX,o=rX", "recurse": True}

    first = run_module("file", args, module_context())
    second = run_module("file", args, module_context())

    assert first.status == "changed"
    assert remote.look(f"{path}/sub").mode == "0755"
    assert remote.look(f"{path}/sub/file").mode == "0644"
    assert second.status == "ok"


def test_become_as_deploy_with_password_creates_a_root_directory(remote, module_context):
    path = remote.path("etc-like")
    become = Become(user="root", password="sandbox")
    result = run_module("file", {"path": path, "state": "directory", "mode": "0700"},
                        module_context(user="deploy", become=become))
    assert result.status == "changed", result.msg
    assert (remote.look(path).owner, remote.look(path).mode) == ("root", "0700")


def test_an_unknown_owner_fails_with_the_hosts_message(remote, module_context):
    path = remote.put("f", "x\n")
    result = run_module("file", {"path": path, "owner": "nosuchuser"}, module_context())
    assert result.status == "failed" and "nosuchuser" in result.msg

"""file over real SSH: directories, links and recursion on a real filesystem, become. Its decisions
(touch, absent, force, check mode, refusals) are in test_file_stat_get_url_data.py."""
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
    assert {key: first.data[key] for key in ("path", "state", "mode", "owner", "group")} == {
        "path": path, "state": "directory", "mode": "0750", "owner": "deploy", "group": "deploy"}










def test_link_created_fixed_and_converged(remote, module_context):
    target = remote.put("v2", "2\n")
    link = remote.path("current")
    args = {"path": link, "src": target, "state": "link"}

    first = run_module("file", args, module_context())
    second = run_module("file", args, module_context())
    # as in Ansible, a link to a source that does not exist needs force
    missing = run_module("file", {**args, "src": remote.path("v3")}, module_context())
    remote.put("v3", "3\n")
    moved = run_module("file", {**args, "src": remote.path("v3")}, module_context())

    assert (first.status, second.status, missing.status, moved.status) == ("changed", "ok", "failed", "changed")
    assert missing.msg.startswith("src file does not exist, use 'force=yes'")
    assert remote.sh(f"readlink {link}").strip() == remote.path("v3")


def test_hard_link_shares_the_inode_and_refuses_what_ansible_refuses(remote, module_context):
    source = remote.put("data", "d\n")
    name = remote.path("data.hard")
    args = {"path": name, "src": source, "state": "hard"}
    checked = run_module("file", args, module_context(check=True))
    first = run_module("file", args, module_context())
    second = run_module("file", args, module_context())
    assert (checked.status, first.status, second.status) == ("changed", "changed", "ok"), first.msg
    assert remote.sh(f"stat -c %i {source}") == remote.sh(f"stat -c %i {name}")
    assert first.data["src"] == source and first.data["dest"] == name
    other = remote.put("other", "o\n")
    taken = run_module("file", {**args, "path": other}, module_context())
    assert taken.status == "failed" and taken.msg == "Cannot link, file exists at destination"
    forced = run_module("file", {**args, "path": other, "force": True}, module_context())
    assert forced.status == "changed" and remote.sh(f"cat {other}") == "d\n"
    # a relative src is looked up from the login's folder, where Ansible's module runs: not there
    relative = run_module("file", {**args, "src": "data"}, module_context())
    assert relative.status == "failed" and relative.msg == "src does not exist"
    assert relative.data == {"dest": name, "src": "data"}








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

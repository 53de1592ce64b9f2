"""blockinfile over real SSH: the block lands between markers, reruns are ok, check mode is read-only."""
import pytest

from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox

BLOCK = "nameserver 10.0.0.1\nnameserver 10.0.0.2"


def test_inserts_the_block_then_reruns_ok_then_replaces_it(remote, module_context):
    path = remote.put("resolv.conf", "search lab\n", mode="0640", owner="root:adm")
    args = {"path": path, "block": BLOCK}

    first = run_module("blockinfile", args, module_context())
    second = run_module("blockinfile", args, module_context())
    third = run_module("blockinfile", {"path": path, "block": "nameserver 1.1.1.1"}, module_context())

    assert (first.status, second.status, third.status) == ("changed", "ok", "changed")
    after = remote.look(path)
    assert after.text == ("search lab\n# BEGIN ANSIBLE MANAGED BLOCK\nnameserver 1.1.1.1\n"
                          "# END ANSIBLE MANAGED BLOCK\n")
    assert (after.mode, after.group) == ("0640", "adm")
    assert remote.listing() == ["resolv.conf"]
    assert third.diff == (
        f"--- before: {path}\n+++ after: {path}\n@@ -1,5 +1,4 @@\n search lab\n # BEGIN ANSIBLE MANAGED BLOCK\n"
        "-nameserver 10.0.0.1\n-nameserver 10.0.0.2\n+nameserver 1.1.1.1\n # END ANSIBLE MANAGED BLOCK\n"
    )


def test_check_mode_changes_nothing(remote, module_context):
    path = remote.put("resolv.conf", "search lab\n")
    before = remote.look(path)
    result = run_module("blockinfile", {"path": path, "block": BLOCK}, module_context(check=True))
    assert result.status == "changed"
    assert "+nameserver 10.0.0.2\n" in result.diff
    assert remote.look(path) == before


def test_absent_removes_the_block_and_its_markers(remote, module_context):
    path = remote.put("rc.local", "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\nexit 0\n")
    result = run_module("blockinfile", {"path": path, "state": "absent"}, module_context())
    assert result.status == "changed"
    assert remote.look(path).text == "a\nexit 0\n"


def test_create_makes_a_missing_file_and_without_it_fails(remote, module_context):
    path = remote.path("limits.conf")
    refused = run_module("blockinfile", {"path": path, "block": "x"}, module_context())
    created = run_module("blockinfile", {"path": path, "block": "x", "create": True}, module_context())
    assert refused.status == "failed" and "does not exist" in refused.msg
    assert created.status == "changed"
    assert remote.look(path).text == "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n"


def test_backup_keeps_the_old_file(remote, module_context):
    path = remote.put("profile", "export A=1\n")
    result = run_module("blockinfile", {"path": path, "block": "export B=2", "backup": True}, module_context())
    assert remote.look(result.data["backup_file"]).text == "export A=1\n"


def test_an_invalid_insertafter_fails_the_task_cleanly(remote, module_context):
    path = remote.put("x", "a\n")
    result = run_module("blockinfile", {"path": path, "block": "b", "insertafter": "(["}, module_context())
    assert result.status == "failed" and "invalid insertafter" in result.msg
    assert remote.look(path).text == "a\n"

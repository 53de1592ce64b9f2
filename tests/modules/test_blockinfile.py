"""blockinfile over real SSH: the block lands between markers, reruns are ok, the file keeps its mode.
Its decisions are in test_blockinfile_logic.py and test_content_modules_data.py."""
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

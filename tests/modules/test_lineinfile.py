"""lineinfile over real SSH: the line really lands atomically, bytes survive, become, links on a real
filesystem. Its decisions are in test_lineinfile_logic.py and test_content_modules_data.py."""
import pytest

from provision.transport.base import Become
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox

SSHD = "Port 22\n#PermitRootLogin yes\nPasswordAuthentication yes\n"


def test_replaces_a_line_by_regexp_atomically_then_reruns_ok(remote, module_context):
    path = remote.put("sshd_config", SSHD, mode="0600")
    before = remote.look(path)
    args = {"path": path, "regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"}

    first = run_module("lineinfile", args, module_context())
    second = run_module("lineinfile", args, module_context())

    after = remote.look(path)
    assert first.status == "changed" and second.status == "ok"
    assert after.text == "Port 22\nPermitRootLogin no\nPasswordAuthentication yes\n"
    assert after.inode != before.inode and after.mode == "0600"
    assert remote.listing() == ["sshd_config"]
    assert first.diff == (
        f"--- before: {path}\n+++ after: {path}\n@@ -1,3 +1,3 @@\n Port 22\n"
        "-#PermitRootLogin yes\n+PermitRootLogin no\n PasswordAuthentication yes\n"
    )










def test_bytes_that_are_not_utf8_are_never_rewritten(remote, module_context):
    latin1 = "caf\xe9=1\n".encode("latin-1")
    path = remote.put("legacy.conf", latin1)
    result = run_module("lineinfile", {"path": path, "line": "x=2"}, module_context())
    assert result.status == "failed" and "UTF-8" in result.msg
    assert remote.look(path).content == latin1


def test_a_form_feed_in_the_file_survives_an_edit(remote, module_context):
    path = remote.put("COPYING", "terms\n\f\nmore\n")
    run_module("lineinfile", {"path": path, "line": "end"}, module_context())
    assert remote.look(path).content == b"terms\n\f\nmore\nend\n"




def test_become_with_a_password_edits_a_root_only_file(remote, module_context):
    path = remote.put("secret.conf", "token=old\n", mode="0600")
    become = Become(user="root", password="sandbox")
    args = {"path": path, "regexp": "^token=", "line": "token=new"}

    without = run_module("lineinfile", args, module_context(user="deploy"))
    result = run_module("lineinfile", args, module_context(user="deploy", become=become))

    assert without.status == "failed" and "become" in without.msg
    assert result.status == "changed", result.msg
    after = remote.look(path)
    assert (after.text, after.owner, after.mode) == ("token=new\n", "root", "0600")


def test_a_symlink_is_followed_and_stays_a_link(remote, module_context):
    target = remote.put("stub-resolv.conf", "nameserver 127.0.0.53\n")
    link = remote.path("resolv.conf")
    remote.sh(f"ln -s stub-resolv.conf {link}")

    first = run_module("lineinfile", {"path": link, "line": "options edns0"}, module_context())
    second = run_module("lineinfile", {"path": link, "line": "options edns0"}, module_context())

    assert (first.status, second.status) == ("changed", "ok"), first.msg
    assert remote.look(target).text == "nameserver 127.0.0.53\noptions edns0\n"
    assert remote.look(link).kind == "symbolic link"

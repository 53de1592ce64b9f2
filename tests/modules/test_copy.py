"""copy over real SSH: content, owner and mode really land; reruns are ok; check mode touches nothing."""
import pytest

from provision.transport.base import Become
from tests.conftest import run_module
from tests.modules.hostfiles import remote  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox


def test_copy_creates_the_file_with_owner_and_mode_then_reruns_ok(remote, module_context):
    dest = remote.path("motd")
    args = {"dest": dest, "content": "hello\nworld\n", "owner": "deploy", "group": "admin", "mode": "0640"}

    first = run_module("copy", args, module_context())
    assert first.status == "changed", first.msg
    on_host = remote.look(dest)
    assert (on_host.content, on_host.owner, on_host.group, on_host.mode) == (b"hello\nworld\n", "deploy", "admin", "0640")

    second = run_module("copy", args, module_context())
    assert second.status == "ok", second.msg
    assert remote.look(dest).inode == on_host.inode  # not rewritten
    assert remote.listing() == ["motd"]  # no temp file left behind


def test_copy_replaces_atomically_and_keeps_the_old_files_mode_and_owner(remote, module_context):
    dest = remote.put("app.conf", "old\n", mode="0600", owner="deploy:deploy")
    before = remote.look(dest)

    result = run_module("copy", {"dest": dest, "content": "new\n"}, module_context())

    after = remote.look(dest)
    assert result.status == "changed"
    assert after.content == b"new\n"
    assert after.inode != before.inode  # a new file renamed over the old one, not rewritten in place
    assert (after.mode, after.owner, after.group) == ("0600", "deploy", "deploy")
    assert remote.listing() == ["app.conf"]


def test_new_file_without_mode_gets_the_umask_default_not_mktemps_0600(remote, module_context):
    dest = remote.path("plain")
    run_module("copy", {"dest": dest, "content": "x\n"}, module_context())
    assert remote.look(dest).mode == "0644"


def test_check_mode_reports_changed_with_a_diff_and_leaves_the_host_alone(remote, module_context):
    dest = remote.put("settings", "a=1\nb=2\nc=3\n")
    before = remote.look(dest)
    missing = remote.path("missing")

    changed = run_module("copy", {"dest": dest, "content": "a=1\nb=20\nc=3\n", "mode": "0600"},
                         module_context(check=True))
    created = run_module("copy", {"dest": missing, "content": "new\n"}, module_context(check=True))

    assert changed.status == "changed" and created.status == "changed"
    assert remote.look(dest) == before
    assert remote.look(missing).exists is False
    assert remote.listing() == ["settings"]
    assert changed.diff == (
        f"--- before: {dest}\n+++ after: {dest}\n@@ -1,3 +1,3 @@\n a=1\n-b=2\n+b=20\n c=3\n"
        "mode: 0644 -> 0600\n"
    )
    assert created.diff == f"--- /dev/null\n+++ after: {missing}\n@@ -0,0 +1 @@\n+new\n"


def test_only_the_mode_differs_so_only_the_mode_changes(remote, module_context):
    dest = remote.put("script", "#!/bin/sh\n")
    before = remote.look(dest)

    result = run_module("copy", {"dest": dest, "content": "#!/bin/sh\n", "mode": "u+x"}, module_context())

    after = remote.look(dest)
    assert result.status == "changed"
    assert result.diff == "mode: 0644 -> 0744\n"
    assert (after.mode, after.inode, after.content) == ("0744", before.inode, b"#!/bin/sh\n")


def test_backup_keeps_the_old_content_beside_the_new_file(remote, module_context):
    dest = remote.put("hosts", "old line\n")

    result = run_module("copy", {"dest": dest, "content": "new line\n", "backup": True}, module_context())

    backup = result.data["backup_file"]
    assert backup.startswith(dest + ".") and backup.endswith("~")
    assert remote.look(backup).content == b"old line\n"
    assert remote.look(dest).content == b"new line\n"
    assert sorted(remote.listing()) == sorted(["hosts", backup.rsplit("/", 1)[1]])


def test_validate_refuses_a_bad_file_and_leaves_the_old_one(remote, module_context):
    dest = remote.put("sudoers-like", "good\n")
    before = remote.look(dest)

    refused = run_module("copy", {"dest": dest, "content": "bad\n", "validate": "grep -q good %s"}, module_context())
    accepted = run_module("copy", {"dest": dest, "content": "still good\n", "validate": "grep -q good %s"},
                          module_context())

    assert refused.status == "failed"
    assert "validation failed" in refused.msg
    assert accepted.status == "changed"
    assert remote.look(dest).content == b"still good\n"
    assert remote.look(dest).inode != before.inode
    assert remote.listing() == ["sudoers-like"]


def test_validate_without_a_placeholder_is_refused_before_writing(remote, module_context):
    dest = remote.path("x")
    result = run_module("copy", {"dest": dest, "content": "x\n", "validate": "true"}, module_context())
    assert result.status == "failed" and "%s" in result.msg
    assert remote.look(dest).exists is False


def test_force_false_never_replaces_an_existing_file(remote, module_context):
    dest = remote.put("keep", "mine\n")
    result = run_module("copy", {"dest": dest, "content": "theirs\n", "force": False}, module_context())
    assert result.status == "ok"
    assert remote.look(dest).content == b"mine\n"


def test_src_is_found_in_files_and_a_trailing_slash_dest_keeps_its_name(remote, module_context, tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "limits.conf").write_bytes(b"* soft nofile 65536\n")
    context = module_context(search_dirs=[str(tmp_path)])

    result = run_module("copy", {"src": "limits.conf", "dest": remote.folder + "/"}, context)

    assert result.status == "changed", result.msg
    assert remote.look(remote.path("limits.conf")).content == b"* soft nofile 65536\n"
    again = run_module("copy", {"src": "limits.conf", "dest": remote.folder}, module_context(search_dirs=[str(tmp_path)]))
    assert again.status == "ok", again.msg  # a directory dest means "into it"


def test_binary_content_is_copied_byte_for_byte_and_converges(remote, module_context, tmp_path):
    data = bytes(range(256)) * 4
    (tmp_path / "blob.bin").write_bytes(data)
    dest = remote.path("blob.bin")
    args = {"src": str(tmp_path / "blob.bin"), "dest": dest}

    first = run_module("copy", args, module_context())
    second = run_module("copy", args, module_context())

    assert first.status == "changed" and "sha1" in first.diff  # no text diff of binary bytes
    assert second.status == "ok"
    assert remote.look(dest).content == data


def test_missing_source_fails_with_where_it_looked(remote, module_context, tmp_path):
    result = run_module("copy", {"src": "nope.conf", "dest": remote.path("x")},
                        module_context(search_dirs=[str(tmp_path)]))
    assert result.status == "failed"
    assert "nope.conf" in result.msg and str(tmp_path) in result.msg


def test_become_with_a_password_writes_a_root_owned_file(remote, module_context):
    dest = remote.path("root-only")
    become = Become(user="root", password="sandbox")

    result = run_module("copy", {"dest": dest, "content": "secret\n", "mode": "0600"},
                        module_context(user="deploy", become=become))
    again = run_module("copy", {"dest": dest, "content": "secret\n", "mode": "0600"},
                       module_context(user="deploy", become=become))

    assert result.status == "changed", result.msg
    assert again.status == "ok", again.msg
    on_host = remote.look(dest)
    assert (on_host.content, on_host.owner, on_host.mode) == (b"secret\n", "root", "0600")


def test_become_with_a_wrong_password_fails_cleanly_without_showing_it(remote, module_context):
    dest = remote.path("never")
    password = "not-the-password-1234"

    result = run_module("copy", {"dest": dest, "content": "x\n"},
                        module_context(user="deploy", become=Become(user="root", password=password)))

    assert result.status == "failed"
    assert "password" in result.msg and password not in result.msg
    assert password not in repr(result.data)
    assert remote.look(dest).exists is False


def test_without_become_a_root_folder_is_refused_and_nothing_is_left(remote, module_context):
    dest = remote.path("denied")
    result = run_module("copy", {"dest": dest, "content": "x\n"}, module_context(user="deploy"))
    assert result.status == "failed"
    assert "Permission denied" in result.msg
    assert remote.listing() == []


def test_a_write_killed_halfway_leaves_the_old_file_and_no_temp_file(remote):
    from provision.modules.remote_file import write_command

    dest = remote.put("big.conf", "old\n")
    remote.sh(f"cat > /tmp/write.sh <<'EOF'\n{write_command(dest)}EOF")
    # the writer is killed while its input is still arriving, as when the connection drops
    remote.sh("(echo partial; sleep 2) | sh /tmp/write.sh & writer=$!; sleep 0.5; kill -TERM $writer; wait; true")
    assert remote.look(dest).content == b"old\n"
    assert remote.listing() == ["big.conf"]

"""copy over real SSH: content, owner and mode really land, atomically; reruns are ok; become and
permissions as the host enforces them. Every decision (diffs, check mode, backup, force, src lookup)
is in the data tables: test_content_modules_data.py."""
import hashlib

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
    # Ansible's keys, read on the host in the write's own round trip
    assert {key: first.data[key] for key in ("dest", "state", "mode", "owner", "group", "size", "checksum")} == {
        "dest": dest, "state": "file", "mode": "0640", "owner": "deploy", "group": "admin", "size": 12,
        "checksum": hashlib.sha1(b"hello\nworld\n").hexdigest()}
    assert isinstance(first.data["uid"], int) and first.data["uid"] > 0

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


def test_a_folder_dest_takes_the_sources_name_and_follow_writes_through_a_link(remote, module_context, tmp_path):
    """As Ansible's copy: into a folder at dest; `follow: true` writes the file a link at dest points
    to and keeps the link (without it the new file takes the link's place); a link as src is
    copied as what it points to, or with `local_follow: false` as a link."""
    (tmp_path / "motd").write_text("hello\n")
    (tmp_path / "alias").symlink_to(tmp_path / "motd")
    remote.sh(f"mkdir {remote.path('into')} && echo old > {remote.path('real')} && "
              f"ln -s {remote.path('real')} {remote.path('link')}")
    into = run_module("copy", {"src": str(tmp_path / "alias"), "dest": remote.path("into")}, module_context())
    assert into.status == "changed" and remote.look(remote.path("into/alias")).text == "hello\n"
    through = run_module("copy", {"src": str(tmp_path / "motd"), "dest": remote.path("link"), "follow": True},
                         module_context())
    assert through.status == "changed", through.msg
    assert remote.sh(f"readlink {remote.path('link')}; cat {remote.path('real')}") == f"{remote.path('real')}\nhello\n"
    as_link = run_module("copy", {"src": str(tmp_path / "alias"), "dest": remote.path("other"), "local_follow": False},
                         module_context())
    assert as_link.status == "changed" and remote.sh(f"readlink {remote.path('other')}") == f"{tmp_path / 'motd'}\n"
    replaced = run_module("copy", {"content": "new\n", "dest": remote.path("link")}, module_context())
    assert replaced.status == "changed" and remote.sh(f"stat -c %F {remote.path('link')}; cat {remote.path('real')}") \
        == "regular file\nhello\n", "the link is replaced, what it pointed to is left"


def test_a_folder_src_is_copied_as_a_tree_and_converges(remote, module_context, tmp_path):
    """As Ansible's copy: `conf` puts the folder itself under dest, `conf/` what is inside it; mode
    goes to the files, directory_mode to the folders the run makes; an existing file keeps its own
    mode; a file on the host the source lacks stays; a second run changes nothing; check mode
    writes nothing; nothing of the temporary folder is left."""
    (tmp_path / "conf" / "sub").mkdir(parents=True)
    (tmp_path / "conf" / "a.txt").write_text("a\n")
    (tmp_path / "conf" / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (tmp_path / "conf" / "empty").mkdir()
    top = remote.path("tree")
    remote.sh(f"mkdir -p {top}/flat && echo old > {top}/flat/a.txt && chmod 0640 {top}/flat/a.txt && "
              f"echo mine > {top}/flat/extra")
    folder = {"src": str(tmp_path / "conf"), "dest": top + "/", "directory_mode": "0750"}
    checked = run_module("copy", folder, module_context(check=True))
    assert checked.status == "changed" and remote.sh(f"ls {top}") == "flat\n", "check mode wrote nothing"
    first = run_module("copy", folder, module_context())
    inside = run_module("copy", {"src": str(tmp_path / "conf") + "/", "dest": f"{top}/flat"}, module_context())
    assert (first.status, inside.status) == ("changed", "changed"), (first.msg, inside.msg)
    assert f"copy {top}/conf/sub/b.bin (new)" in first.diff and f"create directory {top}/conf/empty" in first.diff
    listing = remote.sh(f"cd {top} && find . -printf '%y %m %p\\n' | sort")
    assert listing.splitlines() == [
        "d 750 ./conf", "d 750 ./conf/empty", "d 750 ./conf/sub", "d 755 .", "d 755 ./flat", "d 755 ./flat/empty",
        "d 755 ./flat/sub", "f 640 ./flat/a.txt", "f 644 ./conf/a.txt", "f 644 ./conf/sub/b.bin", "f 644 ./flat/extra",
        "f 644 ./flat/sub/b.bin"], listing
    assert remote.look(f"{top}/flat/sub/b.bin").content == bytes(range(256))
    assert remote.sh(f"cat {top}/flat/a.txt {top}/flat/extra") == "a\nmine\n"
    again = [run_module("copy", args, module_context()).status
             for args in (folder, {"src": str(tmp_path / "conf") + "/", "dest": f"{top}/flat"})]
    assert again == ["ok", "ok"]
    moded = run_module("copy", {**folder, "mode": "0600"}, module_context())
    assert moded.status == "changed" and remote.sh(f"stat -c %a {top}/conf/a.txt {top}/conf/sub/b.bin") == "600\n600\n"

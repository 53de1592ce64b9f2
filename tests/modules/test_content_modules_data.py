"""copy, template, lineinfile, blockinfile and json_merge as data (no host): given what the path
reads as, expect this status, diff, these commands, these bytes on stdin and this registered data.

The behaviour on a real filesystem (atomic replace, permissions, become, bytes) stays in the SSH
tests (test_copy.py and its siblings); every decision is here.
"""
import hashlib
import json

import pytest

from provision.modules.remote_file import sha1
from provision.templating import Templar
from provision.transport.base import CommandResult
from tests.modules.filehost import host, on_host, run

DEST = "/etc/app.conf"
ROOT_FILE = dict(mode="0644", owner="root", group="root", uid=0, gid=0, state="file")


def after(content: str = "", **options) -> str:
    return on_host("file", content, **options)


# ---- copy ---------------------------------------------------------------------------------------

def test_copy_creates_a_new_file_with_owner_and_mode_in_one_write():
    context = host(on_host("absent"), after=after("hello\n", mode="640", owner="deploy", group="admin", uid=1000,
                                                  gid=1001))
    result = run("copy", {"dest": DEST, "content": "hello\n", "owner": "deploy", "group": "admin", "mode": "0640"},
                 context)

    assert result.status == "changed", result.msg
    assert len(context.commands) == 2 and context.stdin[1] == b"hello\n"
    write = context.commands[1]
    assert "chmod 0640 --" in write and "chown deploy:admin --" in write and "mktemp" in write
    assert result.diff == (f"--- /dev/null\n+++ after: {DEST}\n@@ -0,0 +1 @@\n+hello\n"
                           "owner: (none) -> deploy\ngroup: (none) -> admin\nmode: (none) -> 0640\n")
    assert result.data == {"dest": DEST, "checksum": sha1(b"hello\n"), "size": 6, "state": "file", "mode": "0640",
                           "owner": "deploy", "group": "admin", "uid": 1000, "gid": 1001,
                           "md5sum": hashlib.md5(b"hello\n").hexdigest(),
                           # Ansible's registered diff (the runner keeps it in diff mode only)
                           "diff": [{"before": "", "after_header": DEST, "after": "hello\n"}]}


def test_copy_of_the_same_content_and_attributes_only_reads():
    context = host(on_host("file", "hello\n", mode="640", owner="deploy", uid=1000))
    result = run("copy", {"dest": DEST, "content": "hello\n", "owner": "deploy", "mode": "0640"}, context)
    assert result.status == "ok" and context.writes == []
    assert result.data == {"dest": DEST, "checksum": sha1(b"hello\n"), "size": 6, "state": "file", "mode": "0640",
                           "owner": "deploy", "group": "root", "uid": 1000, "gid": 0,
                           "md5sum": hashlib.md5(b"hello\n").hexdigest()}


def test_a_new_file_without_mode_keeps_the_old_files_or_the_umasks_never_mktemps():
    context = host(on_host("file", "old\n", mode="600"), after=after("new\n", mode="600"))
    run("copy", {"dest": DEST, "content": "new\n"}, context)
    write = context.commands[1]
    assert 'chmod --reference="$dest" "$tmp"' in write and "0666 & ~$(umask)" in write
    assert "chmod 0" not in write and "chown " not in write.replace("chown --reference", "")


def test_only_the_mode_differs_so_only_chmod_is_sent():
    context = host(on_host("file", "#!/bin/sh\n"), after=after("#!/bin/sh\n", mode="744"))
    result = run("copy", {"dest": DEST, "content": "#!/bin/sh\n", "mode": "u+x"}, context)
    assert result.status == "changed" and result.diff == "mode: 0644 -> 0744\n"
    assert context.commands[1].startswith("{ chmod 0744 -- /etc/app.conf\n}") and context.stdin[1] is None
    assert result.data["mode"] == "0744" and result.data["dest"] == DEST


@pytest.mark.parametrize("args, on_path", [
    ({"content": "a=1\nb=20\n", "mode": "0600"}, on_host("file", "a=1\nb=2\n")),
    ({"content": "new\n"}, on_host("absent")),
    ({"content": "x\n", "owner": "deploy"}, on_host("file", "x\n")),
])
def test_check_mode_sends_only_the_read(args, on_path):
    context = host(on_path, check=True)
    result = run("copy", {"dest": DEST, **args}, context)
    assert result.status == "changed" and result.msg == "would change"
    assert context.writes == [] and context.stdin == [None]


def test_check_mode_diff_shows_content_and_mode():
    result = run("copy", {"dest": DEST, "content": "a=1\nb=20\nc=3\n", "mode": "0600"},
                 host(on_host("file", "a=1\nb=2\nc=3\n"), check=True))
    assert result.diff == (f"--- before: {DEST}\n+++ after: {DEST}\n@@ -1,3 +1,3 @@\n a=1\n-b=2\n+b=20\n c=3\n"
                           "mode: 0644 -> 0600\n")


def test_backup_is_made_by_the_write_and_registered():
    backup = DEST + ".2026-01-01@10:00:00~"
    context = host(on_host("file", "old\n"), written=f"backup={backup}\n", after=after("new\n"))
    result = run("copy", {"dest": DEST, "content": "new\n", "backup": True}, context)
    assert 'cp -p -- "$dest" "$b"' in context.commands[1]
    assert result.data["backup_file"] == backup


def test_validate_runs_on_the_temp_file_and_its_failure_fails_the_task():
    refused = CommandResult(1, "", "validation failed: the file was not changed\n")
    context = host(on_host("file", "good\n"), failed=refused)
    result = run("copy", {"dest": DEST, "content": "bad\n", "validate": "visudo -cf %s"}, context)
    assert '(visudo -cf "$tmp") >&2' in context.commands[1]
    assert result.status == "failed" and "validation failed" in result.msg


def test_validate_without_a_placeholder_is_refused_before_writing():
    context = host(on_host("absent"))
    result = run("copy", {"dest": DEST, "content": "x\n", "validate": "true"}, context)
    assert result.status == "failed" and "%s" in result.msg and context.writes == []


def test_force_false_never_replaces_an_existing_file():
    context = host(on_host("file", "mine\n"))
    assert run("copy", {"dest": DEST, "content": "theirs\n", "force": False}, context).status == "ok"
    assert context.writes == []


def test_src_is_read_locally_and_a_folder_dest_means_into_it(tmp_path):
    (tmp_path / "limits.conf").write_bytes(b"* soft nofile 65536\n")
    files = {"limits.conf": str(tmp_path / "limits.conf")}
    trailing = host(on_host("absent"), after=after("x"), local_files=files)
    run("copy", {"src": "limits.conf", "dest": "/etc/security/"}, trailing)
    assert trailing.commands[0].startswith("p=/etc/security/limits.conf\n")  # known before the read

    folder = host(on_host("directory", mode="755"), reads={"p=/etc/security/limits.conf\n":
                                                           on_host("file", "* soft nofile 65536\n")},
                  local_files=files)
    result = run("copy", {"src": "limits.conf", "dest": "/etc/security"}, folder)
    assert result.status == "ok" and result.data["dest"] == "/etc/security/limits.conf"


def test_binary_content_diffs_by_checksum(tmp_path):
    data = bytes(range(256))
    (tmp_path / "blob").write_bytes(data)
    context = host(on_host("file", "text\n"), after=after(), local_files={"blob": str(tmp_path / "blob")})
    result = run("copy", {"src": "blob", "dest": DEST}, context)
    assert result.diff == f"content of {DEST}: sha1 {sha1(b'text' + bytes([10]))} -> {sha1(data)}\n"
    assert context.stdin[1] == data


def test_a_missing_source_fails_naming_it_and_sends_nothing_but_the_read():
    context = host(on_host("absent"))
    result = run("copy", {"src": "nope.conf", "dest": DEST}, context)
    assert result.status == "failed" and "nope.conf" in result.msg and context.writes == []


@pytest.mark.parametrize("args, message", [
    # the words of Ansible's copy action, which checks these before its module runs
    ({"dest": DEST}, "src (or content) is required"),
    ({"dest": DEST, "src": ""}, "src (or content) is required"),
    ({"src": "a"}, "dest is required"),
    ({"dest": DEST, "content": "", "src": "a"}, "src and content are mutually exclusive"),
    ({"dest": "/etc/", "content": "x"}, "can not use content with a dir as dest"),
    ({"dest": DEST, "content": "x", "src": "a"}, "src and content are mutually exclusive"),
])
def test_copy_refuses_what_ansible_refuses(args, message):
    context = host(on_host("absent"))
    result = run("copy", args, context)
    assert result.status == "failed" and message in result.msg and context.writes == []


def test_an_empty_content_writes_an_empty_file():
    context = host(on_host("absent"), after=after(""))
    assert run("copy", {"dest": DEST, "content": ""}, context).status == "changed"
    assert context.stdin[1] == b""


def test_a_dict_content_is_written_as_json():
    context = host(on_host("absent"), after=after())
    run("copy", {"dest": DEST, "content": {"a": 1}}, context)
    assert context.stdin[1] == b'{\n  "a": 1\n}\n'


def test_a_directory_at_dest_is_refused_for_content():
    result = run("copy", {"dest": "/etc", "content": "x"}, host(on_host("directory", mode="755")))
    assert result.status == "failed" and result.msg == "can not use content with a dir as dest"  # Ansible's


# ---- template -----------------------------------------------------------------------------------

@pytest.fixture
def chrony(tmp_path):
    (tmp_path / "chrony.conf.j2").write_text("{% for s in servers %}server {{ s }}\n{% endfor %}")
    return {"chrony.conf.j2": str(tmp_path / "chrony.conf.j2")}


def test_template_renders_locally_and_writes_the_result(chrony):
    context = host(on_host("absent"), after=after("server a\nserver b\n"), local_files=chrony,
                   render_text=Templar({"servers": ["a", "b"]}).render_text)
    result = run("template", {"src": "chrony.conf.j2", "dest": DEST}, context)
    assert result.status == "changed" and context.stdin[1] == b"server a\nserver b\n"
    assert result.data["md5sum"] == hashlib.md5(b"server a\nserver b\n").hexdigest()


def test_template_a_changed_variable_is_a_diff_and_check_mode_sends_only_the_read(chrony):
    context = host(on_host("file", "server a\n"), check=True, local_files=chrony,
                   render_text=Templar({"servers": ["b"]}).render_text)
    result = run("template", {"src": "chrony.conf.j2", "dest": DEST}, context)
    assert result.status == "changed" and result.diff.endswith("-server a\n+server b\n")
    assert context.writes == []


def test_template_newline_sequence_crlf(chrony):
    context = host(on_host("absent"), after=after(), local_files=chrony,
                   render_text=Templar({"servers": ["a", "b"]}).render_text)
    run("template", {"src": "chrony.conf.j2", "dest": DEST, "newline_sequence": "\r\n"}, context)
    assert context.stdin[1] == b"server a\r\nserver b\r\n"


def test_template_an_undefined_variable_fails_naming_it_and_writes_nothing(chrony):
    context = host(on_host("absent"), local_files=chrony, render_text=Templar({}).render_text)
    result = run("template", {"src": "chrony.conf.j2", "dest": DEST}, context)
    assert result.status == "failed" and "servers" in result.msg and context.writes == []


def test_template_a_missing_file_fails_naming_it(chrony):
    result = run("template", {"src": "nope.j2", "dest": DEST}, host(on_host("absent"), local_files=chrony))
    assert result.status == "failed" and "nope.j2" in result.msg


def test_template_force_false_keeps_an_existing_file(chrony):
    context = host(on_host("file", "mine\n"), local_files=chrony)
    assert run("template", {"src": "chrony.conf.j2", "dest": DEST, "force": False}, context).status == "ok"


# ---- lineinfile ---------------------------------------------------------------------------------

SSHD = "Port 22\n#PermitRootLogin yes\nPasswordAuthentication yes\n"
REGEXP = {"regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"}


def test_lineinfile_replaces_a_line_and_registers_ansibles_msg():
    new = SSHD.replace("#PermitRootLogin yes", "PermitRootLogin no")
    context = host(on_host("file", SSHD, mode="600"), after=after(new, mode="600"))
    result = run("lineinfile", {"path": DEST, **REGEXP}, context)
    assert result.status == "changed" and context.stdin[1] == new.encode()
    assert result.diff == (f"--- before: {DEST}\n+++ after: {DEST}\n@@ -1,3 +1,3 @@\n Port 22\n"
                           "-#PermitRootLogin yes\n+PermitRootLogin no\n PasswordAuthentication yes\n")
    assert result.data["msg"] == "line replaced" and result.data["mode"] == "0600"


def test_lineinfile_converged_only_reads():
    context = host(on_host("file", "Port 22\nPermitRootLogin no\n"))
    assert run("lineinfile", {"path": DEST, **REGEXP}, context).status == "ok" and context.writes == []


def test_lineinfile_check_mode_sends_only_the_read():
    context = host(on_host("file", SSHD), check=True)
    result = run("lineinfile", {"path": DEST, "line": "UseDNS no"}, context)
    assert result.status == "changed" and result.diff.endswith(" PasswordAuthentication yes\n+UseDNS no\n")
    assert context.writes == []


@pytest.mark.parametrize("args, text, expected, message", [
    ({"line": "UseDNS no"}, "a\n", b"a\nUseDNS no\n", "line added"),
    ({"regexp": "^#tmp", "state": "absent"}, "a\n#tmp\nb\n#tmp2\n", b"a\nb\n", "2 line(s) removed"),
])
def test_lineinfile_edits_and_messages(args, text, expected, message):
    context = host(on_host("file", text), after=after())
    result = run("lineinfile", {"path": DEST, **args}, context)
    assert context.stdin[1] == expected and result.data["msg"] == message


def test_lineinfile_missing_file_fails_unless_create_and_absent_is_ok():
    refused = host(on_host("absent"))
    result = run("lineinfile", {"path": DEST, "line": "x=1"}, refused)
    assert result.status == "failed" and "does not exist" in result.msg and refused.writes == []

    created = host(on_host("absent"), after=after("x=1\n", mode="640"))
    result = run("lineinfile", {"path": DEST, "line": "x=1", "create": True, "mode": "0640"}, created)
    assert result.status == "changed" and created.stdin[1] == b"x=1\n" and "chmod 0640 --" in created.commands[1]

    assert run("lineinfile", {"path": DEST, "line": "x", "state": "absent"}, host(on_host("absent"))).status == "ok"


def test_lineinfile_backup_is_registered_under_both_names():
    backup = DEST + ".2026-01-01@10:00:00~"
    result = run("lineinfile", {"path": DEST, "line": "b", "backup": True},
                 host(on_host("file", "a\n"), written=f"backup={backup}\n", after=after("a\nb\n")))
    assert result.data["backup_file"] == result.data["backup"] == backup


def test_lineinfile_refuses_a_file_that_is_not_utf8():
    latin1 = "caf\xe9=1\n".encode("latin-1")
    context = host(on_host("file", latin1))
    result = run("lineinfile", {"path": DEST, "line": "x=2"}, context)
    assert result.status == "failed" and "UTF-8" in result.msg and context.writes == []


@pytest.mark.parametrize("kind", ["directory", "other"])
def test_lineinfile_refuses_what_is_not_a_regular_file(kind):
    result = run("lineinfile", {"path": DEST, "line": "x"}, host(on_host(kind, mode="755")))
    assert result.status == "failed" and f"is a {kind}" in result.msg


def test_lineinfile_follows_a_link_to_its_target_in_two_reads():
    target = "/run/systemd/resolve/stub-resolv.conf"
    context = host(on_host("link", link="../run/systemd/resolve/stub-resolv.conf", resolved=target),
                   reads={f"p={target}\n": on_host("file", "nameserver 127.0.0.53\n")}, after=after())
    result = run("lineinfile", {"path": "/etc/resolv.conf", "line": "options edns0"}, context)
    assert result.status == "changed" and result.data["path"] == target
    assert len(context.commands) == 3 and context.commands[2].startswith("{ dest=" + target)
    assert context.stdin[2] == b"nameserver 127.0.0.53\noptions edns0\n"


def test_lineinfile_an_unreadable_file_asks_for_become():
    result = run("lineinfile", {"path": DEST, "line": "x"}, host(on_host("file", "", checksum="unreadable")))
    assert result.status == "failed" and "become" in result.msg


# ---- blockinfile --------------------------------------------------------------------------------

BLOCK = "# BEGIN ANSIBLE MANAGED BLOCK\nnameserver 10.0.0.1\n# END ANSIBLE MANAGED BLOCK\n"


@pytest.mark.parametrize("args, text, expected, message", [
    ({"block": "nameserver 10.0.0.1"}, "search lab\n", "search lab\n" + BLOCK, "Block inserted"),
    ({"block": "nameserver 1.1.1.1"}, "search lab\n" + BLOCK, "search lab\n" + BLOCK.replace("10.0.0.1", "1.1.1.1"),
     "Block inserted"),
    ({"state": "absent"}, "a\n" + BLOCK + "exit 0\n", "a\nexit 0\n", "Block removed"),
    ({"block": "x", "create": True}, None, "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n",
     "File created"),
])
def test_blockinfile_writes_and_messages(args, text, expected, message):
    context = host(on_host("file", text) if text is not None else on_host("absent"), after=after())
    result = run("blockinfile", {"path": DEST, **args}, context)
    assert result.status == "changed" and context.stdin[1] == expected.encode()
    assert result.data["msg"] == message


@pytest.mark.parametrize("args, on_path", [
    ({"block": "nameserver 10.0.0.1"}, on_host("file", "search lab\n" + BLOCK)),
    ({"state": "absent"}, on_host("file", "a\n")),
    ({"state": "absent"}, on_host("absent")),
])
def test_blockinfile_converged_only_reads(args, on_path):
    context = host(on_path)
    assert run("blockinfile", {"path": DEST, **args}, context).status == "ok" and context.writes == []


def test_blockinfile_check_mode_and_its_failures():
    context = host(on_host("file", "search lab\n"), check=True)
    result = run("blockinfile", {"path": DEST, "block": "x"}, context)
    assert result.status == "changed" and "+x\n" in result.diff and context.writes == []
    missing = run("blockinfile", {"path": DEST, "block": "x"}, host(on_host("absent")))
    assert missing.status == "failed" and "does not exist" in missing.msg
    invalid = run("blockinfile", {"path": DEST, "block": "b", "insertafter": "(["}, host(on_host("file", "a\n")))
    assert invalid.status == "failed" and "invalid insertafter" in invalid.msg


# ---- json_merge ---------------------------------------------------------------------------------

USER = '{\n    "log-driver": "journald",\n    "registry-mirrors": [\n        "https://mirror.lab"\n    ]\n}\n'
NVIDIA = {"default-runtime": "nvidia", "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}


def test_json_merge_keeps_the_users_keys_and_indentation():
    context = host(on_host("file", USER, mode="600"), after=after())
    result = run("json_merge", {"path": DEST, "keys": NVIDIA}, context)
    written = context.stdin[1].decode()
    assert result.status == "changed" and json.loads(written) == {**json.loads(USER), **NVIDIA}
    assert list(json.loads(written))[:2] == ["log-driver", "registry-mirrors"]
    assert '\n    "default-runtime": "nvidia",\n' in written and '+    "default-runtime": "nvidia",\n' in result.diff


@pytest.mark.parametrize("args, on_path", [
    ({"keys": NVIDIA}, on_host("file", '{"runtimes":{"nvidia":{"path":"nvidia-container-runtime"}},'
                                        '"default-runtime":"nvidia"}')),
    ({"remove": ["debug"]}, on_host("file", "{}\n")),
    ({"keys": {}}, on_host("absent")),
])
def test_json_merge_the_same_data_only_reads(args, on_path):
    context = host(on_path)
    assert run("json_merge", {"path": DEST, **args}, context).status == "ok" and context.writes == []


def test_json_merge_creates_removes_and_refuses_invalid_json():
    created = host(on_host("absent"), after=after())
    result = run("json_merge", {"path": DEST, "keys": {"debug": True}}, created)
    assert created.stdin[1] == b'{\n  "debug": true\n}\n' and result.diff.startswith(f"--- /dev/null\n+++ after: {DEST}\n")

    removed = host(on_host("file", USER), after=after())
    run("json_merge", {"path": DEST, "remove": ["registry-mirrors"]}, removed)
    assert json.loads(removed.stdin[1]) == {"log-driver": "journald"}

    broken = host(on_host("file", '{"a": 1,,}\n'))
    result = run("json_merge", {"path": DEST, "keys": NVIDIA}, broken)
    assert result.status == "failed" and "not valid JSON" in result.msg and broken.writes == []


def test_json_merge_check_mode_sends_only_the_read():
    context = host(on_host("file", USER), check=True)
    result = run("json_merge", {"path": DEST, "keys": {"log-driver": "json-file"}}, context)
    assert result.diff == (f'--- before: {DEST}\n+++ after: {DEST}\n@@ -1,5 +1,5 @@\n {{\n'
                           '-    "log-driver": "journald",\n+    "log-driver": "json-file",\n     "registry-mirrors": [\n'
                           '         "https://mirror.lab"\n     ]\n')
    assert context.writes == []


# ---- every content module: the read is one batched command --------------------------------------

@pytest.mark.parametrize("name, args", [
    ("copy", {"dest": DEST, "content": "x"}), ("template", {"src": "t.j2", "dest": DEST}),
    ("lineinfile", {"path": DEST, "line": "x"}), ("blockinfile", {"path": DEST, "block": "x"}),
    ("json_merge", {"path": DEST, "keys": {"a": 1}}),
])
def test_the_first_command_is_the_declared_read(name, args):
    from provision.modules import get_module

    module = get_module(name)
    context = host(on_host("absent"), check=True)
    read = module(module.check_args(dict(args)), context).read_command()
    run(name, args, context)
    assert context.commands[0] == read and read.startswith(f"p={DEST}\n")


@pytest.mark.parametrize("options, expected", [
    ({}, b"server a\nserver b\n"),  # Ansible's default: trim_blocks
    ({"trim_blocks": False}, b"\nserver a\n\nserver b\n\n"),
    ({"lstrip_blocks": True}, b"server a\nserver b\n"),
])
def test_template_block_tags_on_their_own_lines_render_as_ansibles(tmp_path, options, expected):
    (tmp_path / "list.j2").write_text("{% for s in servers %}\nserver {{ s }}\n  {% endfor %}\n".replace("  {%", "{%"))
    context = host(on_host("absent"), after=after(expected.decode()), local_files={"list.j2": str(tmp_path / "list.j2")},
                   render_text=Templar({"servers": ["a", "b"]}).render_text)
    run("template", {"src": "list.j2", "dest": DEST, **options}, context)
    assert context.stdin[1] == expected

"""The shared file helpers, table-driven (no host): modes, parsing the read command, diffs."""
import pytest

from provision.modules.base import ModuleFailed
from provision.modules.remote_file import attribute_changes, desired_mode, parse_state, unified_diff


@pytest.mark.parametrize("mode, current, is_directory, expected", [
    ("0644", "", False, "0644"), ("644", "", False, "0644"), ("0o750", "", True, "0750"), (0o644, "", False, "0644"),
    ("u+x", "0644", False, "0744"), ("go-rwx", "0755", True, "0700"), ("u=rwX,g=rX,o=", "0600", False, "0640"),
    ("u=rwX,g=rX,o=", "0700", True, "0750"), ("a+X", "0644", False, "0644"), ("a+X", "0744", False, "0755"),
    ("u+s", "0755", False, "4755"), ("+t", "0777", True, "1777"), ("u+x", "", False, "0744"), ("preserve", "0600", False, None),
    (None, "0600", False, None),
])
def test_desired_mode(mode, current, is_directory, expected):
    assert desired_mode(mode, current, is_directory) == expected


@pytest.mark.parametrize("mode", ["0999", "u+q", "rwxr-xr-x"])
def test_an_invalid_mode_is_a_clear_failure(mode):
    with pytest.raises(ModuleFailed, match="invalid mode"):
        desired_mode(mode, "0644")


def test_parse_state_of_a_file_keeps_the_content_exactly():
    output = "file\n640 0 4 root adm 7 1700000000\n\nda39a3ee\nline 1\nline 2 no newline"
    state = parse_state("/etc/x", output)
    assert (state.kind, state.mode, state.owner, state.group, state.size) == ("file", "0640", "root", "adm", 7)
    assert state.content == "line 1\nline 2 no newline"


def test_parse_state_of_an_unreadable_file():
    output = "file\n600 0 0 root root 7 1700000000\n\nunreadable\n"
    with pytest.raises(ModuleFailed, match="permission denied"):
        parse_state("/etc/shadow", output)
    assert parse_state("/etc/shadow", output, must_read=False).checksum == ""


def test_owner_and_group_match_by_name_or_number():
    state = parse_state("/x", "file\n644 1000 1000 deploy deploy 0 0\n\nabc\n")
    assert attribute_changes(state, "deploy", "1000", "0644") == {}
    assert attribute_changes(state, "root", None, "u+x") == {"owner": "root", "mode": "0744"}


def test_unified_diff_marks_a_missing_final_newline():
    assert unified_diff("a\n", "a\nb", "/f") == (
        "--- before: /f\n+++ after: /f\n@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n")
    assert unified_diff("x\n", None, "/f") == "--- before: /f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"

"""lineinfile's text transform, table-driven: given a file and arguments, expect this file (no host).

The expected texts follow ansible.builtin.lineinfile's documented rules.
"""
import pytest

from provision.modules.base import ModuleFailed
from provision.modules.lineinfile import LineInFile, edit_line


def args(**given):
    return LineInFile.check_args(given | {"path": "/etc/x"})


CASES = [
    # (name, text, arguments, expected text)
    ("appends a missing line", "a\nb\n", dict(line="c"), "a\nb\nc\n"),
    ("an existing line is left alone", "a\nc\nb\n", dict(line="c"), "a\nc\nb\n"),
    ("appends after a last line without newline", "a\nb", dict(line="c"), "a\nb\nc\n"),
    ("empty file", "", dict(line="c"), "c\n"),
    ("regexp replaces the last match", "x=1\ny=2\nx=3\n", dict(regexp=r"^x=", line="x=9"), "x=1\ny=2\nx=9\n"),
    ("firstmatch replaces the first match", "x=1\ny=2\nx=3\n", dict(regexp=r"^x=", line="x=9", firstmatch=True),
     "x=9\ny=2\nx=3\n"),
    ("regexp without match appends", "a\n", dict(regexp=r"^x=", line="x=9"), "a\nx=9\n"),
    ("regexp without match but the line is there", "a\nx=9\n", dict(regexp=r"^x =", line="x=9"), "a\nx=9\n"),
    ("replacing keeps a CRLF ending", "a\r\nx=1\r\n", dict(regexp=r"^x=", line="x=2"), "a\r\nx=2\r\n"),
    ("replacing a last line without newline adds one", "a\nx=1", dict(regexp=r"^x=", line="x=2"), "a\nx=2\n"),
    ("search_string is literal", "a.b=1\naxb=2\n", dict(search_string="a.b", line="a.b=3"), "a.b=3\naxb=2\n"),
    ("backrefs expand groups", "port=22\n", dict(regexp=r"^port=(\d+)$", line=r"Port \1", backrefs=True),
     "Port 22\n"),
    ("backrefs without match change nothing", "a\n", dict(regexp=r"^port=(\d+)$", line=r"Port \1", backrefs=True),
     "a\n"),
    ("insertafter the last match", "[a]\nk\n[a]\nk\n", dict(line="new", insertafter=r"^\[a\]"),
     "[a]\nk\n[a]\nnew\nk\n"),
    ("insertafter the first match", "[a]\nk\n[a]\nk\n", dict(line="new", insertafter=r"^\[a\]", firstmatch=True),
     "[a]\nnew\nk\n[a]\nk\n"),
    ("insertafter without a match appends", "a\n", dict(line="new", insertafter="^zzz"), "a\nnew\n"),
    ("insertafter a last line without newline", "a\n[s]", dict(line="new", insertafter=r"^\[s\]"), "a\n[s]\nnew\n"),
    ("insertbefore the last match", "# x\na\n# x\n", dict(line="new", insertbefore="^# x"), "# x\na\nnew\n# x\n"),
    ("insertbefore BOF", "a\n", dict(line="new", insertbefore="BOF"), "new\na\n"),
    ("insertafter BOF", "a\n", dict(line="new", insertafter="BOF"), "new\na\n"),
    ("regexp match wins over insertafter", "x=1\n[s]\n", dict(regexp="^x=", line="x=2", insertafter=r"^\[s\]"),
     "x=2\n[s]\n"),
    ("absent removes every exact line", "a\nb\na\n", dict(line="a", state="absent"), "b\n"),
    ("absent by regexp", "#x\ny\n#z\n", dict(regexp="^#", state="absent"), "y\n"),
    ("absent by search_string", "foo=1\nbar\n", dict(search_string="foo", state="absent"), "bar\n"),
    ("absent of a missing line changes nothing", "a\n", dict(line="z", state="absent"), "a\n"),
    # Only \n ends a line, as in Ansible (it reads bytes): a form feed or \x85 inside a line is data.
    ("a form feed is not a line break", "a\fb\nc\n", dict(line="d"), "a\fb\nc\nd\n"),
    ("unicode line separators are data", "x\u2028y\x85z\n", dict(line="d"), "x\u2028y\x85z\nd\n"),
    ("a lone CR is not a line break", "a\rb\n", dict(regexp="^b", line="B"), "a\rb\nB\n"),
]


@pytest.mark.parametrize("text, given, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_edit_line(text, given, expected):
    assert edit_line(text, args(**given)) == expected


@pytest.mark.parametrize("text, given", [(case[3], case[2]) for case in CASES if case[2].get("state") != "absent"],
                         ids=[case[0] for case in CASES if case[2].get("state") != "absent"])
def test_a_second_run_changes_nothing(text, given):
    assert edit_line(text, args(**given)) == text


def test_state_absent_needs_something_to_match():
    with pytest.raises(ModuleFailed, match="line, regexp or search_string"):
        edit_line("a\n", args(state="absent"))


def test_present_needs_a_line():
    with pytest.raises(ModuleFailed, match="state is present but all of the following are missing: line"):  # the declared rule
        args(regexp="^a")
    with pytest.raises(ModuleFailed, match="line is required"):  # and the edit itself
        edit_line("a\n", {"path": "/etc/x", "state": "present", "regexp": "^a"})


def test_backrefs_need_a_regexp_as_in_ansible():
    with pytest.raises(ModuleFailed, match="regexp is required with backrefs=true"):
        edit_line("a\n", args(line="b", backrefs=True))


def test_an_invalid_regexp_is_a_clear_failure():
    with pytest.raises(ModuleFailed, match="invalid regexp"):
        edit_line("a\n", args(regexp="(", line="x"))

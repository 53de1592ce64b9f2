"""blockinfile's text transform, table-driven (no host). Expected texts follow Ansible's blockinfile."""
import pytest

from provision.modules.base import ModuleFailed
from provision.modules.blockinfile import BlockInFile, edit_block


def args(**given):
    return BlockInFile.check_args(given | {"path": "/etc/x"})


BEGIN, END = "# BEGIN ANSIBLE MANAGED BLOCK\n", "# END ANSIBLE MANAGED BLOCK\n"

CASES = [
    ("appends a new block", "a\n", dict(block="x\ny"), f"a\n{BEGIN}x\ny\n{END}"),
    ("a block ending in a newline is the same block", "a\n", dict(block="x\ny\n"), f"a\n{BEGIN}x\ny\n{END}"),
    ("appends after a last line without newline", "a", dict(block="x"), f"a\n{BEGIN}x\n{END}"),
    ("replaces the block between the markers", f"a\n{BEGIN}old\n{END}b\n", dict(block="new"),
     f"a\n{BEGIN}new\n{END}b\n"),
    ("state absent removes block and markers", f"a\n{BEGIN}old\n{END}b\n", dict(state="absent"), "a\nb\n"),
    ("an empty block removes block and markers", f"a\n{BEGIN}old\n{END}b\n", dict(block=""), "a\nb\n"),
    ("absent without a block changes nothing", "a\n", dict(state="absent"), "a\n"),
    ("insertbefore BOF", "a\n", dict(block="x", insertbefore="BOF"), f"{BEGIN}x\n{END}a\n"),
    ("insertafter a regexp (last match)", "[s]\n1\n[s]\n2\n", dict(block="x", insertafter=r"^\[s\]"),
     f"[s]\n1\n[s]\n{BEGIN}x\n{END}2\n"),
    ("insertbefore a regexp", "a\nexit 0\n", dict(block="x", insertbefore="^exit"), f"a\n{BEGIN}x\n{END}exit 0\n"),
    ("insertafter without a match appends", "a\n", dict(block="x", insertafter="^zzz"), f"a\n{BEGIN}x\n{END}"),
    ("an existing block is not moved by insertbefore", f"{BEGIN}x\n{END}a\n", dict(block="x", insertafter="^a"),
     f"{BEGIN}x\n{END}a\n"),
    ("custom markers", "a\n", dict(block="x", marker="// {mark} gpu", marker_begin="START", marker_end="STOP"),
     "a\n// START gpu\nx\n// STOP gpu\n"),
    ("another marker's block is left alone", f"{BEGIN}mine\n{END}",
     dict(block="x", marker="# {mark} other"), f"{BEGIN}mine\n{END}# BEGIN other\nx\n# END other\n"),
    ("a form feed elsewhere survives", "a\fb\n", dict(block="x"), f"a\fb\n{BEGIN}x\n{END}"),
]


@pytest.mark.parametrize("text, given, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_edit_block(text, given, expected):
    assert edit_block(text, args(**given)) == expected


@pytest.mark.parametrize("given, text", [(case[2], case[3]) for case in CASES], ids=[case[0] for case in CASES])
def test_a_second_run_changes_nothing(given, text):
    assert edit_block(text, args(**given)) == text


def test_a_marker_without_the_mark_placeholder_is_refused():
    with pytest.raises(ModuleFailed, match="{mark}"):
        edit_block("a\n", args(block="x", marker="# managed"))


@pytest.mark.parametrize("where", ["insertafter", "insertbefore"])
def test_an_invalid_insert_regexp_is_a_clear_failure(where):
    with pytest.raises(ModuleFailed, match=f"invalid {where}"):
        edit_block("a\n", args(block="x", **{where: "("}))

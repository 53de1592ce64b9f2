"""The text of a free-form command or shell task, kept as Ansible keeps it: `cmd` is registered
with it and playbooks compare it (ansible-core's command_shell target does, byte for byte)."""
from __future__ import annotations

import pytest

from provision.playbook.freeform import parse_free_form


@pytest.mark.parametrize("text, args", [
    # ansible-core's command_shell target: a lone backslash ending a line (outside quotes) and its
    # newline go; a newline inside quotes and the last newline stay
    ('echo this is a \\\n"multiline echo" \\\n"with a new line\nin quotes" \\\n| cat\necho "this is a second line"\n',
     {"_raw_params": 'echo this is a "multiline echo" "with a new line\nin quotes" | cat\necho "this is a second line"\n'}),
    # words Ansible takes out of the text: the rest re-joined, its last newline kept
    ('executable="/bin/bash"\ncreates=/tmp/afile.txt\necho "test"\n',
     {"executable": "/bin/bash", "creates": "/tmp/afile.txt", "_raw_params": 'echo "test"\n'}),
    ("echo hi creates=/x", {"creates": "/x", "_raw_params": "echo hi"}),
    ("  ls  -l  ", {"_raw_params": "  ls  -l  "}),                     # as written when nothing is taken out
    ("echo 'a \\\nb'", {"_raw_params": "echo 'a \\\nb'"}),              # inside quotes: kept
    ("echo a\\\nb", {"_raw_params": "echo a\\\nb"}),                     # not a word of its own: kept
    ("printf \\\\\n", {"_raw_params": "printf \\\\\n"}),
    ("   ", {}),
])
def test_free_form_text_is_kept_as_ansible_keeps_it(text, args):
    assert parse_free_form(text) == args

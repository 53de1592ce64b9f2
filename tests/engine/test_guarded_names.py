"""Optional variables, Ansible's way: a name the template guards (`| default(...)`, `is defined`)
needs no definition anywhere, and validation must not refuse it; an unguarded one still is."""
from __future__ import annotations

import pytest

from provision.cli import main

INVENTORY = "all:\n  hosts:\n    web1: {ansible_host: 127.0.0.1}\n"


@pytest.mark.parametrize("template", [
    'msg="{{ refresh | default(false) }}"',
    'msg="{{ settings.port | d(22) }}"',
    'msg="{{ (extra_args | default([])) | join(\' \') }}"',
])
def test_a_guarded_name_is_not_refused(tmp_path, capsys, template):
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "playbook.yaml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - debug: {template}\n"
        "    - debug: msg=later\n      when: refresh is defined and refresh | bool\n"
        "    - debug: msg=never\n      when: other_flag is undefined\n")
    assert main(["lint", str(tmp_path / "inventory.yaml"), str(tmp_path / "playbook.yaml")]) == 0, \
        capsys.readouterr()


def test_an_unguarded_name_next_to_a_guarded_one_is_still_refused(tmp_path, capsys):
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "playbook.yaml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        '    - debug: msg="{{ refresh | default(false) }} {{ refrsh }}"\n')
    assert main(["lint", str(tmp_path / "inventory.yaml"), str(tmp_path / "playbook.yaml")]) == 1
    err = capsys.readouterr().err
    assert "undefined variable 'refrsh'" in err and "undefined variable 'refresh'" not in err

"""One task in a throwaway project, through `provision lint` in-process: how the rule tests ask
whether validation refuses a task (and where) or accepts it. Nothing is contacted: the inventory's
one host is never reached by lint."""
from __future__ import annotations

from provision.cli import main

INVENTORY = "all:\n  hosts:\n    web1: {ansible_host: 127.0.0.1}\n"
HEADER = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: the task\n"
MODULE_LINE = 5  # the line of the module's key, below HEADER
FILES = {  # what the tasks name: copy's src, template's src, apt_repository's key_src
    "files/motd": "hello\n",
    "templates/motd.j2": "hello\n",
    "files/vendor.asc": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
}


def lint_task(tmp_path, task: str) -> int:
    """`provision lint` of a playbook holding `task` (its lines indented under `- name:`)."""
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "playbook.yaml").write_text(HEADER + "      " + task)
    return main(["lint", str(tmp_path / "inventory.yaml"), str(tmp_path / "playbook.yaml")])


def assert_refused(tmp_path, capsys, task: str, message: str) -> None:
    """Exit 1, and an error at the module's line and column that carries `message`."""
    assert lint_task(tmp_path, task) == 1
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    place = f"{tmp_path / 'playbook.yaml'}:{MODULE_LINE}:7: "
    assert any(block.startswith(place) and message in block for block in err.split("error: ")), err


def assert_accepted(tmp_path, capsys, task: str) -> None:
    assert lint_task(tmp_path, task) == 0, capsys.readouterr()

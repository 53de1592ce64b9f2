"""remote_user: who provision logs in as where the inventory names nobody, play by play, and for
one task, a block or an import (the connection is made again when the next one logs in as someone
else, and back), never over an inventory's ansible_user."""
from __future__ import annotations

import pytest

from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.runner import RunOptions, run_playbook
from tests.engine.scenario import dump_inventory, sandbox_inventory, write

pytestmark = pytest.mark.sandbox

PLAYBOOK = """
- hosts: lab
  gather_facts: false
  remote_user: admin
  tasks:
    - {name: as admin, command: whoami, register: first, changed_when: false}
- hosts: lab
  gather_facts: false
  remote_user: root
  tasks:
    - {name: as root, command: whoami, register: second, changed_when: false}
    - {name: task as admin, command: whoami, changed_when: false, remote_user: "{{ other }}"}
    - {name: root again, command: whoami, changed_when: false}
    - block:
        - {name: block as admin, command: whoami, changed_when: false}
      remote_user: admin
    - import_tasks: more.yaml
      remote_user: admin
"""


def test_each_play_logs_in_as_its_remote_user(sandbox, tmp_path):
    write(tmp_path, {"site.yaml": PLAYBOOK, "more.yaml": "- {name: imported, command: whoami, changed_when: false}\n"})
    lab = sandbox_inventory(sandbox, ["host02", "host03"])
    del lab["all"]["vars"]["ansible_user"]
    lab["all"]["children"]["lab"]["hosts"]["host03"]["ansible_user"] = "deploy"  # the inventory's word wins
    lab["all"]["vars"]["other"] = "admin"
    inventory = load_inventory(dump_inventory(tmp_path, lab))
    report = run_playbook(load_and_validate(str(tmp_path / "site.yaml"), inventory), inventory, RunOptions())
    users = {(r.host, r.task): r.output.get("stdout") for r in report.results}
    assert users[("host02", "as admin")] == "admin" and users[("host02", "as root")] == "root"
    assert users[("host03", "as admin")] == "deploy" and users[("host03", "as root")] == "deploy"
    assert [users[("host02", task)] for task in ("task as admin", "root again", "block as admin", "imported")] == \
        ["admin", "root", "admin", "admin"]
    assert {users[("host03", task)] for task in ("task as admin", "root again", "block as admin", "imported")} == \
        {"deploy"}

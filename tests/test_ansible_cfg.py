"""ansible.cfg found where Ansible finds it; its roles_path decides where roles come from, and its
connection defaults sit below the inventory's own variables."""
from __future__ import annotations

import os
import subprocess

from provision.ansible_cfg import load_config
from tests.engine.scenario import PROVISION, write

CONFIG = """\
[defaults]
roles_path = galaxy:~/.ansible/roles   ; a comment
remote_user = ops
private_key_file = keys/id_lab
host_key_checking = False
forks = 20
"""


def test_what_provision_takes_from_ansible_cfg(tmp_path):
    write(tmp_path, {"ansible.cfg": CONFIG})
    config = load_config({"HOME": "/home/x"}, cwd=str(tmp_path))
    assert config.path == str(tmp_path / "ansible.cfg")
    assert config.roles_path == [str(tmp_path / "galaxy"), os.path.expanduser("~/.ansible/roles")]
    assert (config.remote_user, config.private_key_file, config.host_key_checking) == (
        "ops", str(tmp_path / "keys" / "id_lab"), False)
    other = tmp_path / "elsewhere.cfg"
    other.write_text("[defaults]\nremote_user = root\n")
    assert load_config({"ANSIBLE_CONFIG": str(other), "ANSIBLE_ROLES_PATH": "/srv/roles"}, cwd=str(tmp_path)).roles_path \
        == ["/srv/roles"]


def test_roles_come_from_roles_path(tmp_path):
    write(tmp_path, {"inventory.yaml": "all:\n  hosts:\n    here: {ansible_connection: local}\n",
                     "site.yaml": "- hosts: all\n  roles: [lab_base]\n",
                     "galaxy/lab_base/tasks/main.yaml": "- name: from galaxy\n  debug: {msg: hi}\n"})
    listed = subprocess.run([PROVISION, "apply", "inventory.yaml", "site.yaml", "--list-tasks"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 1 and "role 'lab_base' not found" in listed.stderr
    (tmp_path / "ansible.cfg").write_text("[defaults]\nroles_path = galaxy\n")
    listed = subprocess.run([PROVISION, "apply", "inventory.yaml", "site.yaml", "--list-tasks"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "lab_base : from galaxy" in listed.stdout, listed.stderr
    (tmp_path / "ansible.cfg").write_text("[defaults]\nhost_key_checking = perhaps\n")
    refused = subprocess.run([PROVISION, "apply", "inventory.yaml", "site.yaml", "--list-tasks"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "ansible.cfg" in refused.stderr and "Traceback" not in refused.stderr

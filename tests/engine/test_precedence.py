"""Variable precedence, checked against values written by hand from Ansible's documented order.

https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_variables.html#understanding-variable-precedence
lists, lowest first: role defaults; inventory group vars; inventory group_vars/all; playbook
group_vars/all; inventory group_vars/*; playbook group_vars/*; inventory host vars; inventory
host_vars/*; playbook host_vars/*; facts; play vars; play vars_files; role vars; block vars;
task vars; ...; extra vars. Inside one level, groups are merged parents before children, then by
ansible_group_priority, then by name (ansible-core's sort_groups). A group_vars/NAME lookup uses
the first of NAME/ (a folder, files in name order), NAME.yml, NAME.yaml, NAME.json.

Each variable below is named after the two levels it is set at; its expected value is the level
that must win. The same tree is read three ways: load_inventory, `provision inventory --host`,
and a real `provision apply` on two sandbox hosts that writes what the role saw to a file.
"""
from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from provision.cli import main
from provision.inventory import load_inventory
from tests.conftest import ssh

pytestmark = pytest.mark.sandbox

INVENTORY = """\
all:
  vars:
    level: inventory-all
    inline_all_vs_gv_all: inline-all
  children:
    dc:
      vars:
        level: inventory-dc
        same_depth: dc
        priority_wins: dc
        inline_gpu_vs_gv_all: inline-dc
      children:
        rack:
          vars:
            level: inventory-rack
          children:
            gpu:
              vars:
                level: inventory-gpu
                inline_gpu_vs_gv_all: inline-gpu
                inline_gpu_vs_gv_dc: inline-gpu
                gv_vs_role_default: inline-gpu
              hosts:
                host01:
                  host_inline: inline-host01
                  inline_host_vs_hv: inline-host01
                  gv_gpu_vs_inline_host: inline-host01
                host02:
    zeta:
      vars:
        same_depth: zeta
        priority_wins: zeta
      hosts:
        host01:
    alpha:
      vars:
        ansible_group_priority: 10
        priority_wins: alpha
      hosts:
        host01:
"""

FILES = {
    # beside the inventory
    "inventory/group_vars/all.yml": """\
        inline_all_vs_gv_all: group_vars-all
        inline_gpu_vs_gv_all: group_vars-all
        gv_all_vs_gv_dc: group_vars-all
        """,
    "inventory/group_vars/dc.yaml": """\
        gv_all_vs_gv_dc: group_vars-dc
        inline_gpu_vs_gv_dc: group_vars-dc
        gv_dc_vs_gv_rack: group_vars-dc
        """,
    "inventory/group_vars/rack/10-first.yml": """\
        gv_dc_vs_gv_rack: group_vars-rack
        rack_files: first
        """,
    "inventory/group_vars/rack/20-second.yaml": """\
        rack_files: second
        """,
    "inventory/group_vars/gpu.yml": """\
        gv_gpu_vs_inline_host: group_vars-gpu
        inv_gpu_vs_pb_dc: inventory-group_vars-gpu
        pb_all_vs_inv_gpu: inventory-group_vars-gpu
        """,
    "inventory/group_vars/zeta.yml": """\
        first_found: zeta.yml
        """,
    "inventory/group_vars/zeta.yaml": """\
        first_found: zeta.yaml
        zeta_yaml_loaded: true
        """,
    "inventory/host_vars/host01.yml": """\
        inline_host_vs_hv: host_vars-host01
        hv_vs_play: host_vars-host01
        inv_hv_vs_pb_hv: inventory-host_vars
        """,
    "inventory/host_vars/host02/main.yml": """\
        host02_folder: loaded
        """,
    # beside the playbook
    "play/group_vars/all.yml": """\
        pb_all_vs_inv_gpu: playbook-group_vars-all
        """,
    "play/group_vars/dc.yml": """\
        inv_gpu_vs_pb_dc: playbook-group_vars-dc
        """,
    "play/host_vars/host01.yml": """\
        inv_hv_vs_pb_hv: playbook-host_vars
        """,
    "play/vars/main.yml": """\
        play_vs_vars_file: vars_files
        vars_file_vs_role_vars: vars_files
        """,
    "play/roles/report/defaults/main.yml": """\
        role_default_only: role-defaults
        role_default_vs_play: role-defaults
        gv_vs_role_default: role-defaults
        extra_vs_all: role-defaults
        """,
    "play/roles/report/vars/main.yml": """\
        vars_file_vs_role_vars: role-vars
        role_vars_vs_task: role-vars
        extra_vs_all: role-vars
        """,
    "play/playbook.yaml": """\
        - hosts: gpu
          gather_facts: false
          vars:
            hv_vs_play: play-vars
            play_vs_vars_file: play-vars
            role_default_vs_play: play-vars
          vars_files:
            - vars/main.yml
          roles:
            - report
        """,
}

# What the inventory alone resolves to (no playbook folder), written by hand from the order above.
INVENTORY_HOST01 = {
    "level": "inventory-gpu",  # the deepest group wins
    "inline_all_vs_gv_all": "group_vars-all",
    "inline_gpu_vs_gv_all": "group_vars-all",  # any group_vars/ file beats any inventory-file group var
    "same_depth": "zeta",  # same depth and priority: by name
    "priority_wins": "alpha",  # ansible_group_priority 10 beats the name order
    "gv_all_vs_gv_dc": "group_vars-dc",
    "inline_gpu_vs_gv_dc": "group_vars-dc",
    "gv_dc_vs_gv_rack": "group_vars-rack",
    "rack_files": "second",  # a folder's files in name order
    "gv_vs_role_default": "inline-gpu",
    "gv_gpu_vs_inline_host": "inline-host01",
    "inv_gpu_vs_pb_dc": "inventory-group_vars-gpu",
    "pb_all_vs_inv_gpu": "inventory-group_vars-gpu",
    "host_inline": "inline-host01",
    "inline_host_vs_hv": "host_vars-host01",
    "hv_vs_play": "host_vars-host01",
    "inv_hv_vs_pb_hv": "inventory-host_vars",
    "first_found": "zeta.yml",  # zeta.yml is found first: zeta.yaml is not read at all
}
INVENTORY_HOST02 = {
    "level": "inventory-gpu",
    "inline_all_vs_gv_all": "group_vars-all",
    "inline_gpu_vs_gv_all": "group_vars-all",
    "same_depth": "dc",  # host02 is not in zeta
    "priority_wins": "dc",
    "gv_dc_vs_gv_rack": "group_vars-rack",
    "rack_files": "second",
    "gv_gpu_vs_inline_host": "group_vars-gpu",
    "host02_folder": "loaded",
}
# With the playbook's folder: its group_vars/* come after every inventory group_vars/* file, its
# group_vars/all before them; its host_vars/ after the inventory's.
WITH_PLAYBOOK_HOST01 = {**INVENTORY_HOST01, "inv_gpu_vs_pb_dc": "playbook-group_vars-dc",
                        "pb_all_vs_inv_gpu": "inventory-group_vars-gpu", "inv_hv_vs_pb_hv": "playbook-host_vars"}
# What the role's task sees on host01 during `apply -e extra_vs_all=extra`.
RUN_HOST01 = {
    **WITH_PLAYBOOK_HOST01,
    "role_default_only": "role-defaults",
    "role_default_vs_play": "play-vars",
    "gv_vs_role_default": "inline-gpu",  # any inventory level beats role defaults
    "hv_vs_play": "play-vars",
    "play_vs_vars_file": "vars_files",
    "vars_file_vs_role_vars": "role-vars",
    "role_vars_vs_task": "task-vars",
    "extra_vs_all": "extra",
}
ABSENT = ("zeta_yaml_loaded",)


@pytest.fixture(scope="module")
def tree(sandbox, tmp_path_factory):
    """The files above, with host01/host02 pointing at the sandbox's hosts."""
    root = tmp_path_factory.mktemp("precedence")
    with open(sandbox.inventory_path, encoding="utf-8") as handle:
        sandbox_inventory = yaml.safe_load(handle)
    connection = sandbox_inventory["all"]["vars"]
    addresses = sandbox_inventory["all"]["children"]["sandbox"]["hosts"]
    inventory = yaml.safe_load(INVENTORY)
    inventory["all"]["vars"].update(connection)
    gpu_hosts = inventory["all"]["children"]["dc"]["children"]["rack"]["children"]["gpu"]["hosts"]
    for name in ("host01", "host02"):
        gpu_hosts[name] = {**(gpu_hosts[name] or {}), **addresses[name]}
    files = dict(FILES)
    files["inventory/inventory.yaml"] = yaml.safe_dump(inventory, sort_keys=False)
    report = ", ".join(f"'{name}': {name} | default('UNDEFINED')" for name in sorted(RUN_HOST01))
    files["play/roles/report/tasks/main.yml"] = yaml.safe_dump([{
        "name": "write what the role sees",
        "copy": {"dest": "/root/precedence.json", "content": "{{ {" + report + "} | to_json }}"},
        "vars": {"role_vars_vs_task": "task-vars", "extra_vs_all": "task-vars"},
    }], sort_keys=False, width=10000)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _subset(values: dict, expected: dict) -> dict:
    return {key: values.get(key, "MISSING") for key in expected}


def test_inventory_alone_resolves_as_ansible_does(tree):
    inventory = load_inventory(str(tree / "inventory/inventory.yaml"))
    host01, host02 = inventory.hosts["host01"].vars, inventory.hosts["host02"].vars
    assert _subset(host01, INVENTORY_HOST01) == INVENTORY_HOST01
    assert _subset(host02, INVENTORY_HOST02) == INVENTORY_HOST02
    assert not any(name in host01 for name in ABSENT)
    assert inventory.hosts["host01"].group_names == ["alpha", "dc", "gpu", "rack", "zeta"]


def test_playbook_folder_vars_come_in_ansible_order(tree):
    inventory = load_inventory(str(tree / "inventory/inventory.yaml"), str(tree / "play"))
    host01 = inventory.hosts["host01"].vars
    assert _subset(host01, WITH_PLAYBOOK_HOST01) == WITH_PLAYBOOK_HOST01


def test_inventory_command_shows_the_resolved_host(tree, capsys):
    assert main(["inventory", str(tree / "inventory/inventory.yaml"), "--host", "host01"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert _subset(shown, INVENTORY_HOST01) == INVENTORY_HOST01


def test_a_run_sees_every_level_in_ansible_order(tree, sandbox, capsys):
    code = main(["apply", str(tree / "inventory/inventory.yaml"), str(tree / "play/playbook.yaml"),
                 "-e", "extra_vs_all=extra"])
    output = capsys.readouterr()
    assert code == 0, output.out + output.err
    seen = json.loads(ssh(sandbox, "host01", "cat /root/precedence.json").stdout)
    assert seen == RUN_HOST01
    seen02 = json.loads(ssh(sandbox, "host02", "cat /root/precedence.json").stdout)
    assert seen02["same_depth"] == "dc" and seen02["role_default_only"] == "role-defaults"
    assert seen02["inv_hv_vs_pb_hv"] == "UNDEFINED"  # host01's host_vars never reach host02
    for host in ("host01", "host02"):
        ssh(sandbox, host, "rm -f /root/precedence.json")

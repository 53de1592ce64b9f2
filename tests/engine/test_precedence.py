"""Variable precedence, level by level, against provision.variables.PRECEDENCE (the one list the
runner iterates and the README prints) and Ansible's documented order:
https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_variables.html#understanding-variable-precedence

Pure lane: in-process runs on an `ansible_connection: local` host. For each pair of neighbouring
levels a variable named after the pair is set at both, and the run shows the higher one; then the
order inside a level (blocks, includes, roles) and the places provision departs from Ansible on
purpose (include and role parameters are block vars here). The README's list is compared with the
one generated from PRECEDENCE.

Sandbox lane: the inventory level's inside. Ansible lists, lowest first: inventory group vars;
inventory group_vars/all; playbook group_vars/all; inventory group_vars/*; playbook group_vars/*;
inventory host vars; inventory host_vars/*; playbook host_vars/*. Inside one level, groups are
merged parents before children, then by ansible_group_priority, then by name (ansible-core's
sort_groups). A group_vars/NAME lookup uses the first of NAME/ (a folder, files in name order),
NAME.yml, NAME.yaml, NAME.json. Each variable below is named after the two levels it is set at;
its expected value is the level that must win. The same tree is read three ways: load_inventory,
`provision inventory --host`, and a real `provision apply` on two sandbox hosts that writes what
the role saw to a file.
"""
from __future__ import annotations

import json
import os
import platform
import re
import textwrap

import pytest
import yaml

from provision.cli import main
from provision.inventory import load_inventory
from provision.playbook.validate import load_and_validate
from provision.runner import Collect, RunOptions, run_playbook
from provision.variables import ANSIBLE_ONLY, ANSIBLE_PRECEDENCE, PRECEDENCE, precedence_markdown
from tests.conftest import ssh
from tests.engine.scenario import write

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")
README_HEADING = "### Variable precedence (lowest first)"


# ---- the list itself ------------------------------------------------------------------------------

def test_the_readme_prints_the_list_the_runner_iterates():
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    assert README_HEADING in text, f"README.md has no section {README_HEADING!r}"
    section = text.split(README_HEADING, 1)[1].split("\n#", 1)[0]
    printed = [line for line in section.splitlines() if re.match(r"^(\d+\. |   )", line)]
    assert "\n".join(printed) + "\n" == precedence_markdown(), \
        "README.md's precedence list differs from provision.variables.PRECEDENCE: paste precedence_markdown()"


def test_the_list_keeps_ansibles_order_except_where_it_says_why():
    position = {name: index for index, name in enumerate(ANSIBLE_PRECEDENCE)}
    covered = [name for level in PRECEDENCE for name in level.ansible]
    assert sorted(covered + list(ANSIBLE_ONLY), key=position.__getitem__) == list(ANSIBLE_PRECEDENCE)
    same_as_ansible = [position[name] for level in PRECEDENCE if not level.unlike_ansible for name in level.ansible]
    assert same_as_ansible == sorted(same_as_ansible)
    assert [level.name for level in PRECEDENCE if level.unlike_ansible] == ["role params", "block and include vars"]


# ---- neighbours, on a real run --------------------------------------------------------------------

# (lower level, higher level) -> the variable set at both, and the value the run must show.
NEIGHBOURS = {
    ("role defaults", "inventory"): ("defaults_vs_inventory", "inventory"),
    ("inventory", "facts"): ("ansible_system", platform.system()),  # the gathered fact wins
    ("facts", "play vars"): ("ansible_architecture", "play vars"),
    ("play vars", "play vars_files"): ("play_vs_vars_files", "play vars_files"),
    ("play vars_files", "role vars"): ("vars_files_vs_role_vars", "role vars"),
    ("role vars", "role params"): ("role_vars_vs_params", "role params"),
    ("role params", "block and include vars"): ("params_vs_block", "block vars"),
    ("block and include vars", "task vars"): ("block_vs_task", "task vars"),
    ("task vars", "set_fact and registered"): ("task_vs_set_fact", "set_fact"),
    ("set_fact and registered", "extra vars"): ("set_fact_vs_extra", "extra vars"),
}
REPORT = "{{ {" + ", ".join(f"'{name}': {name}" for name, _ in NEIGHBOURS.values()) + "} | to_json }}"
LEVELS = {
    "inventory.yaml": """\
        all:
          hosts:
            here:
              ansible_connection: local
              defaults_vs_inventory: inventory
              ansible_system: inventory
        """,
    "site.yaml": """\
        - hosts: all
          vars:
            ansible_architecture: play vars
            play_vs_vars_files: play vars
          vars_files: [vars.yml]
          roles:
            - role: probe
              role_vars_vs_params: role params
              params_vs_block: role params
        """,
    "vars.yml": """\
        play_vs_vars_files: play vars_files
        vars_files_vs_role_vars: play vars_files
        """,
    "roles/probe/defaults/main.yml": "defaults_vs_inventory: role defaults\n",
    "roles/probe/vars/main.yml": """\
        vars_files_vs_role_vars: role vars
        role_vars_vs_params: role vars
        """,
    "roles/probe/tasks/main.yml": """\
        - set_fact:
            task_vs_set_fact: set_fact
            set_fact_vs_extra: set_fact
        - block:
            - name: report
              debug:
                msg: "REPORT"
              vars:
                block_vs_task: task vars
                task_vs_set_fact: task vars
          vars:
            params_vs_block: block vars
            block_vs_task: block vars
        """.replace("REPORT", REPORT.replace('"', '\\"')),
}


def run_local(base, files: dict[str, str], extra_vars: dict | None = None) -> dict[str, list]:
    """Run site.yaml in-process against inventory.yaml; task name -> the debug messages it gave."""
    write(base, files)
    inventory = load_inventory(str(base / "inventory.yaml"))
    events = Collect()
    report = run_playbook(load_and_validate(str(base / "site.yaml"), inventory), inventory,
                          RunOptions(extra_vars=extra_vars or {}), events)
    failed = [f"{row.task}: {row.msg}" for row in report.results if row.status == "failed"]
    assert not failed, failed
    shown: dict[str, list] = {}
    for row in events.results:
        if "msg" in row.output:
            message = row.output["msg"]
            shown.setdefault(row.task.split(" : ")[-1], []).append(
                json.loads(message) if isinstance(message, str) and message.startswith("{") else message)
    return shown


@pytest.fixture(scope="module")
def neighbours_seen(tmp_path_factory):
    return run_local(tmp_path_factory.mktemp("levels"), LEVELS, {"set_fact_vs_extra": "extra vars"})["report"][0]


def test_every_pair_of_neighbours_is_checked():
    assert list(NEIGHBOURS) == [(lower.name, higher.name) for lower, higher in zip(PRECEDENCE, PRECEDENCE[1:])]


@pytest.mark.parametrize("pair", list(NEIGHBOURS), ids=[f"{lower} < {higher}" for lower, higher in NEIGHBOURS])
def test_the_higher_of_two_neighbours_wins(neighbours_seen, pair):
    name, expected = NEIGHBOURS[pair]
    assert neighbours_seen[name] == expected


# ---- inside a level, and where provision departs from Ansible -------------------------------------

def test_inner_blocks_and_includes_win_over_outer_ones_and_task_vars_over_all(tmp_path):
    seen = run_local(tmp_path, {
        "inventory.yaml": LEVELS["inventory.yaml"],
        "site.yaml": """\
            - hosts: all
              gather_facts: false
              tasks:
                - block:
                    - block:
                        - {name: inner block, debug: {msg: "{{ where }}"}}
                        - include_tasks: shown.yml
                          vars: {where: include_tasks}
                        - import_tasks: shown.yml
                          vars: {where: import_tasks}
                        - include_role: {name: shown}
                          vars: {where: include_role}
                        - import_role: {name: shown}
                          vars: {where: import_role}
                        - {name: task vars, debug: {msg: "{{ where }}"}, vars: {where: task vars}}
                      vars: {where: inner block}
                  vars: {where: outer block}
            """,
        "shown.yml": "- {name: included, debug: {msg: \"{{ where }}\"}}\n",
        "roles/shown/tasks/main.yml": "- {name: included, debug: {msg: \"{{ where }}\"}}\n",
    })
    assert seen["inner block"] == ["inner block"]
    assert seen["included"] == ["include_tasks", "import_tasks", "include_role", "import_role"]
    assert seen["task vars"] == ["task vars"]


def test_include_parameters_are_block_vars_so_task_vars_and_set_fact_override_them(tmp_path):
    """Unlike Ansible, where an include's vars beat the included task's own vars and set_fact."""
    seen = run_local(tmp_path, {
        "inventory.yaml": LEVELS["inventory.yaml"],
        "site.yaml": """\
            - hosts: all
              gather_facts: false
              tasks:
                - include_tasks: inside.yml
                  vars: {where: include}
            """,
        "inside.yml": """\
            - {name: own vars, debug: {msg: "{{ where }}"}, vars: {where: task vars}}
            - set_fact: {where: set_fact}
            - {name: after set_fact, debug: {msg: "{{ where }}"}}
            """,
    })
    assert seen["own vars"] == ["task vars"]
    assert seen["after set_fact"] == ["set_fact"]


def test_role_parameters_are_below_block_vars_and_set_fact(tmp_path):
    """Unlike Ansible, where role params beat set_fact (and everything but include params and -e)."""
    seen = run_local(tmp_path, {
        "inventory.yaml": LEVELS["inventory.yaml"],
        "site.yaml": """\
            - hosts: all
              gather_facts: false
              roles:
                - {role: probe, where: role params}
            """,
        "roles/probe/tasks/main.yml": """\
            - {name: params, debug: {msg: "{{ where }}"}}
            - block:
                - {name: block, debug: {msg: "{{ where }}"}}
              vars: {where: block vars}
            - set_fact: {where: set_fact}
            - {name: after set_fact, debug: {msg: "{{ where }}"}}
            """,
    })
    assert (seen["params"], seen["block"], seen["after set_fact"]) == (["role params"], ["block vars"], ["set_fact"])


def test_a_tasks_own_role_wins_over_the_other_roles_of_the_play(tmp_path):
    """Every role's defaults and vars are visible to the play (Ansible's private_role_vars = false);
    a task's own role's come last, so they win inside the role."""
    seen = run_local(tmp_path, {
        "inventory.yaml": LEVELS["inventory.yaml"],
        "site.yaml": """\
            - hosts: all
              gather_facts: false
              roles: [first, second]
              tasks:
                - {name: play task, debug: {msg: "{{ default_of }} {{ vars_of }}"}}
            """,
        "roles/first/defaults/main.yml": "default_of: first\n",
        "roles/first/vars/main.yml": "vars_of: first\n",
        "roles/first/tasks/main.yml": "- {name: in first, debug: {msg: \"{{ default_of }} {{ vars_of }}\"}}\n",
        "roles/second/defaults/main.yml": "default_of: second\n",
        "roles/second/vars/main.yml": "vars_of: second\n",
        "roles/second/tasks/main.yml": "- {name: in second, debug: {msg: \"{{ default_of }} {{ vars_of }}\"}}\n",
    })
    assert (seen["in first"], seen["in second"], seen["play task"]) == (["first first"], ["second second"],
                                                                       ["second second"])


def test_registered_results_sit_with_set_fact_and_magic_variables_beat_extra_vars(tmp_path):
    seen = run_local(tmp_path, {
        "inventory.yaml": LEVELS["inventory.yaml"],
        "site.yaml": """\
            - hosts: all
              gather_facts: false
              tasks:
                - {debug: {msg: registered}, register: result}
                - {name: registered, debug: {msg: "{{ result.msg }}"}, vars: {result: {msg: task vars}}}
                - {name: magic, debug: {msg: "{{ inventory_hostname }}"}}
            """,
    }, extra_vars={"inventory_hostname": "extra vars"})
    assert (seen["registered"], seen["magic"]) == (["registered"], ["here"])


# ---- the inventory level, on sandbox hosts ------------------------------------------------------

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

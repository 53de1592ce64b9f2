"""INI inventories read as Ansible reads them: the same groups, hosts and variables as the YAML
inventory written for the same lab, with Ansible's typing rules for INI values."""
from __future__ import annotations

from provision.inventory import host_view, load_inventory

INI = """\
# the lab
bastion ansible_host=192.0.2.5

[gpu]
gpu[01:03] ansible_user=admin gpu_count=8
gpu04 ansible_host=10.0.0.14 ansible_port=2222 gpus="[0, 1]" label='rack 4' # four

[cpu]
cpu01

[lab:children]
gpu
cpu

[lab:vars]
cuda_version=12.4
flag=FALSE

[all:vars]
ansible_become=true
"""

YAML = """\
all:
  vars: {ansible_become: "true"}
  hosts:
    bastion: {ansible_host: 192.0.2.5}
  children:
    lab:
      vars: {cuda_version: "12.4", flag: "FALSE"}
      children:
        gpu:
          hosts:
            gpu[01:03]: {ansible_user: admin, gpu_count: 8}
            gpu04: {ansible_host: 10.0.0.14, ansible_port: 2222, gpus: [0, 1], label: rack 4}
        cpu:
          hosts:
            cpu01:
"""


def test_ini_and_yaml_inventories_of_one_lab_are_the_same(tmp_path):
    (tmp_path / "lab.ini").write_text(INI)
    (tmp_path / "lab.yaml").write_text(YAML)
    ini, yaml = load_inventory(str(tmp_path / "lab.ini")), load_inventory(str(tmp_path / "lab.yaml"))
    assert sorted(ini.hosts) == sorted(yaml.hosts) == ["bastion", "cpu01", "gpu01", "gpu02", "gpu03", "gpu04"]
    for name in ini.hosts:
        assert host_view(ini, name) == host_view(yaml, name), name
    assert sorted(ini.groups["lab"].children) == ["cpu", "gpu"] and ini.groups["ungrouped"].hosts == ["bastion"]
    gpu04 = host_view(ini, "gpu04")
    # host-line values are Python literals where they read as one; :vars values stay strings
    assert gpu04["ansible_port"] == 2222 and gpu04["gpus"] == [0, 1] and gpu04["label"] == "rack 4"
    assert gpu04["flag"] == "FALSE" and gpu04["cuda_version"] == "12.4"

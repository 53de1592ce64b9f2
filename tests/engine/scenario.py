"""Builds throwaway inventories and playbooks for engine tests around the session sandbox."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap

import yaml

PROVISION = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         ".venv", "bin", "provision")


def write(base, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(str(base), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text).lstrip("\n"))


def sandbox_inventory(sandbox, hosts: list[str], group: str = "lab", extra_hosts: dict | None = None,
                      known_hosts: bool = True) -> dict:
    """An inventory for some sandbox hosts (plus made-up ones), in Ansible's YAML format."""
    variables = {"ansible_user": "root", "ansible_ssh_private_key_file": sandbox.key_path}
    if known_hosts:
        variables["provision_known_hosts_file"] = sandbox.known_hosts_path
    members = {name: {"ansible_host": sandbox.host(name).address} for name in hosts}
    members.update(extra_hosts or {})
    return {"all": {"vars": variables, "children": {group: {"hosts": members}}}}


def dump_inventory(base, inventory: dict, name: str = "inventory.yaml") -> str:
    path = os.path.join(str(base), name)
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    return path


def provision(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `provision` command, as a user would."""
    return subprocess.run([PROVISION, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})


def read_report(path) -> dict:
    with open(path) as handle:
        return json.load(handle)

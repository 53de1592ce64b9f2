"""One size of the benchmark's fleet: a `python` sandbox, the work folder every tool runs in, and
what is read on the hosts' side (their sshd logs).

The work folder holds the workload (drift20.yaml, its template, pyinfra's deploy.py) and the
connection files, all with the same strict host-key policy: an Ansible YAML inventory read by
ansible-playbook and provision alike (`ansible_ssh_common_args` names the sandbox's known_hosts,
StrictHostKeyChecking=yes), pyinfra's inventory.py with the same file (`ssh_known_hosts_file`,
`ssh_strict_host_key_checking`), and an ansible.cfg (forks=N, pipelining, ControlPersist).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import yaml

from bench.check_scale import BenchFailed, host_names

WORKLOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload")
TAMPERED_FILE, TAMPERED_TASK = "/etc/drift20/file3.conf", "file 3"  # what the correctness gate changes
SSHD_LOG = "var/log/sshd.log"  # on each host, written by the python kind's sshd at LogLevel VERBOSE
SESSION = re.compile(rb"^Starting session: ", re.MULTILINE)       # one per exec channel (or sftp)
CONNECTION = re.compile(rb"^Accepted publickey for ", re.MULTILINE)  # one per SSH connection

ANSIBLE_CFG = """\
# written by bench/drift20: Ansible tuned as its documentation advises for speed
[defaults]
forks = {forks}
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
nocolor = True

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
"""


@dataclass
class Fleet:
    """A started sandbox and the work folder its tools run in."""
    name: str
    sandbox_dir: str   # /var/lib/provision/sandboxes/<name>
    work: str          # a temporary folder: the workload and the connection files
    hosts: list[str]

    @property
    def inventory(self) -> str:
        return os.path.join(self.work, "inventory.yaml")

    @property
    def ssh_config(self) -> str:
        return os.path.join(self.sandbox_dir, "ssh_config")

    def prepare(self) -> None:
        """Copy the workload into the work folder and write every tool's connection files."""
        shutil.copytree(WORKLOAD, self.work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        with open(os.path.join(self.sandbox_dir, "inventory.yaml")) as handle:
            sandbox = yaml.safe_load(handle)["all"]
        key = sandbox["vars"]["ansible_ssh_private_key_file"]
        known_hosts = os.path.join(self.sandbox_dir, "known_hosts")
        addresses = {name: entry["ansible_host"] for name, entry in sandbox["children"]["sandbox"]["hosts"].items()}
        inventory = {"all": {
            "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": key,
                     "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"},
            "hosts": {name: {"ansible_host": addresses[name]} for name in self.hosts}}}
        with open(self.inventory, "w") as handle:
            handle.write("# written by bench/drift20: read by ansible-playbook and provision alike\n")
            yaml.safe_dump(inventory, handle, sort_keys=False, width=1000)
        host_data = {"ssh_user": "root", "ssh_key": key, "ssh_known_hosts_file": known_hosts,
                     "ssh_strict_host_key_checking": "yes"}
        with open(os.path.join(self.work, "pyinfra_inventory.py"), "w") as handle:
            handle.write("# written by bench/drift20: pyinfra's inventory of the same hosts, same host-key policy\n"
                         f"HOST_DATA = {host_data!r}\n"
                         "drift20 = [\n" + "".join(f"    ({name!r}, {{'ssh_hostname': {addresses[name]!r}, **HOST_DATA}}),\n"
                                                   for name in self.hosts) + "]\n")
        with open(os.path.join(self.work, "ansible.cfg"), "w") as handle:
            handle.write(ANSIBLE_CFG.format(forks=len(self.hosts)))

    def ssh(self, host: str, command: str) -> None:
        result = subprocess.run(["ssh", "-F", self.ssh_config, "-o", "BatchMode=yes", host, command],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchFailed(f"`{command}` on {host} exited {result.returncode}: {result.stderr.strip()}")

    def gate_hosts(self) -> list[str]:
        """Every 10th host, the first among them: at least one."""
        return self.hosts[::10]

    def tamper(self) -> list[str]:
        """Change the gate's managed file on every 10th host; those hosts."""
        victims = self.gate_hosts()
        for host in victims:
            self.ssh(host, f"echo 'changed by hand' >> {TAMPERED_FILE}")
        return victims

    def sshd_counts(self) -> dict[str, tuple[int, int]]:
        """(exec channels, connections) each host's sshd has logged so far, read from the host's disk
        on this machine (its overlay's upper folder), so reading them costs no SSH session."""
        counts = {}
        for host in self.hosts:
            path = os.path.join(self.sandbox_dir, "hosts", host, "upper", SSHD_LOG)
            try:
                with open(path, "rb") as handle:
                    text = handle.read()
            except FileNotFoundError:
                text = b""
            counts[host] = (len(SESSION.findall(text)), len(CONNECTION.findall(text)))
        return counts


def open_fleet(name: str, sandbox_dir: str, work: str) -> Fleet:
    fleet = Fleet(name, sandbox_dir, work, host_names(os.path.join(sandbox_dir, "inventory.yaml")))
    fleet.prepare()
    if not os.path.exists(os.path.join(sandbox_dir, "hosts", fleet.hosts[0], "upper", SSHD_LOG)):
        fleet.ssh(fleet.hosts[0], "true")  # the log appears with the first session
    if not os.path.exists(os.path.join(sandbox_dir, "hosts", fleet.hosts[0], "upper", SSHD_LOG)):
        raise BenchFailed(f"no {SSHD_LOG} on {fleet.hosts[0]}: not a `python` sandbox host? (exec channels "
                          "are counted from it)")
    return fleet

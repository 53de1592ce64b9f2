"""The same playbook run by ansible-core and by provision on twin hosts, their end states compared.

ansible-playbook (ansible-core 2.19.14, installed from PyPI by ./bootstrap into .cache/) runs
differential/site.yaml on one `python` sandbox host; `provision apply` runs the same files, unchanged,
on its twin. Both inventories call their host "twin", so a template sees the same inventory name.
Then the same read-only shell script lists on each host what the playbook manages: every path with
its type, mode, owner, group, link target and hard-link count, every file's sha256, the users and
group, and the test packages with their versions, states and auto marks. The two listings must be
equal line for line, and each task must have changed (or not) on both alike, in a first run and in
a second (which must change nothing for either tool). Ansible is the reference: where they differ,
provision is wrong, unless the README says the difference is on purpose.

The apt repository is a tiny one of this test (tests/support/aptrepo.py) on the sandbox's gateway:
no traffic leaves this machine.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile

import pytest
import yaml

from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import PROVISION, read_report
from tests.support.aptrepo import AptRepo

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOK_DIR = os.path.join(HERE, "differential")
ANSIBLE_VENV = os.path.join(ROOT, ".cache", "ansible-core-2.19.14-venv")
ANSIBLE_PLAYBOOK = os.path.join(ANSIBLE_VENV, "bin", "ansible-playbook")

pytestmark = pytest.mark.sandbox

# What the playbook manages, listed the same way on both hosts. Read-only.
MANIFEST = r"""
set -u
for path in /srv/differential /etc/differential-hosts /home/diffsvc /etc/apt/sources.list.d/differential.list; do
  [ -e "$path" ] || { echo "missing $path"; continue; }
  find "$path" -printf '%p %y %m %u %g links=%n -> %l\n'
done | sort
find /srv/differential /etc/differential-hosts /home/diffsvc /etc/apt/sources.list.d/differential.list \
  -type f -exec sha256sum {} + | sort -k2
getent passwd diffsvc diffsys | sed 's/^\(diffsys:x:\)[0-9]*:[0-9]*:/\1SYSTEM-IDS:/'
getent group diffgrp
dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' 'diff-*' 2>/dev/null | sort
apt-mark showauto 2>/dev/null | grep '^diff-' | sed 's/^/auto /'
"""


def tarball() -> bytes:
    """tool.tar.gz: an executable and a README in a folder, root-owned, fixed times."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for name, mode, text in (("tool/", 0o755, None), ("tool/run.sh", 0o755, "#!/bin/sh\necho tool\n"),
                                 ("tool/README", 0o644, "the differential tool\n")):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mode, info.mtime, info.uname, info.gname = mode, 1_700_000_000, "root", "root"
            if text is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                payload = text.encode()
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    return data.getvalue()


@pytest.fixture(scope="module")
def twins():
    if not os.access(ANSIBLE_PLAYBOOK, os.X_OK):
        pytest.fail(f"{ANSIBLE_PLAYBOOK} is missing: ./bootstrap installs ansible-core 2.19.14 there")
    with throwaway_sandbox("dif", hosts=2, kind="python") as fleet, AptRepo(fleet.gateway) as repo:
        repo.add("diff-alpha", "1.2-1")
        repo.add("diff-beta", "2.0-1", depends="diff-lib (>= 1.0)")
        repo.add("diff-lib", "1.1-1")
        repo.add("diff-gamma", "1.0")
        repo.add("diff-gamma", "2.0")
        repo.add("diff-unwanted", "0.1")
        tool = tarball()
        repo.add_file("files/tool.tar.gz", tool)
        repo.publish()
        for host in ("host01", "host02"):  # only the test's repository: no index update reaches for the internet
            ssh(fleet, host, "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*")
        variables = {"diff_repo_url": repo.url, "diff_tool_sha256": hashlib.sha256(tool).hexdigest()}
        yield fleet, variables


def inventory(fleet, host: str, variables: dict, folder) -> str:
    """A one-host inventory naming the host "twin", for ansible-playbook and provision alike."""
    common = {"ansible_user": "root", "ansible_ssh_private_key_file": fleet.key_path,
              "ansible_python_interpreter": "/usr/bin/python3",
              "ansible_ssh_common_args": f"-o UserKnownHostsFile={fleet.known_hosts_path} -o StrictHostKeyChecking=yes",
              **variables}
    data = {"all": {"vars": common, "children": {"twins": {"hosts": {"twin": {"ansible_host": fleet.host(host).address}}}}}}
    path = os.path.join(str(folder), f"inventory-{host}.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


def start_ansible(inventory_path: str, home) -> subprocess.Popen:
    config = home / "ansible.cfg"  # none of the machine's (/etc/ansible, ~/.ansible.cfg): Ansible's defaults
    config.write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_HOST_KEY_CHECKING": "1",
           "ANSIBLE_PIPELINING": "1", "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_CONFIG": str(config)}
    return subprocess.Popen([ANSIBLE_PLAYBOOK, "-i", inventory_path, "site.yaml"], cwd=PLAYBOOK_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=900)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def ansible_statuses(output: str) -> dict[str, str]:
    """{task name: changed|ok|skipped|failed} from the default callback's lines."""
    statuses: dict[str, str] = {}
    task = None
    for line in output.splitlines():
        header = re.match(r"TASK \[(.*)\] \*", line)
        if header:
            task = header.group(1)
            continue
        status = re.match(r"(changed|ok|skipping|failed|fatal): \[twin\]", line)
        if task and status:
            word = {"skipping": "skipped", "fatal": "failed"}.get(status.group(1), status.group(1))
            statuses[task] = merge(statuses.get(task), word)
    statuses.pop("Gathering Facts", None)
    return statuses


def merge(before: str | None, now: str) -> str:
    """A looped task's status over its items: failed > changed > ok > skipped, as Ansible sums them."""
    order = ["skipped", "ok", "changed", "failed"]
    return now if before is None else max(before, now, key=order.index)


def start_provision(inventory_path: str, report) -> subprocess.Popen:
    return subprocess.Popen([PROVISION, "apply", inventory_path, "site.yaml", "--report-json", str(report)],
                            cwd=PLAYBOOK_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


def provision_statuses(report) -> dict[str, str]:
    statuses: dict[str, str] = {}
    if os.path.exists(report):
        for entry in read_report(report)["results"]:
            if entry["task"] != "Gathering Facts":
                statuses[entry["task"]] = merge(statuses.get(entry["task"]), entry["status"])
    return statuses


def manifest(fleet, host: str) -> list[str]:
    return ssh(fleet, host, MANIFEST).stdout.splitlines()


@pytest.fixture(scope="module")
def runs(twins, tmp_path_factory):
    fleet, variables = twins
    folder = tmp_path_factory.mktemp("differential")
    (folder / "ansible-home" / "tmp").mkdir(parents=True)
    ansible_inventory = inventory(fleet, "host01", variables, folder)
    provision_inventory = inventory(fleet, "host02", variables, folder)
    done = {}
    for round_number in (1, 2):  # both tools at once, each on its own host
        report = folder / f"report-{round_number}.json"
        ansible = start_ansible(ansible_inventory, folder / "ansible-home")
        ours = start_provision(provision_inventory, report)
        by_ansible, by_provision = finish(ansible), finish(ours)
        done[("ansible", round_number)] = by_ansible, ansible_statuses(by_ansible.stdout)
        done[("provision", round_number)] = by_provision, provision_statuses(report)
    return fleet, done


def test_ansible_itself_ran_the_playbook(runs):
    """The reference run: if Ansible fails here, the fixture or the playbook is wrong, not provision."""
    _, done = runs
    result, statuses = done[("ansible", 1)]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert statuses and "failed" not in statuses.values(), statuses


def test_both_leave_the_same_files_users_and_packages(runs):
    fleet, done = runs
    assert done[("provision", 1)][0].returncode == 0, done[("provision", 1)][0].stdout[-4000:]
    by_ansible, by_provision = manifest(fleet, "host01"), manifest(fleet, "host02")
    assert any(line.startswith("diff-gamma 1.0 ii") for line in by_ansible), by_ansible  # the listing is not empty
    assert any("/srv/differential/bin/tool/run.sh f 755" in line for line in by_ansible), by_ansible
    differences = [f"ansible : {a}\nprovision: {p}" for a, p in zip(by_ansible, by_provision) if a != p]
    assert by_ansible == by_provision, "\n".join(differences) or (
        f"{len(by_ansible)} lines from Ansible's host, {len(by_provision)} from provision's:\n"
        + "\n".join(sorted(set(by_ansible) ^ set(by_provision))))


@pytest.mark.parametrize("round_number", [1, 2])
def test_each_task_changes_alike(runs, round_number):
    _, done = runs
    ansible, provision = done[("ansible", round_number)][1], done[("provision", round_number)][1]
    assert set(ansible) == set(provision), sorted(set(ansible) ^ set(provision))
    differences = {task: (ansible[task], provision[task]) for task in ansible if ansible[task] != provision[task]}
    assert not differences, differences  # {task: (Ansible's status, provision's)}
    if round_number == 2:
        assert "changed" not in provision.values(), provision

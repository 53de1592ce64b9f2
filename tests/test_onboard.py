"""`provision onboard` end to end on a docker sandbox host that accepts only a root password:
a wrong fingerprint changes nothing; the right one installs the key, records the host key, adds
the host to a commented inventory (comments kept), applies the site playbook and verifies; a
second run has nothing to do."""
from __future__ import annotations

import base64
import os
import re
import sqlite3
import subprocess

import paramiko
import pytest
import yaml

from provision.errors import HostKeyRejected
from provision.onboard.steps import Target, record_host_key, trust_host_key
from provision.onboard.inventory import add_host_text, guess_indent
from provision.transport.ssh import fingerprint
from tests.conftest import ssh, throwaway_sandbox
from tests.engine.scenario import PROVISION

SITE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "playbooks", "site.yaml")
PASSWORD = "onboard-me-1"
HOST = "host01"

# The shell run on the host (as root, before the test) to make it take only a password for root.
PASSWORD_ONLY = f"""
set -e
printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/00-onboard-test.conf
echo 'root:{PASSWORD}' | chpasswd
rm -f /root/.ssh/authorized_keys
kill -HUP "$(cat /run/sshd.pid)"  # the listener (sshd -D still writes its PID file)
"""

INVENTORY = """\
# The lab: GPU servers, onboarded with `provision onboard`.
# Keep this header: the onboarding must not lose comments.
all:
  vars:
    ansible_user: root          # root logs in; the site playbook uses sudo anyway
    ansible_ssh_private_key_file: {key}
    provision_known_hosts_file: {known_hosts}
  children:
    # H100 servers (stand-ins here), rack A
    gpu:
      vars:
{gpu_vars}
      hosts:   # onboarded hosts go here
"""


@pytest.fixture(scope="module")
def fleet():
    with throwaway_sandbox("xo", hosts=1, kind="docker") as sandbox:
        ssh(sandbox, HOST, PASSWORD_ONLY)
        yield sandbox


@pytest.fixture(scope="module")
def lab(fleet, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    with open(fleet.inventory_path) as handle:
        gpu_vars = yaml.safe_load(handle)["all"]["children"]["gpu"]["vars"]
    known_hosts = folder / "known_hosts"
    known_hosts.write_text("")
    text = INVENTORY.format(key=fleet.key_path, known_hosts=known_hosts, gpu_vars="\n".join(
        "        " + line for line in yaml.safe_dump(gpu_vars, sort_keys=False).splitlines()))
    (folder / "lab.yaml").write_text(text)
    return folder


def onboard(fleet, lab, *extra: str) -> subprocess.CompletedProcess:
    """The real command, as automation runs it: no terminal, the password in an environment variable."""
    return _run("onboard", HOST, "--inventory", str(lab / "lab.yaml"), "--group", "gpu",
                "--address", fleet.host(HOST).address, "--user", "root", "--password-env", "ONBOARD_TEST_PASSWORD",
                "--state-db", str(lab / "history.sqlite"), "--playbook", SITE, *extra)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROVISION, *args], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "200", "ONBOARD_TEST_PASSWORD": PASSWORD})


def host_fingerprint(fleet) -> str:
    address = fleet.host(HOST).address
    with open(fleet.known_hosts_path) as handle:
        for line in handle:
            name, kind, data = line.split()[:3]
            if name == address:
                return fingerprint(paramiko.PKey.from_type_string(kind, base64.b64decode(data)))
    raise AssertionError(f"{address} not in {fleet.known_hosts_path}")


def root_authorized_keys(fleet) -> str:
    return ssh(fleet, HOST, "sudo cat /root/.ssh/authorized_keys 2>/dev/null || true", user="admin").stdout


@pytest.mark.sandbox
def test_wrong_fingerprint_is_refused_and_nothing_changes(fleet, lab):
    before = ((lab / "lab.yaml").read_bytes(), (lab / "known_hosts").read_bytes(), root_authorized_keys(fleet))
    wrong = "SHA256:" + base64.b64encode(b"\x01" * 32).decode().rstrip("=")
    run = onboard(fleet, lab, "--host-key-fingerprint", wrong)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"not the expected {wrong}" in run.stderr and "nothing was changed" in run.stderr
    after = ((lab / "lab.yaml").read_bytes(), (lab / "known_hosts").read_bytes(), root_authorized_keys(fleet))
    assert after == before
    assert before[2] == "", "the host takes only a password: no key for root yet"


@pytest.mark.sandbox
def test_unattended_run_without_fingerprint_is_refused(fleet, lab):
    run = onboard(fleet, lab)
    assert run.returncode == 1
    assert f"--host-key-fingerprint {host_fingerprint(fleet)}" in run.stderr, run.stderr
    assert (lab / "known_hosts").read_text() == ""


@pytest.fixture(scope="module")
def onboarded(fleet, lab):
    original = (lab / "lab.yaml").read_text()
    run = onboard(fleet, lab, "--host-key-fingerprint", host_fingerprint(fleet))
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-3000:]
    return original, run


@pytest.mark.sandbox
def test_password_only_host_is_onboarded_end_to_end(fleet, lab, onboarded):
    original, run = onboarded
    print(run.stdout)  # shown when an assertion below fails
    with open(fleet.key_path + ".pub") as handle:
        public_key = handle.read().split()[1]
    assert public_key in root_authorized_keys(fleet), "the inventory's key was installed for root"
    recorded = (lab / "known_hosts").read_text().split()
    assert recorded[0] == fleet.host(HOST).address and fingerprint(
        paramiko.PKey.from_type_string(recorded[1], base64.b64decode(recorded[2]))) == host_fingerprint(fleet)
    text = (lab / "lab.yaml").read_text()
    lines = iter(text.splitlines())
    assert all(line in lines for line in original.splitlines()), "every original line kept, in order:\n" + text
    groups = yaml.safe_load(text)["all"]["children"]
    assert groups["gpu"]["hosts"] == {HOST: {"ansible_host": fleet.host(HOST).address, "ansible_user": "root"}}
    assert "preflight" in run.stdout and "8 x H100" in run.stdout and "reboot        will be needed" in run.stdout
    assert ssh(fleet, HOST, "nvidia-smi -L | wc -l", user="admin").stdout.strip() == "8", "driver loaded"
    assert "verify: " in run.stdout and "check(s) passed" in run.stdout
    assert "nvidia-container-toolkit 1.18.0-1" in run.stdout
    assert f"provision check {lab / 'lab.yaml'} {SITE} --limit gpu" in run.stdout
    with sqlite3.connect(lab / "history.sqlite") as database:
        commands = [row[0] for row in database.execute("SELECT command FROM runs ORDER BY id")]
    assert commands == ["apply", "verify"]


@pytest.mark.sandbox
def test_second_run_has_nothing_to_do(fleet, lab, onboarded):
    before = (lab / "lab.yaml").read_bytes(), (lab / "known_hosts").read_bytes()
    run = onboard(fleet, lab, "--host-key-fingerprint", host_fingerprint(fleet))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "already onboarded: nothing to do" in run.stdout
    # and it says what it re-checked to know that
    assert re.search(r"re-checked: the site playbook converged \(\d+ task\(s\) ok, 0 changed\); "
                     r"verify: [1-9]\d* check\(s\) passed\)", run.stdout), run.stdout[-2000:]
    assert ((lab / "lab.yaml").read_bytes(), (lab / "known_hosts").read_bytes()) == before
    assert root_authorized_keys(fleet).count("ssh-ed25519") == 1, "the key is not added twice"


@pytest.mark.sandbox
def test_dry_run_shows_the_host_and_changes_nothing(fleet, lab, onboarded):
    before = (lab / "lab.yaml").read_bytes()
    run = onboard(fleet, lab, "--dry-run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "driver now    580." in run.stdout and "reboot        not needed" in run.stdout
    assert "dry run: stopping here" in run.stdout and "PLAY [" not in run.stdout
    assert (lab / "lab.yaml").read_bytes() == before


# ---- the inventory edit, as data: no host needed ---------------------------------------------------

COMMENTED = """\
# rack A
all:
    vars:
        ansible_user: ops      # odd spacing kept
        empty: null
    children:
        gpu:
            hosts:
                gpu01: {ansible_host: 10.0.0.1}   # first
                # gpu02 is in repair
            vars:
                note: ~
"""


def test_inventory_entry_is_inserted_and_every_other_byte_kept():
    entry = "                gpu03:\n                    ansible_host: 10.0.0.3\n"
    text, changed = add_host_text(COMMENTED, "gpu", "gpu03", {"ansible_host": "10.0.0.3"})
    assert changed and "# first\n" + entry + "                # gpu02 is in repair\n" in text
    assert text.replace(entry, "") == COMMENTED


def test_inventory_host_already_there_is_not_duplicated():
    text, changed = add_host_text(COMMENTED, "gpu", "gpu01", {"ansible_host": "10.0.0.1"})
    assert (text, changed) == (COMMENTED, False)


def test_inventory_missing_group_is_made_under_all_with_comments_kept():
    text, changed = add_host_text(COMMENTED, "h200", "gpu09", {"ansible_host": "10.0.0.9", "ansible_port": 2222})
    assert changed and "# gpu02 is in repair" in text and "# odd spacing kept" in text
    data = yaml.safe_load(text)
    assert data["all"]["children"]["h200"]["hosts"] == {"gpu09": {"ansible_host": "10.0.0.9", "ansible_port": 2222}}
    assert data["all"]["children"]["gpu"]["hosts"] == {"gpu01": {"ansible_host": "10.0.0.1"}}
    assert guess_indent(COMMENTED) == (4, 0)


# ---- host key trust, as data ------------------------------------------------------------------------

def _target(tmp_path) -> Target:
    return Target("gpu09", "10.0.0.9", 22, "root", None, str(tmp_path / "known_hosts"))


def test_unknown_host_key_needs_a_yes_and_a_changed_one_is_always_refused(tmp_path):
    target, key, other = _target(tmp_path), paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)
    questions = []
    with pytest.raises(HostKeyRejected, match="not accepted"):
        trust_host_key(target, key, None, lambda question: questions.append(question) or False)
    assert fingerprint(key) in questions[0]
    assert trust_host_key(target, key, None, lambda question: True) is True, "to be recorded"
    record_host_key(target, key)
    assert trust_host_key(target, key, None, None) is False, "known: nothing to ask or record"
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        trust_host_key(target, other, fingerprint(other), lambda question: True)
    with pytest.raises(HostKeyRejected, match="not the expected"):
        trust_host_key(target, key, fingerprint(other), None)


def test_a_history_that_cannot_be_opened_stops_onboarding_before_anything(tmp_path):
    """The --state-db is opened first: nothing is trusted, written or contacted when it fails
    (the address is one nothing answers on, so reaching it would say so instead)."""
    inventory = tmp_path / "lab.yaml"
    inventory.write_text("all:\n  children:\n    gpu:\n      hosts: {}\n")
    before = inventory.read_bytes()
    run = subprocess.run([PROVISION, "onboard", "gpu09", "-i", str(inventory), "-g", "gpu", "--address", "10.255.255.1",
                          "--host-key-fingerprint", "SHA256:" + "A" * 43, "--state-db",
                          "postgresql://nobody@127.0.0.1:1/history"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 1 and run.stderr.startswith("error: cannot open the history database"), run.stderr
    assert "10.255.255.1" not in run.stdout + run.stderr and "Traceback" not in run.stderr
    assert inventory.read_bytes() == before and not (tmp_path / "known_hosts").exists()
